"""Relations over entities from another component (``entities = "given"``): an entity
ruler, spaCy's ner or a dictionary finds the entities, stsn predicts only the relations
among them."""

import pytest
import spacy
from spacy.tokens import Doc, Span
from spacy.training import Example

from spacy_stsn.evaluation.scorer import score_relations
from stsn_dev.pipelines import CNN_TOK2VEC, examples_from_corpus, train_pipeline


def test_relations_among_an_entity_rulers_entities(tmp_path, tiny_bert_pipeline):
    """["entity_ruler", "transformer", "stsn"]: the ruler's entities are kept as they
    are (doc.ents untouched, copied to the span group) and every relation connects two
    of them."""
    trained, records, _ = tiny_bert_pipeline
    trained.to_disk(tmp_path / "model")
    nlp = spacy.load(tmp_path / "model", config={"components.stsn.entities": "given"})
    ruler = nlp.add_pipe("entity_ruler", before="transformer")
    patterns, texts = [], []
    for record in records:
        tokens = record["tokens"]
        texts.append(" ".join(tokens))
        for ent in record["entities"]:
            patterns.append(
                {
                    "label": ent["type"],
                    "pattern": [{"ORTH": t} for t in tokens[ent["start"] : ent["end"]]],
                }
            )
    ruler.add_patterns(patterns)
    docs = list(nlp.pipe(texts))
    assert any(doc._.relations for doc in docs)
    for doc in docs:
        ents = [(e.start, e.end, e.label_) for e in doc.ents]
        assert [(s.start, s.end, s.label_) for s in doc.spans["stsn"]] == ents
        for rel in doc._.relations:
            assert (*rel["head"], rel["head_label"]) in ents and (
                *rel["tail"],
                rel["tail_label"],
            ) in ents


def test_given_entities_from_a_span_group_reach_the_relation_decoders_upper_bound(
    trained, tmp_path
):
    """With the gold entities given (nested ones too, through a span group), the trained
    model's relations are those of its training data; a missing span group is an error
    naming the document."""
    _, model_dir, corpus = trained
    nlp = spacy.load(
        model_dir,
        config={
            "components.stsn.entities": "given",
            "components.stsn.given_spans_key": "gold",
        },
    )
    examples = examples_from_corpus(nlp, corpus)
    for eg in examples:
        eg.predicted.spans["gold"] = [
            Span(eg.predicted, s.start, s.end, s.label_)
            for s in eg.reference.spans["stsn"]
        ]
    predicted = list(nlp.get_pipe("stsn").pipe(eg.predicted for eg in examples))
    scores = score_relations(
        [Example(doc, eg.reference) for doc, eg in zip(predicted, examples)]
    )
    assert scores["ents_f"] == 1.0 and scores["rel_strict_f"] == 1.0
    with pytest.raises(ValueError, match="no span group 'gold'"):
        nlp(Doc(nlp.vocab, words=["John", "lives", "in", "Rome", "."]))


def test_spacy_train_with_given_entities(tmp_path, conll04_records):
    """A config that sets entities = "given" trains as usual (gold entities, all three
    losses) and the saved pipeline predicts relations among the entities it is given
    only."""
    model_dir, _ = train_pipeline(
        tmp_path,
        conll04_records[:6],
        CNN_TOK2VEC,
        40,
        0.003,
        overrides={"components.stsn.entities": "given"},
    )
    nlp = spacy.load(model_dir)
    stsn = nlp.get_pipe("stsn")
    assert stsn.cfg["entities"] == "given" and stsn.labels
    doc = nlp.make_doc("John Smith works for Acme in Boston .")
    doc.ents = [doc.char_span(0, 10, "Peop"), doc.char_span(21, 25, "Org")]
    doc = nlp(doc)
    assert [(e.text, e.label_) for e in doc.ents] == [
        ("John Smith", "Peop"),
        ("Acme", "Org"),
    ]
    assert all(
        {tuple(r["head"]), tuple(r["tail"])} <= {(0, 2), (4, 5)}
        for r in doc._.relations
    )
    assert list(nlp.pipe(["", "No entities here ."]))[1]._.relations == []
