"""The benchmark grids (seeds, ablations, cross-validation): resuming, summaries,
failures that name their run."""

import json
from pathlib import Path

import pytest

from stsn_dev import experiments
from stsn_dev.experiments import (
    dev_curve,
    override_args,
    parse_overrides,
    run_grid,
    split_dev,
    train_and_evaluate,
)
from stsn_dev.summaries import METRICS, markdown_table, summarize, write_summary


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


def test_grid_resumes_finished_runs_and_refuses_changed_ones(tmp_path, fake_training):
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
    # another budget in the same folder is refused, not trained over
    with pytest.raises(FileExistsError, match=r"training\.max_steps: 100 there, 200 "):
        grid(tmp_path, steps=200, seeds=(0,), only=["baseline"])
    assert len(fake_training) == 4
    assert grid(tmp_path)["baseline"] == both["baseline"]


def test_a_finished_run_with_other_settings_is_refused_not_trained_over(
    tmp_path, fake_training
):
    """A seed that finished with other overrides (another ``--set``, budget or
    encoder in the same ``--runs``) is refused, naming what differs, also when only
    summarising, and its record is kept; the same overrides reuse it."""
    output = tmp_path / "0_seed0"
    mine = {"system.seed": 0, "training.max_steps": 10, "training.batcher.size": 2}
    experiments.record_result(output, mine, {"ents_f": 0.5})
    record = output.with_suffix(".result.json")
    before = record.read_text()
    paths = (tmp_path / "cfg", tmp_path / "tr", tmp_path / "dev", tmp_path / "test")
    assert experiments.run_once(*paths, output, dict(mine)) == {"ents_f": 0.5}
    other = {**mine, "training.batcher.size": 4, "paths.x": "y"}
    for finished_only in (False, True):
        with pytest.raises(FileExistsError) as error:
            experiments.run_once(*paths, output, other, finished_only=finished_only)
        message = str(error.value)
        assert str(output) in message and "max_steps" not in message
        assert "training.batcher.size: 2 there, 4 here" in message
        assert "paths.x: '(unset)' there, 'y' here" in message
    assert fake_training == [] and record.read_text() == before


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


def _corpus(path, n):
    """``n`` one-sentence documents, each with an entity, a relation in
    ``doc._.relations`` and an ``orig_id``."""
    import spacy
    from spacy.tokens import DocBin, Span

    from spacy_stsn.pipeline.annotations import register_extensions

    register_extensions()
    nlp = spacy.blank("en")
    docs = []
    for i in range(n):
        doc = nlp(f"Person{i} lives in Town{i} .")
        doc.ents = [Span(doc, 0, 1, "Peop"), Span(doc, 3, 4, "Loc")]
        doc._.relations = [
            {
                "head": [0, 1],
                "head_label": "Peop",
                "tail": [3, 4],
                "tail_label": "Loc",
                "label": "Live_In",
            }
        ]
        doc.user_data["orig_id"] = i
        docs.append(doc)
    DocBin(docs=docs, store_user_data=True).to_disk(path)
    return nlp


def _read(path, nlp):
    from spacy.tokens import DocBin

    return list(DocBin().from_disk(path).get_docs(nlp.vocab))


def test_split_dev_is_a_fixed_disjoint_cut_that_keeps_the_annotations(tmp_path):
    train = tmp_path / "fold_0_train.spacy"
    nlp = _corpus(train, 20)
    before = train.read_bytes()
    rest, dev = split_dev(train, 0.25)
    assert (rest.name, dev.name) == (
        "fold_0_train_rest25.spacy",
        "fold_0_train_dev25.spacy",
    )
    rest_docs, dev_docs = _read(rest, nlp), _read(dev, nlp)
    rest_ids = [d.user_data["orig_id"] for d in rest_docs]
    dev_ids = [d.user_data["orig_id"] for d in dev_docs]
    assert len(dev_ids) == 5 and sorted(rest_ids + dev_ids) == list(range(20))
    doc = dev_docs[0]
    i = doc.user_data["orig_id"]
    assert doc.text == f"Person{i} lives in Town{i} ."
    assert [(e.text, e.label_) for e in doc.ents] == [
        (f"Person{i}", "Peop"),
        (f"Town{i}", "Loc"),
    ]
    assert [r["label"] for r in doc._.relations] == ["Live_In"]
    # the input is only read, and the cut is the same on every call (every run of a
    # comparison is scored on the same documents), another with another seed
    assert train.read_bytes() == before
    split_dev(train, 0.25)
    assert [d.user_data["orig_id"] for d in _read(dev, nlp)] == dev_ids
    split_dev(train, 0.25, seed=1)
    assert [d.user_data["orig_id"] for d in _read(dev, nlp)] != dev_ids
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_split_dev_never_overwrites_a_file_that_is_not_its_cut(tmp_path):
    train = tmp_path / "fold_0_train.spacy"
    nlp = _corpus(train, 20)
    rest, dev = split_dev(train, 0.25)
    stamp = dev.stat().st_mtime_ns
    split_dev(train, 0.25)  # the same cut already there: kept as it is
    assert dev.stat().st_mtime_ns == stamp
    # a file of the same name that is not a cut of the train file is the user's
    from spacy.tokens import DocBin

    DocBin(docs=[nlp("Somebody else's corpus .")]).to_disk(dev)
    foreign = dev.read_bytes()
    with pytest.raises(ValueError, match="fold_0_train_dev25.spacy exists"):
        split_dev(train, 0.25)
    assert dev.read_bytes() == foreign
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    # a foreign rest file is refused before the dev file is written
    dev.unlink()
    rest.write_bytes(foreign)
    with pytest.raises(ValueError, match="fold_0_train_rest25.spacy exists"):
        split_dev(train, 0.25)
    assert not dev.exists() and rest.read_bytes() == foreign


@pytest.mark.parametrize("fraction", [0.0, 1.0, 0.01])
def test_split_dev_refuses_a_cut_that_leaves_a_side_empty(tmp_path, fraction):
    train = tmp_path / "train.spacy"
    _corpus(train, 4)
    with pytest.raises(ValueError, match="dev"):
        split_dev(train, fraction)


def test_set_overrides_read_numbers_and_booleans_as_json():
    assert parse_overrides(
        [("a.rate", "0.0001"), ("b.flag", "true"), ("c.name", "all-MiniLM-L6-v2")]
    ) == {"a.rate": 0.0001, "b.flag": True, "c.name": "all-MiniLM-L6-v2"}


def _cv_ade(monkeypatch, tmp_path, *options, parts=("train", "test")):
    """Run ``cv_ade.py`` with ``options`` over fold 0 (its ``parts`` only), ``run_once``
    replaced by a record of its arguments."""
    import cv_ade

    corpus = tmp_path / "ade"
    corpus.mkdir(exist_ok=True)
    for part in parts:
        _corpus(corpus / f"fold_0_{part}.spacy", 10)
    calls = []

    def fake(config, train, dev, test, output, overrides, **kwargs):
        calls.append(
            {"train": train, "dev": dev, "test": test, "output": output, **overrides}
        )
        return {"scores": {m: 0.5 for m in METRICS}, "sents_per_sec": 1.0}

    monkeypatch.setattr(cv_ade, "run_once", fake)
    monkeypatch.chdir(tmp_path)
    argv = ["cv_ade.py", str(corpus), "cfg", str(tmp_path / "out"), "--folds", "1"]
    monkeypatch.setattr("sys.argv", argv + ["--n-layers", "3", *options])
    cv_ade.main()
    return corpus, calls


def test_cv_ade_dev_fraction_trains_on_the_rest_and_never_reads_the_test_fold(
    monkeypatch, tmp_path
):
    lr = "training.optimizer.learn_rate.initial_rate"
    # no test fold on disk: choosing a setting cannot touch it
    corpus, calls = _cv_ade(
        monkeypatch, tmp_path, "--dev-fraction", "0.2", "--seed", "2",
        "--set", lr, "0.0001", "--tag", "lr1e4", parts=("train",),
    )  # fmt: skip
    [call] = calls
    assert call["train"] == corpus / "fold_0_train_rest20.spacy"
    assert call["dev"] == call["test"] == corpus / "fold_0_train_dev20.spacy"
    assert call[lr] == 0.0001 and call["system.seed"] == 2
    assert call["output"].name == "layers3_lr1e4_dev20_fold0_seed2"
    # without the option, the paper's protocol: the whole train file, the test fold
    _, [plain] = _cv_ade(monkeypatch, tmp_path)
    assert plain["train"] == corpus / "fold_0_train.spacy"
    assert plain["test"] == corpus / "fold_0_test.spacy"
    assert plain["output"].name == "layers3_fold0_seed0" and lr not in plain


def test_cv_ade_set_needs_a_tag(monkeypatch, tmp_path):
    with pytest.raises(SystemExit):
        _cv_ade(monkeypatch, tmp_path, "--set", "system.seed", "1")


def test_cv_ade_only_folds_runs_the_named_folds_alone(monkeypatch, tmp_path):
    corpus = tmp_path / "ade"
    corpus.mkdir()
    for part in ("train", "test"):
        _corpus(corpus / f"fold_2_{part}.spacy", 10)
    # fold 2 only: folds 0 and 1 have no files here, and are not read
    _, calls = _cv_ade(monkeypatch, tmp_path, "--only-folds", "2", parts=())
    [call] = calls
    assert call["train"] == corpus / "fold_2_train.spacy"
    assert call["test"] == corpus / "fold_2_test.spacy"
    assert call["output"].name == "layers3_fold2_seed0"
    with pytest.raises(SystemExit):
        _cv_ade(monkeypatch, tmp_path, "--only-folds", "10")


def test_the_scripts_check_their_outputs_before_they_work(
    monkeypatch, tmp_path, capsys
):
    """A grid trains for hours before it writes its table: each script names the first
    output it cannot write, in one line, before it reads or trains anything."""
    import ablate
    import convert_ade
    import convert_dataset
    import cv_ade
    import screenshot

    blocker = tmp_path / "a-file"
    blocker.write_text("")
    out = blocker / "out"
    runs = [  # each with the first output it writes
        (ablate.main, ["no-config.cfg", "no-corpus", out], out / "ablations.json"),
        (cv_ade.main, ["no-corpus", "no-config.cfg", out], out / "cv.json"),
        (screenshot.main, ["no-model", "no-corpus.spacy", out], out),
    ]
    monkeypatch.chdir(tmp_path)
    for run, argv, first in runs:
        monkeypatch.setattr("sys.argv", ["script.py", *map(str, argv)])
        with pytest.raises(SystemExit) as stopped:
            run()
        assert str(stopped.value) == (
            f"error: {first}: cannot write the output there ({blocker} is a file, not "
            "a folder)"
        )
    with pytest.raises(SystemExit, match=r"out/full\.spacy: cannot write"):
        convert_ade.main(tmp_path / "no-data", out)
    data = tmp_path / "data"
    (data / "x").mkdir(parents=True)
    for part in ("train", "dev", "test", "types"):
        (data / "x" / f"x_{part}.json").write_text("{}" if part == "types" else "[]")
    capsys.readouterr()
    assert convert_dataset.main(data, "x", out) == 1
    assert capsys.readouterr().err == (
        f"error: {out / 'train.spacy'}: cannot write the output there ({blocker} is a "
        "file, not a folder)\n"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file", "data"]
