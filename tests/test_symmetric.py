"""Symmetric relation types (SpERT's ``"symmetric": true``): from the types file through
the corpus and the component's label data, canonical training targets and predictions,
and a scorer that ignores their order."""

import json
import random

import numpy
import pytest
import spacy
from spacy.tokens import Doc, DocBin
from spacy.training import Example

from spacy_stsn.evaluation.scorer import score_relations
from spacy_stsn.formats.spert import convert_file
from spacy_stsn.formats.types import load_symmetric
from spacy_stsn.ml.labels import Labels
from spacy_stsn.pipeline.annotations import SYMMETRIC_KEY, make_relation, set_entities
from spacy_stsn.pipeline.targets import TargetSettings, make_targets
from stsn_dev.pipelines import CNN_TOK2VEC, examples_from_corpus, train_pipeline

TYPES = {
    "entities": {
        "Per": {"short": "Per", "verbose": "Person"},
        "Loc": {"short": "Loc", "verbose": "Location"},
    },
    "relations": {
        "Meets": {"short": "Meets", "verbose": "Meets", "symmetric": True},
        "LivesIn": {"short": "LivesIn", "verbose": "Lives in", "symmetric": False},
    },
}
PEOPLE = ["Alice", "Bob", "Carol", "Dave", "Erin", "Frank"]
PLACES = ["Paris", "Rome", "Oslo", "Lima"]


def synthetic_records(n: int, seed: int = 0):
    """'A met B in C .' with Meets(A, B) given in either order at random, and LivesIn(A,
    C)."""
    rng = random.Random(seed)
    records = []
    for _ in range(n):
        a, b = rng.sample(PEOPLE, 2)
        tokens = [a, "met", b, "in", rng.choice(PLACES), "."]
        entities = [
            {"type": "Per", "start": 0, "end": 1},
            {"type": "Per", "start": 2, "end": 3},
            {"type": "Loc", "start": 4, "end": 5},
        ]
        meets = (
            {"type": "Meets", "head": 0, "tail": 1}
            if rng.random() < 0.5
            else {"type": "Meets", "head": 1, "tail": 0}
        )
        records.append(
            {
                "tokens": tokens,
                "entities": entities,
                "relations": [meets, {"type": "LivesIn", "head": 0, "tail": 2}],
            }
        )
    return records


@pytest.fixture(scope="module")
def symmetric_corpus(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("symmetric")
    (tmp / "types.json").write_text(json.dumps(TYPES))
    (tmp / "train.json").write_text(json.dumps(synthetic_records(24)))
    convert_file(tmp / "train.json", tmp / "train.spacy", tmp / "types.json")
    return tmp


def test_types_file_flag_reaches_the_corpus(symmetric_corpus):
    assert load_symmetric(symmetric_corpus / "types.json") == ["Meets"]
    docs = list(
        DocBin()
        .from_disk(symmetric_corpus / "train.spacy")
        .get_docs(spacy.blank("en").vocab)
    )
    # msgpack gives a tuple
    assert all(list(doc.user_data[SYMMETRIC_KEY]) == ["Meets"] for doc in docs)


def _doc(vocab, relations):
    doc = Doc(vocab, words=["Alice", "met", "Bob", "in", "Paris", "."])
    set_entities(doc, [(0, 1, "Per"), (2, 3, "Per"), (4, 5, "Loc")])
    doc._.relations = [
        make_relation(h, hl, t, tl, label, 1.0) for h, hl, t, tl, label in relations
    ]
    return doc


def test_training_targets_put_symmetric_pairs_in_canonical_order():
    vocab = spacy.blank("en").vocab
    reversed_meets = [
        ((2, 3), "Per", (0, 1), "Per", "Meets"),
        ((4, 5), "Loc", (2, 3), "Per", "LivesIn"),
    ]
    doc = _doc(vocab, reversed_meets)
    labels = Labels(["Loc", "Per"], ["LivesIn", "Meets"], ["O"], ["Meets"])
    settings = TargetSettings(labels, "stsn", "BIO", 10, 0, 100)
    targets = make_targets([Example(doc, doc)], settings)
    spans = targets.candidates.spans[0]
    labelled = {
        (tuple(spans[h]), tuple(spans[t])): tuple(targets.pair_labels[0, i])
        for i, (h, t) in enumerate(targets.candidates.pairs[0])
        if targets.pair_mask[0, i]
    }
    # Meets, turned around: the argument that starts first is head
    assert labelled[((0, 1), (2, 3))] == (
        0.0,
        1.0,
    )
    assert labelled[((2, 3), (0, 1))] == (0.0, 0.0)  # its reverse is a negative
    # a directed relation keeps its order
    assert labelled[((4, 5), (2, 3))] == (
        1.0,
        0.0,
    )


def test_scorer_matches_symmetric_relations_in_either_order():
    vocab = spacy.blank("en").vocab
    gold = _doc(
        vocab,
        [
            ((0, 1), "Per", (2, 3), "Per", "Meets"),
            ((0, 1), "Per", (4, 5), "Loc", "LivesIn"),
        ],
    )
    pred = _doc(
        vocab,
        [
            ((2, 3), "Per", (0, 1), "Per", "Meets"),
            ((4, 5), "Loc", (0, 1), "Per", "LivesIn"),
        ],
    )
    directed = score_relations([Example(pred, gold)])
    assert directed["rel_f"] == 0.0 and directed["rel_strict_f"] == 0.0
    symmetric = score_relations([Example(pred, gold)], symmetric_labels=["Meets"])
    # Meets matches, reversed LivesIn does not
    assert symmetric["rel_p"] == 0.5 and symmetric["rel_r"] == 0.5
    assert symmetric["rel_strict_per_type"]["Meets"]["f"] == 1.0


@pytest.fixture(scope="module")
def symmetric_trained(tmp_path_factory):
    model_dir, corpus = train_pipeline(
        tmp_path_factory.mktemp("sym-train"),
        synthetic_records(24),
        CNN_TOK2VEC,
        300,
        0.003,
        types=TYPES,
    )
    return spacy.load(model_dir), model_dir, corpus


def test_symmetric_labels_travel_with_the_pipeline_and_predictions_are_canonical(
    symmetric_trained,
):
    nlp, model_dir, corpus = symmetric_trained
    stsn = nlp.get_pipe("stsn")
    assert stsn.symmetric_labels == ("Meets",) and stsn.label_data["symmetric"] == [
        "Meets"
    ]
    assert stsn.overlaps == "flat"  # the synthetic data has no overlapping entities
    examples = examples_from_corpus(nlp, corpus)
    docs = list(nlp.pipe(eg.predicted for eg in examples))
    for doc in docs:
        meets = [
            (tuple(r["head"]), tuple(r["tail"]))
            for r in doc._.relations
            if r["label"] == "Meets"
        ]
        assert len(meets) == len(set(meets)) == 1 and meets[0] == ((0, 1), (2, 3))
    scores = nlp.evaluate(examples_from_corpus(nlp, corpus))
    # half the gold Meets are written the other way round
    assert scores["rel_strict_f"] == 1.0
    reloaded = spacy.load(
        model_dir, config={"components.stsn.symmetric_relations": ["LivesIn"]}
    )
    assert reloaded.get_pipe("stsn").symmetric_labels == ("LivesIn", "Meets")
    assert numpy.isclose(
        reloaded.evaluate(examples_from_corpus(reloaded, corpus))["ents_f"], 1.0
    )
