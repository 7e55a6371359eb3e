"""Every benchmark script runs once on the tiny pipeline (``--smoke``), so a script that
no longer runs fails CI; and a failed measurement leaves committed results alone."""

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, Dict, Tuple

import pytest
from harness import RESULTS

from stsn_dev.smoke_kit import SmokeKit, run_smoke

HERE = Path(__file__).resolve().parent
# a script is a module run as one: every such file in benchmarks/, found here by glob,
# so a new script is smoke-tested (and fails here until it takes --smoke)
MAIN = re.compile(r"^if __name__ == .__main__.:", re.MULTILINE)
SCRIPTS = sorted(p for p in HERE.glob("*.py") if MAIN.search(p.read_text()))


@pytest.fixture(scope="session")
def smoke_kit(tmp_path_factory) -> SmokeKit:
    """:class:`smoke_kit.SmokeKit` in a session folder (a fixture here, not in a
    benchmarks/conftest.py: tests/ imports its own as ``conftest``)."""
    try:
        return SmokeKit.build(tmp_path_factory.mktemp("smoke-kit"))
    except FileNotFoundError as err:
        pytest.skip(str(err))


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


def test_int8_quantises_the_linear_layers_that_inference_calls(smoke_kit) -> None:
    import spacy
    import torch
    from measure import corpus_words, make_docs
    from speed_inference import load
    from torch.ao.nn.quantized.dynamic import Linear as Int8Linear

    words = corpus_words(smoke_kit.test)
    float32 = spacy.load(smoke_kit.model)
    int8 = load(str(smoke_kit.model), "int8", words[:2])
    counts = int8.meta["int8_linear_layers"]
    encoder = next(v for k, v in counts.items() if k.startswith("transformer/"))
    head = next(v for k, v in counts.items() if k.startswith("stsn/"))
    hf_model = float32.get_pipe("transformer").model.layers[0].shims[0]._model
    n_linear = sum(isinstance(m, torch.nn.Linear) for m in hf_model.modules())
    assert encoder == {"int8": n_linear, "float32": 0}
    # the head's factored decoders read their weights directly: they stay float32
    assert head["int8"] > 0 and head["float32"] > 0
    quantised = int8.get_pipe("transformer").model.layers[0].shims[0]._model
    assert sum(isinstance(m, Int8Linear) for m in quantised.modules()) == n_linear

    def entities(nlp):
        docs = nlp.pipe(make_docs(nlp.vocab, words))
        return {
            (i, s.start, s.end, s.label_) for i, d in enumerate(docs) for s in d.ents
        }

    expected, found = entities(float32), entities(int8)
    assert expected and len(expected & found) / len(expected | found) >= 0.9


def test_averaging_benchmark_saves_what_the_seed_trains_without_averages(
    smoke_kit, tmp_path
) -> None:
    """``averaging.py`` compares the averaged weights with "the last weights" of the
    same run: those must be what the same seed saves with ``use_averages = false``, and
    spaCy's ``model-last`` of the run must be something else (the averages)."""
    import averaging
    import numpy
    import spacy

    from stsn_dev.experiments import override_args, schedule_overrides

    overrides = {
        **schedule_overrides(3, str(smoke_kit.encoder), 0),
        "paths.train": str(smoke_kit.train),
        "paths.dev": str(smoke_kit.corpus / "dev.spacy"),
    }
    config = Path(averaging.REPO) / "configs" / "conll04.cfg"
    runs = {}
    for averages in (True, False):
        out = tmp_path / str(averages)
        args = [str(config), str(out)]
        setting = {**overrides, "training.optimizer.use_averages": averages}
        if averages:
            cmd = [averaging.__file__, averaging.TRAIN_FLAG, *args, json.dumps(setting)]
            cmd.append("-1")
        else:
            cmd = ["-m", "spacy", "train", args[0], "--output", args[1]]
            cmd += override_args(setting)
        done = subprocess.run([sys.executable, *cmd], capture_output=True, text=True)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        runs[averages] = out

    def weights(folder: Path) -> Dict[str, Dict[str, Any]]:
        """Every pipe's parameters, torch ones inside shims included (a transformer's
        bytes differ between saves of the same weights)."""
        nlp = spacy.load(folder)
        found: Dict[str, Dict[str, Any]] = {}
        for name in nlp.pipe_names:
            found[name] = {}
            for i, node in enumerate(nlp.get_pipe(name).model.walk()):
                for key in node.param_names:
                    if node.has_param(key):
                        found[name][f"{i}.{key}"] = node.get_param(key)
                for j, shim in enumerate(node.shims):
                    for key, value in shim._model.state_dict().items():
                        found[name][f"{i}.{j}.{key}"] = value.numpy()
        return found

    def same(a: Dict[str, Any], b: Dict[str, Any]) -> bool:
        return a.keys() == b.keys() and all(numpy.array_equal(a[k], b[k]) for k in a)

    plain = weights(runs[False] / "model-last")
    last = weights(runs[True] / averaging.SIDES["last weights"])
    averaged = weights(runs[True] / "model-last")
    for name in ("transformer", "stsn"):
        assert len(plain[name]) > 4 and same(last[name], plain[name]), name
        assert not same(averaged[name], plain[name]), name
