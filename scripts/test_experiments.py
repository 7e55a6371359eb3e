"""The benchmark grids (seeds, ablations, cross-validation): resuming, summaries,
failures that name their run."""

import json
from pathlib import Path

import pytest

import experiments
from experiments import (
    METRICS,
    dev_curve,
    markdown_table,
    override_args,
    run_grid,
    summarize,
    train_and_evaluate,
    write_summary,
)


@pytest.fixture
def fake_training(monkeypatch):
    """Replace the 25-minute ``spacy train`` + evaluate by a record of the calls; F1
    depends on seed and layers."""
    calls = []

    def fake(config, train, dev, test, output, overrides, use="model-best", gpu_id=-1):
        calls.append(
            (
                Path(output).name,
                overrides["system.seed"],
                overrides["training.max_steps"],
            )
        )
        value = (
            0.5
            + 0.01 * overrides["system.seed"]
            + 0.1 * overrides["components.stsn.model.n_layers"]
        )
        return {"scores": {m: value for m in METRICS}, "sents_per_sec": 1.0}

    monkeypatch.setattr(experiments, "train_and_evaluate", fake)
    return calls


VARIANTS = {
    "stsn": {"components.stsn.model.n_layers": 3},
    "baseline": {"components.stsn.model.n_layers": 0},
}


def grid(tmp_path, steps=100, seeds=(0, 1), only=None):
    return run_grid(
        Path("cfg"),
        Path("corpus"),
        VARIANTS,
        seeds,
        steps,
        "enc",
        tmp_path / "runs",
        only=only,
    )


def test_grid_resumes_finished_runs_and_reruns_changed_ones(tmp_path, fake_training):
    first = grid(tmp_path, only=["stsn"])
    assert fake_training == [("0_seed0", 0, 100), ("0_seed1", 1, 100)]
    record = json.loads((tmp_path / "runs" / "0_seed1.result.json").read_text())
    assert record["overrides"]["components.stsn.model.n_layers"] == 3
    # the second process (or a rerun after an interruption) trains only what is missing
    both = grid(tmp_path)
    assert fake_training[2:] == [("1_seed0", 0, 100), ("1_seed1", 1, 100)]
    assert both["stsn"] == first["stsn"]
    assert both["stsn"][1]["ents_f"] == pytest.approx(100 * (0.5 + 0.01 + 0.3))
    grid(tmp_path)
    assert len(fake_training) == 4
    # another budget is another run, even in the same folder
    grid(tmp_path, steps=200, seeds=(0,), only=["baseline"])
    assert fake_training[4:] == [("1_seed0", 0, 200)]


def test_finished_only_reports_a_partial_grid_without_training(tmp_path, fake_training):
    grid(tmp_path, seeds=(0,), only=["stsn"])
    partial = run_grid(
        Path("cfg"),
        Path("corpus"),
        VARIANTS,
        (0, 1),
        100,
        "enc",
        tmp_path / "runs",
        finished_only=True,
    )
    assert len(fake_training) == 1
    assert list(partial) == ["stsn"] and [run["seed"] for run in partial["stsn"]] == [0]
    assert summarize(partial)["stsn"]["ents_f"]["n"] == 1


def test_summary_is_mean_and_sample_std_over_seeds():
    rows = {
        "a": [{m: 60.0 for m in METRICS}, {m: 64.0 for m in METRICS}],
        "b": [{m: 50.0 for m in METRICS}],
    }
    summary = summarize(rows)
    assert summary["a"]["rel_strict_f"] == {
        "mean": 62.0,
        "std": pytest.approx(2**1.5),
        "n": 2,
    }
    assert summary["b"]["ents_f"] == {"mean": 50.0, "std": None, "n": 1}
    table = markdown_table(summary, "title")
    assert "| a | 2 | 62.0 ± 2.8 |" in table and "| b | 1 | 50.0 | " in table


def test_failed_training_names_its_run_and_log(tmp_path):
    output = tmp_path / "runs" / "0_seed0"
    with pytest.raises(RuntimeError, match=r"0_seed0 failed; see .*0_seed0\.log"):
        train_and_evaluate(
            tmp_path / "missing.cfg",
            tmp_path / "t.spacy",
            tmp_path / "d.spacy",
            tmp_path / "x.spacy",
            output,
            {"system.seed": 0},
        )
    assert (tmp_path / "runs" / "0_seed0.log").read_text()


# the head of a real ``spacy train`` log (colours included), cut to three evaluations
SPACY_TRAIN_LOG = (
    "\x1b[38;5;4m\u2139 Pipeline: ['transformer', 'stsn']\x1b[0m\n"
    "E    #       LOSS TRANS...  LOSS STSN  ENTS_F  REL_STRICT_F  ENTS_P  ENTS_R  REL_F   REL_STRICT_P  "
    "REL_STRICT_R  SCORE \n"
    "---  ------  -------------  ---------  ------  ------------  ------  ------  ------  ------------  "
    "------------  ------\n"
    "  0       0           0.02       5.47    0.58          0.00    0.30   15.79    0.00          0.00          0.87    0.00\n"
    "  1     250           0.74     324.23   46.71          7.53   37.62   61.59    7.85          4.24         33.53    0.27\n"
    "  2     500           0.74      69.47   62.30         28.44   57.34   68.20   28.67         23.69         35.57    0.45\n"
    "\x1b[38;5;2m\u2714 Saved pipeline to output directory\x1b[0m\n"
)


def test_dev_curve_is_read_from_the_training_log_and_tabulated(tmp_path, fake_training):
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "0_seed0.log").write_text(SPACY_TRAIN_LOG)
    assert dev_curve(tmp_path / "runs" / "0_seed0.log") == [
        {"step": 0, "ents_f": 0.58, "rel_strict_f": 0.0},
        {"step": 250, "ents_f": 46.71, "rel_strict_f": 7.53},
        {"step": 500, "ents_f": 62.30, "rel_strict_f": 28.44},
    ]
    assert dev_curve(tmp_path / "runs" / "missing.log") == []
    rows = grid(tmp_path, seeds=(0,))
    assert [point["step"] for point in rows["stsn"][0]["dev_curve"]] == [0, 250, 500]
    assert rows["baseline"][0]["dev_curve"] == []  # the fake run wrote no log
    table = write_summary(tmp_path / "out", "grid", rows, "title", {})
    assert (
        "| run | 250 | 500 |" in table
        and "| stsn (seed 0) | 46.7 / 7.5 | 62.3 / 28.4 |" in table
    )
    assert "baseline (seed 0)" not in table
    saved = json.loads((tmp_path / "out" / "grid.json").read_text())
    assert saved["runs"]["stsn"][0]["dev_curve"][2]["rel_strict_f"] == 28.44


def test_overrides_reach_the_config_as_their_values():
    """Booleans, None and lists arrive as themselves, not as the strings "True"..."""
    from spacy.cli._util import parse_config_overrides

    overrides = {
        "components.stsn.model.tok2vec.features": True,
        "components.stsn.model.hidden_width": None,
        "components.stsn.model.n_layers": 3,
        "training.optimizer.learn_rate.warmup_steps": 20,
        "components.stsn.threshold": 0.45,
        "components.stsn.model.tok2vec.attrs": ["NORM", "SHAPE"],
        "paths.encoder": "all-MiniLM-L6-v2",
        "components.stsn.model.interaction": "ner_to_re",
    }
    assert parse_config_overrides(override_args(overrides)) == overrides
