"""Relation candidates within windows (sentences, else overlapping token windows): the
windows themselves, the training candidates, the warnings that count what a cap drops,
and a long text against its sentences one by one."""

import warnings

import numpy
import pytest
import spacy
from spacy.tokens import Doc, Span
from spacy.training import Example
from spacy_transformers.util import batch_by_length

from spacy_stsn.ml.labels import Labels
from spacy_stsn.ml.model import torch_module
from spacy_stsn.ml.rows import chunk_rows
from spacy_stsn.pipeline.annotations import make_relation, set_entities
from spacy_stsn.pipeline.decoding import DocPrediction
from spacy_stsn.pipeline.targets import TargetSettings, make_targets
from spacy_stsn.pipeline.window_outputs import merge_rows
from spacy_stsn.pipeline.windows import (
    Rows,
    doc_windows,
    spans_in_windows,
    token_windows,
)


def test_token_windows_overlap_and_own_every_token_once():
    windows = token_windows(0, 300, 128, 32, 10)
    starts, ends, own_start, own_end = windows.T
    assert starts[0] == 0 and ends[-1] == 300 and (ends - starts == 128).all()
    assert (ends[:-1] - starts[1:] >= 32).all()  # consecutive windows share 32+
    # owned ranges partition the text, and a 10-token span fits its owner
    assert own_start[0] == 0 and own_end[-1] == 300
    assert (own_start[1:] == own_end[:-1]).all()
    assert (own_end[:-1] - 1 + 10 <= ends[:-1]).all()
    assert token_windows(5, 90, 128, 32, 10).tolist() == [[5, 90, 5, 90]]


def test_doc_windows_are_sentences_when_the_doc_has_them():
    vocab = spacy.blank("en").vocab
    words = ["w"] * 200
    plain = Doc(vocab, words=words)
    assert doc_windows(plain, "auto", 128, 32, 10)[:, :2].tolist() == [
        [0, 128],
        [72, 200],
    ]
    assert doc_windows(plain, "document", 128, 32, 10).tolist() == [[0, 200, 0, 200]]
    starts = [i in (0, 7, 150) for i in range(200)]
    sents = Doc(vocab, words=words, sent_starts=starts)
    # the 143-token sentence is cut into token windows, the others are whole
    assert doc_windows(sents, "auto", 128, 32, 10)[:, :2].tolist() == [
        [0, 7],
        [7, 135],
        [22, 150],
        [150, 200],
    ]
    assert len(doc_windows(sents, "tokens", 128, 32, 10)) == 2


def test_spans_in_windows_finds_each_window_holding_a_span():
    windows = numpy.asarray([[0, 10], [6, 16], [12, 20]])
    spans = numpy.asarray([[0, 2], [7, 9], [9, 13], [13, 15], [5, 17]])
    found = spans_in_windows(windows, spans).tolist()
    assert found == [[0, 0], [0, 1], [1, 1], [1, 2], [1, 3], [2, 3]]


def test_chunk_rows_groups_as_batch_by_length():
    lengths = numpy.asarray([5, 30, 7, 30, 2, 100, 12, 12, 40])
    ranges = [range(n) for n in lengths]
    expected = sorted(sorted(b) for b in batch_by_length(ranges, 64))
    assert sorted(sorted(c.tolist()) for c in chunk_rows(lengths, 64)) == expected


def test_merge_keeps_each_windows_own_entities_and_the_best_relation():
    rows = Rows(*numpy.asarray([[0, 0, 10, 0, 7], [0, 5, 15, 7, 15]]).T)
    first = DocPrediction(
        [(2, 3, "A"), (6, 7, "B")],
        [0.9, 0.8],
        [((2, 3), "A", (6, 7), "B", "R", 0.6), ((6, 7), "B", (9, 10), "C", "R", 0.3)],
        ["O"] * 10,
    )
    # row 2 sees token 6 (its 1) again, as "B", and B -> C scored higher
    second = DocPrediction(
        [(1, 2, "B"), (4, 5, "C")],
        [0.7, 0.9],
        [((1, 2), "B", (4, 5), "C", "R", 0.5), ((0, 1), "X", (4, 5), "C", "R", 0.9)],
        ["I"] * 10,
    )
    [merged] = merge_rows(rows, [first, second], 1)
    assert merged.entities == [(2, 3, "A"), (6, 7, "B"), (9, 10, "C")]
    # (5, 6) "X" is no kept entity: its relation goes
    assert merged.relations == [
        ((2, 3), "A", (6, 7), "B", "R", 0.6),
        ((6, 7), "B", (9, 10), "C", "R", 0.5),
    ]
    assert merged.tags == ["O"] * 7 + ["I"] * 8


def _two_sentence_example(vocab):
    words = "John lives in Rome . Mary works for Acme and Bob .".split()
    doc = Doc(vocab, words=words, sent_starts=[i in (0, 5) for i in range(len(words))])
    set_entities(doc, [(0, 1, "Per"), (3, 4, "Loc"), (5, 6, "Per"), (8, 9, "Org")])
    doc._.relations = [
        make_relation((0, 1), "Per", (3, 4), "Loc", "LivesIn"),
        make_relation((5, 6), "Per", (8, 9), "Org", "WorksFor"),
        make_relation((0, 1), "Per", (8, 9), "Org", "WorksFor"),  # across sentences
    ]
    return Example(doc, doc)


def test_training_candidates_of_a_multi_sentence_doc_stay_within_sentences():
    vocab = spacy.blank("en").vocab
    labels = Labels(["Loc", "Org", "Per"], ["LivesIn", "WorksFor"], ["O"])
    settings = TargetSettings(labels, "stsn", "BIO", 3, 100, 100)
    with pytest.warns(UserWarning, match=r"0 gold entities .* and 1 gold relations"):
        targets = make_targets([_two_sentence_example(vocab)], settings)
    assert targets.candidates.rows.tolist() == [[0, 0, 5], [0, 5, 12]]
    spans, pairs, mask = (
        targets.candidates.spans,
        targets.candidates.pairs,
        targets.pair_mask,
    )
    lengths = [5, 7]
    for row in range(2):
        real = targets.span_labels[row] >= 0
        assert (spans[row][real][:, 1] <= lengths[row]).all()
        # every pair of the row is between two gold entities of the sentence
        assert set(pairs[row][mask[row]].ravel()) <= {0, 1}
    assert targets.pair_labels[mask].sum() == 2  # the two in-sentence relations
    assert targets.tag_labels.shape == (2, 7)
    settings.windows = "document"  # the whole text, as before windows
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        whole = make_targets([_two_sentence_example(vocab)], settings)
    assert whole.candidates.rows is None and whole.pair_labels.sum() == 3


def test_window_overlap_must_hold_a_span(trained):
    nlp = spacy.blank("en")
    _, model_dir, _ = trained
    config = {"window_overlap": 5, "window_size": 64}
    with pytest.raises(ValueError, match=r"window_overlap \(5\) at least max_span"):
        nlp.add_pipe("stsn", config=config)
    with pytest.raises(ValueError, match="window_overlap must be >= 0 and less"):
        spacy.load(model_dir, config={"components": {"stsn": {"window_overlap": 128}}})


def test_warnings_count_what_the_caps_drop(trained):
    """max_pair_entities per window, and given entities across a sentence boundary:
    one warning per call, with the count."""
    _, model_dir, _ = trained
    nlp = spacy.load(model_dir)
    stsn = nlp.get_pipe("stsn")
    text = "John Smith lives in Boston and works for Acme Corp. ."
    n_entities = len(nlp(text).spans["stsn"])
    assert n_entities >= 3
    torch_module(stsn.model).max_pair_entities = 1
    with pytest.warns(UserWarning) as caught:
        nlp(text)
    [message] = [
        str(w.message) for w in caught if "max_pair_entities" in str(w.message)
    ]
    assert message.startswith(
        f"[stsn] {n_entities - 1} predicted entities were left out"
    )
    given = spacy.load(
        model_dir, config={"components": {"stsn": {"entities": "given"}}}
    )
    words = ["John", "lives", "in", "Rome", ".", "Mary", "is", "."]
    doc = Doc(given.vocab, words=words, sent_starts=[i in (0, 4) for i in range(8)])
    doc.ents = [Span(doc, 0, 1, "Peop"), Span(doc, 3, 5, "Loc")]
    with pytest.warns(UserWarning, match=r"\[stsn\] 1 given entities cross a window"):
        out = given.get_pipe("stsn")(doc)
    assert [(s.start, s.end) for s in out.spans["stsn"]] == [(0, 1), (3, 5)]


def test_a_joined_text_gets_the_relations_of_its_sentences(trained, conll04_records):
    """60 sentences (about 200 entities) in one document: its relations are looked for
    sentence by sentence, not among the 100 best entities of the whole text."""
    nlp, _, _ = trained
    records = conll04_records * 3
    one_by_one = list(nlp.pipe([Doc(nlp.vocab, words=r["tokens"]) for r in records]))
    words = [w for r in records for w in r["tokens"]]
    starts = numpy.cumsum([0] + [len(r["tokens"]) for r in records[:-1]])
    sent_starts = numpy.isin(numpy.arange(len(words)), starts).tolist()
    for joined in (
        nlp(Doc(nlp.vocab, words=words, sent_starts=sent_starts)),
        nlp(Doc(nlp.vocab, words=words)),  # token windows
    ):
        expected = {
            (rel["head"][0] + offset, rel["tail"][0] + offset, rel["label"])
            for doc, offset in zip(one_by_one, starts)
            for rel in doc._.relations
        }
        found = {(r["head"][0], r["tail"][0], r["label"]) for r in joined._.relations}
        assert len(expected) > 60
        assert len(found & expected) >= 0.9 * len(expected), (len(found), len(expected))
