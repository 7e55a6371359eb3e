"""Thresholds chosen on dev (``python -m spacy_stsn tune``): the sweep's choice on
hand-made predictions whose answer is known, its counts against the scorer, and the
tuned pipeline's config (reloaded, overridden)."""

import json
import subprocess
import sys

import pytest
import spacy
from conftest import load_records
from spacy.tokens import Doc
from spacy.training import Example

from spacy_stsn.evaluation.evaluate import load_examples, predict
from spacy_stsn.evaluation.scorer import score_relations
from spacy_stsn.evaluation.tuning import (
    GRID,
    Predictions,
    Thresholds,
    choose,
    grid_edges,
    write_pipeline,
)
from spacy_stsn.pipeline.annotations import make_relation, set_entities
from stsn_dev.pipelines import _write_corpus, examples_from_corpus

WORDS = ["w0", "w1", "w2", "w3", "w4", "w5"]


def example(nlp, gold, predicted):
    """An Example from (entities, relations) for gold and predicted; predicted entities
    carry scores and relations ``(head, tail, label, score)``, arguments given as entity
    indices."""
    docs = []
    for entities, relations in (gold, predicted):
        doc = Doc(nlp.vocab, words=WORDS)
        spans = [(s, e, label) for s, e, label, *_ in entities]
        scores = [e[3] if len(e) > 3 else 1.0 for e in entities]
        set_entities(doc, spans, scores=scores)
        doc._.relations = [
            make_relation(
                entities[h][:2],
                entities[h][2],
                entities[t][:2],
                entities[t][2],
                label,
                score,
            )
            for h, t, label, score in relations
        ]
        docs.append(doc)
    return Example(docs[1], docs[0])


def test_sweep_picks_the_global_then_the_per_type_threshold_it_must():
    """Type A: right at 0.7 and 0.8, wrong at 0.5; type B: right at 0.2, wrong at 0.1.
    RE+ F1 is best globally for t in (0.15, 0.2] (3 right of 4; 0.2 is closest to 0.4),
    and then A alone is perfect in (0.5, 0.7] (0.55 is closest to the global 0.2), B
    stays at the global one: all 3 right, none wrong."""
    nlp = spacy.blank("en")
    ents = [(0, 1, "X"), (2, 3, "X"), (4, 5, "Y")]
    gold = (ents, [(0, 1, "A", 1.0), (1, 2, "A", 1.0), (2, 0, "B", 1.0)])
    pred = (
        [(*e, 0.9) for e in ents],
        [(0, 1, "A", 0.7), (1, 2, "A", 0.8), (0, 2, "A", 0.5)]
        + [(2, 0, "B", 0.2), (2, 1, "B", 0.1)],
    )
    dev = Predictions([example(nlp, gold, pred)], "stsn", (), ["A", "B"])
    weights = {"ents_f": 0.5, "rel_strict_f": 0.5}
    chosen, sweep = choose(dev, Thresholds(0.4), weights, nested=False)
    assert chosen == Thresholds(0.2, {"A": 0.55}, 0.0)
    assert dev.scores(chosen)["rel_strict_f"] == 1.0
    assert dev.scores(Thresholds(0.2))["rel_strict_f"] == pytest.approx(6 / 7)
    assert dict(sweep["threshold"])[0.4] < dict(sweep["threshold"])[0.2]
    # without per-type thresholds the global one stays
    assert choose(dev, Thresholds(0.4), weights, False, per_type=False)[0] == (
        Thresholds(0.2)
    )


def test_a_choice_on_the_grids_edge_is_reported():
    """Right at 0.99, wrong at 0.9: every threshold in (0.9, 0.99] is best, and the
    default grid's top, 0.95, is chosen; the report must say that the best may lie
    beyond the grid, and say nothing once the grid reaches past the answer."""
    nlp = spacy.blank("en")
    ents = [(0, 1, "X"), (2, 3, "X"), (4, 5, "Y")]
    gold = (ents, [(0, 1, "A", 1.0)])
    pred = ([(*e, 0.9) for e in ents], [(0, 1, "A", 0.99), (1, 2, "A", 0.9)])
    dev = Predictions([example(nlp, gold, pred)], "stsn", (), ["A"])
    weights = {"rel_strict_f": 1.0}
    chosen, _ = choose(dev, Thresholds(0.4), weights, False, per_type=False)
    assert chosen.threshold == 0.95
    [note] = grid_edges(chosen, GRID)
    assert note.startswith("threshold = 0.95 is the grid's highest point")
    wider = (*GRID, 0.97, 0.99)
    chosen, _ = choose(dev, Thresholds(0.4), weights, False, wider, per_type=False)
    assert chosen.threshold == 0.95 and grid_edges(chosen, wider) == []
    # per-type thresholds too, and the lowest edge
    assert grid_edges(Thresholds(0.5, {"A": 0.05}), GRID) == [
        "relation_thresholds.A = 0.05 is the grid's lowest point: the best may lie "
        "beyond it (widen the grid: tune --grid ...)"
    ]
    assert grid_edges(Thresholds(0.4), (0.4,)) == []


def test_sweep_picks_the_nested_threshold_it_must():
    """Gold nests (1, 2) in (0, 2); the model also predicts a wrong (0, 1). Both lose to
    (0, 2) under the flat rule, so nested_threshold in (0.3, 0.6] keeps exactly the gold
    ones (0.35 is closest to the current 0)."""
    nlp = spacy.blank("en")
    gold = ([(0, 2, "X"), (1, 2, "Y")], [(1, 0, "A", 1.0)])
    pred = (
        [(0, 2, "X", 0.9), (1, 2, "Y", 0.6), (0, 1, "Y", 0.3)],
        [(1, 0, "A", 0.9), (2, 0, "A", 0.9)],
    )
    dev = Predictions([example(nlp, gold, pred)], "stsn", (), ["A"])
    chosen, _ = choose(dev, Thresholds(0.4), {"ents_f": 0.5, "rel_strict_f": 0.5}, True)
    assert chosen.nested_threshold == 0.35
    scores = dev.scores(chosen, nested=True)
    assert scores["ents_f"] == scores["rel_strict_f"] == 1.0
    # the loose pass keeps all three
    assert dev.scores(chosen, nested=False)["ents_f"] < 1.0


def flat(scores):
    """The scorer's keys with the per-type tables spread out, for pytest.approx."""
    out = {}
    for key, value in scores.items():
        if isinstance(value, dict):
            out.update(
                {(key, t, m): v for t, prf in value.items() for m, v in prf.items()}
            )
        else:
            out[key] = value
    return out


@pytest.fixture(scope="module")
def heldout(tmp_path_factory):
    """40 CoNLL04 dev sentences that the `trained` pipeline has not seen: imperfect
    predictions."""
    return _write_corpus(
        tmp_path_factory.mktemp("heldout"),
        load_records("conll04", "conll04_dev.json", 40),
    )


def test_counts_equal_the_scorer_on_the_decoded_docs(trained, heldout):
    """Re-decoding the loose pass by counting gives what the scorer gives for a real
    prediction at the same thresholds."""
    nlp, model_dir, _ = trained
    corpus = heldout
    stsn = nlp.get_pipe("stsn")
    label = stsn.relation_labels[0]
    loose = spacy.load(model_dir, config={"components.stsn.threshold": 0.05})
    examples = load_examples(loose, corpus)
    predict(loose, examples)
    counted = Predictions(
        examples, stsn.spans_key, stsn.symmetric_labels, stsn.relation_labels
    )
    for thresholds in (Thresholds(0.4), Thresholds(0.9, {label: 0.05})):
        tuned = spacy.load(
            model_dir,
            config={
                "components.stsn.threshold": thresholds.threshold,
                "components.stsn.relation_thresholds": thresholds.relation_thresholds,
            },
        )
        real = load_examples(tuned, corpus)
        predict(tuned, real)
        expected = score_relations(real, symmetric_labels=stsn.symmetric_labels)
        assert 0 < expected["rel_strict_f"] < 1
        assert flat(counted.scores(thresholds)) == pytest.approx(flat(expected))


def test_tuned_pipeline_reloads_its_thresholds_and_an_override_replaces_them(
    tmp_path, trained, heldout
):
    nlp, model_dir, _ = trained
    corpus = heldout
    labels = nlp.get_pipe("stsn").relation_labels
    chosen = Thresholds(0.6, {labels[0]: 0.05, labels[1]: 0.95})
    write_pipeline(model_dir, tmp_path / "tuned", "stsn", chosen, nested=False)
    tuned = spacy.load(tmp_path / "tuned")
    stsn = tuned.get_pipe("stsn")
    assert (stsn.cfg["threshold"], stsn.cfg["relation_thresholds"]) == (
        0.6,
        chosen.relation_thresholds,
    )
    # it decodes with them: what the loose pipeline finds, filtered by the thresholds
    loose = spacy.load(model_dir, config={"components.stsn.threshold": 0.05})
    texts = [eg.reference.text for eg in examples_from_corpus(nlp, corpus)]
    expected = [
        [r for r in doc._.relations if r["score"] >= chosen.per_type([r["label"]])[0]]
        for doc in loose.pipe(texts)
    ]
    assert [doc._.relations for doc in tuned.pipe(texts)] == expected
    assert any(
        r["label"] == labels[0] and r["score"] < 0.6 for d in expected for r in d
    )
    override = {
        "components.stsn.threshold": 0.3,
        "components.stsn.relation_thresholds": {labels[0]: 0.7},
    }
    replaced = spacy.load(tmp_path / "tuned", config=override).get_pipe("stsn")
    assert replaced.cfg["threshold"] == 0.3
    assert replaced.cfg["relation_thresholds"] == {labels[0]: 0.7, labels[1]: 0.95}
    assert spacy.load(model_dir).get_pipe("stsn").cfg["relation_thresholds"] == {}


def test_tune_command_reports_dev_and_test_and_writes_the_pipeline(
    tmp_path, trained, heldout
):
    _, model_dir, corpus = trained
    out = subprocess.run(
        [sys.executable, "-m", "spacy_stsn", "tune", str(model_dir), str(heldout)]
        + ["--test", str(corpus), "--output", str(tmp_path / "tuned")]
        + ["--report", str(tmp_path / "report"), "--grid", "0.3", "0.5"],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads((tmp_path / "report" / "tuning.json").read_text())
    # the grid asked for (the current 0.4 is always a candidate); a choice on its edge
    # is reported in the table's header and on stderr
    assert report["grid"] == [0.3, 0.5]
    assert report["after"]["threshold"] in (0.3, 0.4, 0.5)
    assert report["at_grid_edge"] == grid_edges(
        Thresholds(
            report["after"]["threshold"], report["after"]["relation_thresholds"]
        ),
        (0.3, 0.5),
    )
    for note in report["at_grid_edge"]:
        assert f"- warning: {note}" in out.stdout and note in out.stderr
    assert set(report["scores"]) == {"dev", "test"}
    assert set(report["scores"]["dev"]) == {"before", "after"}
    after = report["scores"]["dev"]["after"]["score"]
    assert after >= report["scores"]["dev"]["before"]["score"]
    stsn = spacy.load(tmp_path / "tuned").get_pipe("stsn")
    assert stsn.cfg["threshold"] == report["after"]["threshold"]
    assert "| dev | after |" in out.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "spacy_stsn", "tune", str(tmp_path / "nowhere")]
        + [str(corpus), "--output", str(tmp_path / "x")],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 1 and "nowhere" in bad.stderr
    bad_grid = subprocess.run(
        [sys.executable, "-m", "spacy_stsn", "tune", str(model_dir), str(heldout)]
        + ["--output", str(tmp_path / "y"), "--grid", "0.5", "1.5"],
        capture_output=True,
        text=True,
    )
    assert bad_grid.returncode == 1 and "[0.5, 1.5]" in bad_grid.stderr
    assert not (tmp_path / "y").exists()


def test_bad_relation_thresholds_are_named(trained):
    _, model_dir, corpus = trained
    with pytest.raises(
        ValueError, match=r"relation_thresholds\['Kill'\] must be in \[0, 1\]"
    ):
        spacy.load(
            model_dir, config={"components.stsn.relation_thresholds": {"Kill": 1.5}}
        )
    nlp = spacy.load(
        model_dir, config={"components.stsn.relation_thresholds": {"Nope": 0.5}}
    )
    with pytest.raises(
        ValueError, match="relation types \\['Nope'\\] that the model does not have"
    ):
        nlp("John Smith lives in Boston .")
