"""Every benchmark script runs once on the tiny pipeline (``--smoke``), so a script that
no longer runs fails CI; and a failed measurement leaves committed results alone."""

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Dict, Tuple

import pytest

from harness import RESULTS
from smoke_kit import run_smoke

HERE = Path(__file__).resolve().parent
# a script is a module run as one: every such file in benchmarks/, found here by glob,
# so a new script is smoke-tested (and fails here until it takes --smoke)
MAIN = re.compile(r"^if __name__ == .__main__.:", re.MULTILINE)
SCRIPTS = sorted(p for p in HERE.glob("*.py") if MAIN.search(p.read_text()))


def snapshot(folder: Path) -> Dict[str, Tuple[int, int]]:
    return {str(p): (p.stat().st_mtime_ns, p.stat().st_size) for p in folder.rglob("*")}


@pytest.mark.parametrize("script", SCRIPTS, ids=[p.stem for p in SCRIPTS])
def test_benchmark_script_runs_on_the_tiny_pipeline(script, smoke_kit, tmp_path):
    committed = snapshot(RESULTS)
    output = tmp_path / f"{script.stem}.json"
    code, log = run_smoke(script, output, smoke_kit)
    assert code == 0, log[-6000:]
    assert output.exists(), log[-3000:]
    if output.suffix == ".json" and output.is_file():
        assert "failures" not in json.loads(output.read_text())
    assert snapshot(RESULTS) == committed


FAILING = """
from harness import Benchmark

def crash(job):
    raise RuntimeError("broken " + job["what"])

def slow(job):
    import time
    time.sleep(60)

def ok(job):
    return {"value": 42}

bench = Benchmark("doc", __file__, {"crash": crash, "slow": slow, "ok": ok})
args = bench.parse()
kinds = ("crash", "slow", "ok")
runs = [bench.run(bench.job(kind, what="on purpose"), kind) for kind in kinds]
bench.finish({"runs": runs}, "table")
"""


def test_a_failed_worker_exits_nonzero_and_keeps_the_committed_results(tmp_path):
    script = tmp_path / "failing.py"
    script.write_text(textwrap.dedent(FAILING))
    output = tmp_path / "results" / "failing.json"
    output.parent.mkdir()
    output.write_text('{"committed": true}')
    path = os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "PYTHONPATH": path}
    proc = subprocess.run(
        [sys.executable, str(script), "--output", str(output), "--max-wait", "0"]
        + ["--retries", "0", "--timeout", "5"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 1, proc.stderr
    assert output.read_text() == '{"committed": true}'
    assert not output.with_suffix(".md").exists()
    assert "RuntimeError: broken on purpose" in proc.stderr
    assert "timed out after 5" in proc.stderr
    kept = Path(proc.stderr.strip().rsplit("this run's results: ", 1)[1])
    runs = json.loads(kept.read_text())["runs"]
    assert [r.get("value") for r in runs] == [None, None, 42]
