"""Write a snips training file for `promptops optimize` from /work/shared/data/snips (train splits),
N per intent, leaving out the texts of the regression suite datasets/snips-intent.

    python bench/snips_train.py 12 > /tmp/snips-train.jsonl
"""

import json
import random
import sys
from pathlib import Path

N = int(sys.argv[1]) if len(sys.argv) > 1 else 12
ROOT = Path("/work/shared/data/snips")
suite = {json.loads(line)["vars"]["text"].strip().casefold()
         for line in Path("datasets/snips-intent/cases.jsonl").read_text().splitlines() if line.strip()}
rng = random.Random(0)
for intent_dir in sorted(p for p in ROOT.iterdir() if p.is_dir()):
    intent = intent_dir.name
    data = json.loads((intent_dir / f"train_{intent}.json").read_text(encoding="latin-1"))[intent]
    texts = ["".join(part["text"] for part in row["data"]).strip() for row in data]
    texts = [t for t in texts if t.casefold() not in suite]
    for text in rng.sample(texts, N):
        print(json.dumps({"vars": {"text": text}, "expected": intent}))
