"""spacy_stsn.ProgressLogger.v1: the dev curve (curve.jsonl, curve.png) written at each
evaluation of spaCy's own training loop, around the console table or another logger."""

import io
import sys

import pytest
import spacy
from spacy.util import registry

from spacy_stsn.training.curve import read_curve, redraw
from spacy_stsn.training.loggers import progress_logger_v1
from stsn_dev.pipelines import CNN_TOK2VEC, train_pipeline

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@registry.loggers("test.CurveProbe.v1")
def curve_probe():
    """A logger that, at each evaluation, counts the lines curve.jsonl has by then."""

    def setup(nlp, stdout=sys.stdout, stderr=sys.stderr):
        def log_step(info):
            if info is not None:
                curve = info["output_path"].rsplit("/", 1)[0] + "/curve.jsonl"
                seen.append(len(open(curve, encoding="utf8").read().splitlines()))

        return log_step, lambda: seen.append("finalized")

    seen = curve_probe.seen = []
    return setup


CHAINED = """
[training.logger]
@loggers = "spacy.ChainLogger.v1"

[training.logger.logger1]
@loggers = "spacy_stsn.ProgressLogger.v1"

[training.logger.logger2]
@loggers = "test.CurveProbe.v1"
"""


def test_training_draws_the_curve_at_each_evaluation(tmp_path, conll04_records):
    stdout = io.StringIO()
    model, _ = train_pipeline(
        tmp_path,
        conll04_records[:8],
        CNN_TOK2VEC,
        steps=4,
        learn_rate=0.001,
        extra=CHAINED,
        overrides={"training.eval_frequency": 2},
        stdout=stdout,
    )
    output = model.parent
    records = read_curve(output)
    assert [r["step"] for r in records] == [0, 2, 4]
    # written as training goes: the logger after it in the chain saw each line arrive
    assert curve_probe.seen == [1, 2, 3, "finalized"]
    for record in records:
        assert {"step", "epoch", "words", "seconds", "score"} <= set(record)
        for key in ("ents_f", "rel_f", "rel_strict_f", "ents_macro_f", "rel_macro_f"):
            assert 0.0 <= record["scores"][key] <= 1.0
        assert "ents_per_type" not in record["scores"]
        assert record["losses"]["stsn"] > 0
    # losses are spaCy's sums since the previous evaluation: 1 step, then 2 each
    assert records[1]["losses_per_step"]["stsn"] == records[1]["losses"]["stsn"] / 2
    png = (output / "curve.png").read_bytes()
    assert png.startswith(PNG_MAGIC)
    image = pytest.importorskip("matplotlib.image").imread(output / "curve.png")
    assert image.shape[:2] == (700, 1000)
    assert not list(output.glob("*.partial"))  # drawn aside, then renamed
    # the wrapped console table is still there, and the picture is named at the end
    text = " ".join(stdout.getvalue().split())  # wasabi wraps long lines
    assert "LOSS STSN" in text and "ENTS_F" in text
    assert f"Dev curve: {output / 'curve.png'}" in text
    assert redraw(output).startswith(f"dev curve: {output / 'curve.png'} (3 ")


def evaluation(step, output_path=None):
    """The info dict spaCy's loop hands its logger at an evaluation."""
    info = {
        "epoch": 0,
        "step": step,
        "score": 0.5,
        "other_scores": {"ents_f": 0.6, "rel_f": 0.4, "rel_strict_f": 0.4},
        "losses": {"stsn": 10.0},
        "checkpoints": [(0.5, step)],
        "seconds": 1,
        "words": 10 * (step + 1),
    }
    if output_path is not None:
        info["output_path"] = str(output_path / "model-last")
    return info


def quiet_logger(nlp, stdout, stderr):
    return (lambda info: None), (lambda: None)


def run_logger(logger, steps, output_path=None):
    stdout = io.StringIO()
    log_step, finalize = logger(spacy.blank("en"), stdout, stdout)
    for step in steps:
        log_step(None)
        log_step(evaluation(step, output_path))
    finalize()
    return " ".join(stdout.getvalue().split())


def test_without_matplotlib_the_jsonl_is_written_and_one_warning_given(
    tmp_path, monkeypatch
):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import raises ImportError
    text = run_logger(progress_logger_v1(quiet_logger), [0, 5, 10], tmp_path)
    assert [r["step"] for r in read_curve(tmp_path)] == [0, 5, 10]
    assert not (tmp_path / "curve.png").exists()
    assert text.count("curve.png needs matplotlib") == 1
    assert f"Dev curve: {tmp_path / 'curve.jsonl'}" in text
    assert "needs matplotlib" in redraw(tmp_path)


def test_without_an_output_path_nothing_is_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    text = run_logger(progress_logger_v1(quiet_logger), [0, 5])
    assert list(tmp_path.iterdir()) == []
    assert "No dev curve written" in text
    # output_dir names the place when spaCy's loop has none
    run_logger(progress_logger_v1(quiet_logger, tmp_path / "curve"), [0, 5])
    assert len(read_curve(tmp_path / "curve")) == 2


def test_a_new_run_starts_a_new_curve(tmp_path):
    run_logger(progress_logger_v1(quiet_logger), [0, 5, 10], tmp_path)
    run_logger(progress_logger_v1(quiet_logger), [0, 5], tmp_path)
    records = read_curve(tmp_path)
    assert [r["step"] for r in records] == [0, 5]
    assert records[1]["losses_per_step"] == {"stsn": 2.0}  # 10 over 5 steps


def test_registered_for_spacy_configs():
    assert registry.loggers.get("spacy_stsn.ProgressLogger.v1") is progress_logger_v1
