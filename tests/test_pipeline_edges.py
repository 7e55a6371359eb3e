"""Edges of the component a user reaches early: an entity-only corpus, given entities
the model cannot use as they are, many given entities, and ``nlp.pipe(n_process=2)``
after the parent already ran the pipeline."""

import subprocess
import sys

import pytest
import spacy
from spacy.tokens import Doc, Span

from stsn_dev.pipelines import CNN_TOK2VEC, examples_from_corpus, train_pipeline


def test_an_entity_only_corpus_trains_and_predicts_entities(tmp_path, conll04_records):
    """No relation in any document (a NER-only dataset): initialize says so, training
    and the evaluations during training run (the first evaluation used to crash with
    zero relation types), entities come out."""
    records = [dict(r, relations=[]) for r in conll04_records[:12]]
    with pytest.warns(UserWarning, match="no relation types"):
        model_dir, corpus = train_pipeline(tmp_path, records, CNN_TOK2VEC, 150, 0.003)
    nlp = spacy.load(model_dir)
    assert nlp.get_pipe("stsn").relation_labels == ()
    scores = nlp.evaluate(examples_from_corpus(nlp, corpus))
    assert scores["ents_f"] > 0.3 and scores["rel_strict_f"] == 0.0
    docs = list(nlp.pipe(" ".join(r["tokens"]) for r in records))
    assert any(doc.ents for doc in docs)
    assert all(doc._.relations == [] for doc in docs)


def _given(model_dir, key=None):
    config = {"components.stsn.entities": "given"}
    if key is not None:
        config["components.stsn.given_spans_key"] = key
    return spacy.load(model_dir, config=config)


def test_given_entities_the_model_cannot_use_are_errors_naming_the_document(
    trained,
):
    _, model_dir, _ = trained
    nlp = _given(model_dir)
    doc = nlp.make_doc("John works for Acme in Boston .")
    doc.ents = [Span(doc, 0, 1, "Peop"), Span(doc, 3, 4, "ORG")]
    with pytest.raises(ValueError, match=r"'ORG'.*does not know.*'Org'"):
        nlp.get_pipe("stsn")(doc)
    grouped = _given(model_dir, key="upstream")
    doc = grouped.make_doc("John works for Acme in Boston .")
    doc.spans["upstream"] = [
        Span(doc, 3, 4, "Org"),
        Span(doc, 3, 4, "Loc"),
        Span(doc, 0, 1, "Peop"),
        Span(doc, 0, 1, "Peop"),  # the same entity twice: one entity
    ]
    with pytest.raises(
        ValueError, match=r"'Acme' \[3, 4\) is given twice.*'Loc'.*'Org'"
    ):
        grouped.get_pipe("stsn")(doc)
    doc.spans["upstream"] = list(doc.spans["upstream"])[1:]
    out = grouped.get_pipe("stsn")(doc)
    assert [(s.start, s.end, s.label_) for s in out.spans["stsn"]] == [
        (0, 1, "Peop"),
        (3, 4, "Loc"),
    ]


def test_every_given_entity_is_paired_beyond_max_pair_entities(trained):
    """max_pair_entities (100) bounds the *predicted* entities that are paired; given
    ones are all paired."""
    _, model_dir, _ = trained
    nlp = _given(model_dir)
    stsn = nlp.get_pipe("stsn")
    doc = Doc(nlp.vocab, words=["Rome"] * 120)
    doc.ents = [Span(doc, i, i + 1, "Loc") for i in range(120)]
    prediction = stsn.predict([doc])
    [(_, outputs)] = prediction.chunks  # 120 tokens: one window
    assert outputs.pairs.shape[1] == 120 * 119
    assert bool(outputs.pair_valid.all())
    assert [e[:2] for e in prediction.given[0]] == [(i, i + 1) for i in range(120)]


N_PROCESS = """
import sys
import spacy
nlp = spacy.load(sys.argv[1])
texts = ["John Smith lives in Boston and works for Acme ."] * 40
list(nlp.pipe(texts[:5]))  # torch runs in the parent first
docs = list(nlp.pipe(texts, n_process=2, batch_size=8))
print(len(docs), sum(len(d.spans["stsn"]) for d in docs) == 8 * sum(
    len(d.spans["stsn"]) for d in docs[:5]))
"""


def test_n_process_after_the_parent_ran_the_pipeline(trained):
    """The children used to hang in their first torch matrix product (an OpenMP pool
    inherited through fork)."""
    _, model_dir, _ = trained
    run = subprocess.run(
        [sys.executable, "-c", N_PROCESS, str(model_dir)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.split() == ["40", "True"], run.stdout
