"""Build this repository's regression suites from ../shared/data (run once; output is committed).

    python scripts/build_datasets.py [--data ../shared/data]

snips-intent: 20 held-out utterances per intent from snips' validate files (140 cases), and a
traffic pool of 50 per intent from the train files (what the demo sends through the server).
sst2-sentiment: 120 sentences from the SST-2 test split, 60 per label.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

INTENTS = ["AddToPlaylist", "BookRestaurant", "GetWeather", "PlayMusic", "RateBook",
           "SearchCreativeWork", "SearchScreeningEvent"]


def snips(data: Path, split: str, intent: str) -> list[str]:
    raw = json.loads((data / "snips" / intent / f"{split}_{intent}.json").read_text(encoding="utf-8", errors="replace"))
    return [" ".join("".join(c["text"] for c in row["data"]).split()) for row in raw[intent]]


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default="../shared/data")
    parser.add_argument("--out", default="datasets")
    args = parser.parse_args()
    data, out = Path(args.data), Path(args.out)
    rng = random.Random(7)

    suite, traffic = [], []
    for intent in INTENTS:
        held = snips(data, "validate", intent)
        rng.shuffle(held)
        for i, text in enumerate(held[:20]):
            suite.append({"id": f"{intent}-{i:02d}", "vars": {"text": text}, "expected": intent, "tags": [intent]})
        train = snips(data, "train", intent)
        rng.shuffle(train)
        traffic.extend({"vars": {"text": t}, "label": intent} for t in train[:50])
    rng.shuffle(traffic)
    write_jsonl(out / "snips-intent" / "cases.jsonl", suite)
    write_jsonl(out / "traffic" / "snips-intent.jsonl", traffic)

    rows = [line.split(" ", 1) for line in (data / "sst2" / "stsa.binary.test").read_text(encoding="utf-8").splitlines()]
    by_label = {"0": [], "1": []}
    for label, sentence in rows:
        by_label[label].append(sentence.strip())
    cases = []
    for label, name in (("1", "positive"), ("0", "negative")):
        picked = rng.sample(by_label[label], 60)
        cases.extend({"id": f"{name}-{i:02d}", "vars": {"sentence": s}, "expected": name, "tags": [name]}
                     for i, s in enumerate(picked))
    write_jsonl(out / "sst2-sentiment" / "cases.jsonl", cases)
    print(f"snips-intent: {len(suite)} cases, traffic pool {len(traffic)}; sst2-sentiment: {len(cases)} cases")


if __name__ == "__main__":
    main()
