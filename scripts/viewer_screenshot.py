"""Take docs/viewer.png: the results viewer's grid on a small real eval.

A temporary git project holds this repository's ``sst2-sentiment`` prompt and the first 8 positive
and 8 negative cases of its suite; two models on the project's fake OpenAI-compatible server score
it (``fake/keywords`` answers by a few sentiment words, ``fake/echo`` repeats the review), once for
v1 and once for v2 of the prompt (v2 asks for one word, which the keyword model takes as a cue to read
three more words as positive: two cases fixed, one broken); the viewer serves the comparison of the two runs and headless chromium shoots it.

    PYTHONPATH=$PWD python scripts/viewer_screenshot.py [--out docs/viewer.png]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from promptops.config import load_config
from promptops.eval.evaluate import evaluate
from promptops.project import Project
from promptops.server.testing import free_port, running
from promptops.server.viewer import create_viewer_app
from promptops.testing.fake_openai import FakeOpenAI
from promptops.testing.project import git

REPO = Path(__file__).resolve().parent.parent
POSITIVE = r"(?i)\b(elegance|outstanding|terrific|intriguing|amusing|fun)\b"
ONE_WORD = r"(?is)one word.*\b(significant|affection|funny)\b"  # v2's cue: two fixed, one broken
RULES = {"keywords": [(ONE_WORD, "positive"), (POSITIVE, "positive"), (r".", "negative")]}


def build(root: Path, base_url: str) -> tuple[Project, int, int]:
    prompt = (REPO / "prompts" / "sst2-sentiment.prompt").read_text()
    prompt = prompt.replace("models: [local/smollm2]", "models: [fake/keywords, fake/echo]")
    (root / "prompts").mkdir()
    (root / "prompts" / "sst2-sentiment.prompt").write_text(prompt)
    lines = (REPO / "datasets" / "sst2-sentiment" / "cases.jsonl").read_text().splitlines()
    chosen = [line for line in lines if json.loads(line)["id"].split("-")[1] < "08"]
    (root / "datasets" / "sst2-sentiment").mkdir(parents=True)
    (root / "datasets" / "sst2-sentiment" / "cases.jsonl").write_text("\n".join(chosen) + "\n")
    models = {m: {"model": f"openai/{m.split('/')[1]}", "api_base": base_url, "params": {"api_key": "not-a-secret"}}
              for m in ("fake/keywords", "fake/echo")}
    (root / "promptops.yaml").write_text(json.dumps({"models": models, "default_model": "fake/keywords"}))
    (root / ".gitignore").write_text(".promptops/\n")
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.email", "t@example.com")
    git(root, "config", "user.name", "Tester")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "sst2-sentiment v1")
    config = load_config(root)
    project = Project(config)
    base = evaluate(project, ["sst2-sentiment"]).summaries[0].run_id
    path = root / "prompts" / "sst2-sentiment.prompt"
    path.write_text(path.read_text().replace("Is this review positive or negative?",
                                             "Is this review positive or negative? Answer in one word."))
    git(root, "commit", "-qam", "sst2-sentiment v2: ask for one word")
    head = evaluate(project, ["sst2-sentiment"]).summaries[0].run_id
    return project, base, head


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(REPO / "docs" / "viewer.png"))
    parser.add_argument("--chromium", default=os.environ.get("PROMPTOPS_CHROMIUM", "/usr/bin/chromium"))
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp, FakeOpenAI(rules=RULES) as fake:
        project, base, head = build(Path(tmp), fake.base_url)
        port, token = free_port(), secrets.token_urlsafe(16)
        app = create_viewer_app(project, host="127.0.0.1", port=port, token=token)
        with running(app, port=port) as url, sync_playwright() as p:
            browser = p.chromium.launch(executable_path=args.chromium, args=["--headless", "--no-sandbox"])
            page = browser.new_page(viewport={"width": 1360, "height": 1180}, device_scale_factor=1)
            page.goto(f"{url}/evals/{head}?base={base}&token={token}")
            page.screenshot(path=args.out)  # the first screen: summary, comparison, changed cases
            browser.close()
        project.close()
    print(f"wrote {args.out} (run {head} compared with run {base})")


if __name__ == "__main__":
    main()
