"""Decoding rules on hand-made network outputs: the overlap policy, the flat rule on the
device and on the host, the relation threshold and symmetric relation types."""

import random

import numpy
import pytest
import torch

from spacy_stsn.ml.labels import Labels
from spacy_stsn.nn import stsn as stsn_torch
from spacy_stsn.nn.span_selection import (
    enumerate_spans,
    greedy_non_overlapping,
    select_pair_entities,
)
from spacy_stsn.nn.stsn import STSN, Extraction
from spacy_stsn.pipeline.decoding import (
    canonical_order,
    decode_batch,
    nested_threshold,
    relation_key,
    resolve_overlaps,
    select_non_overlapping,
    tail_first,
)


def test_auto_overlap_policy_follows_the_training_data():
    assert resolve_overlaps("auto", data_overlaps=0.0) == "flat"
    # rare overlaps, as ADE's 2.8 % of documents
    assert resolve_overlaps("auto", data_overlaps=0.029) == "flat"
    assert resolve_overlaps("auto", data_overlaps=0.2) == "nested"
    # a model saved before: as it always was
    assert resolve_overlaps("auto", data_overlaps=None) == "nested"
    assert resolve_overlaps("flat", data_overlaps=0.5) == "flat"
    assert resolve_overlaps("nested", data_overlaps=0.0) == "nested"
    with pytest.raises(ValueError, match="overlaps must be one of"):
        resolve_overlaps("sometimes", False)
    assert nested_threshold("flat", 0.3) is None
    assert nested_threshold("nested", 0.3) == 0.3


def test_flat_rule_keeps_the_best_span_then_the_longer_then_the_earlier():
    spans = [(0, 3), (2, 5), (3, 4), (6, 7), (5, 7), (8, 9), (8, 10)]
    scores = [0.9, 0.95, 0.5, 0.8, 0.8, 0.7, 0.7]
    # (2, 5) beats (0, 3) and (3, 4); (5, 7) is longer than (6, 7) at the same score;
    # (8, 10) longer than (8, 9)
    assert select_non_overlapping(spans, scores) == [1, 4, 6]
    # without scores (gold data) the outer entity of a nesting wins
    assert select_non_overlapping([(0, 1), (0, 2)]) == [1]


def _device_keep(spans, scores, candidate, max_width, max_rounds=16):
    order = sorted(range(len(spans)), key=lambda i: spans[i])
    starts = torch.tensor([[spans[i][0] for i in order]])
    ends = torch.tensor([[spans[i][1] for i in order]])
    keep = greedy_non_overlapping(
        starts,
        ends,
        torch.tensor([[scores[i] for i in order]]),
        torch.tensor([[candidate[i] for i in order]]),
        max_width,
        max_rounds,
    )[0].tolist()
    return sorted(order[j] for j, kept in enumerate(keep) if kept)


# sparse candidates often overlap nowhere (the fast path)
@pytest.mark.parametrize("density", [0.3, 0.03])
def test_device_flat_rule_agrees_with_the_host_rule_on_random_candidates(density):
    rng = random.Random(0)
    for trial in range(200):
        length, width = rng.randint(1, 30), rng.randint(1, 6)
        spans = [
            (s, s + w)
            for s in range(length)
            for w in range(1, width + 1)
            if s + w <= length
        ]
        # few distinct scores, so that ties (broken by length, then position) are common
        scores = [rng.choice([0.5, 0.6, 0.7, 0.9]) for _ in spans]
        candidate = [rng.random() < density for _ in spans]
        expected = sorted(
            [i for i in range(len(spans)) if candidate[i]][j]
            for j in select_non_overlapping(
                [s for s, c in zip(spans, candidate) if c],
                [x for x, c in zip(scores, candidate) if c],
            )
        )
        assert _device_keep(spans, scores, candidate, width) == expected, trial
        assert (
            _device_keep(spans, scores, candidate, width, max_rounds=0) == expected
        ), trial  # rank by rank


def test_device_flat_rule_is_batched_and_linear_in_long_documents():
    # a chain of overlapping spans whose greedy outcome depends on every better-ranked
    # span before it
    spans = torch.as_tensor(enumerate_spans(3000, 3))[None]
    scores = torch.linspace(1.0, 0.5, spans.shape[1])[None]
    keep = greedy_non_overlapping(
        spans[..., 0],
        spans[..., 1],
        scores,
        torch.ones_like(scores, dtype=torch.bool),
        3,
    )
    expected = select_non_overlapping(
        [tuple(x) for x in spans[0].tolist()], scores[0].tolist()
    )
    assert keep[0].nonzero().flatten().tolist() == expected
    batch = torch.stack([keep[0], keep[0]])
    keep2 = greedy_non_overlapping(
        spans[..., 0].expand(2, -1),
        spans[..., 1].expand(2, -1),
        scores.expand(2, -1),
        batch | True,
        3,
    )
    assert torch.equal(keep2, batch)


def _hand_made_module() -> STSN:
    """A built module whose span decoder scores are set by hand (``span_logits``)."""
    return (
        STSN(n_layers=0, max_span_width=3, width_embedding=4).build(4, 2, 1, 0).eval()
    )


def test_head_applies_the_overlap_policy_before_pairing(monkeypatch):
    """Tokens 0-3; candidates [0, 2) (0.9), [1, 3) (0.8, overlaps it), [1, 2) (0.6,
    nested in both), [3, 4) (0.7). Flat keeps [0, 2) and [3, 4) and pairs only them;
    nested keeps all four; nested_threshold 0.75 keeps [1, 3) too but not [1, 2)."""
    wanted = {(0, 2): 0.9, (1, 3): 0.8, (1, 2): 0.6, (3, 4): 0.7}

    def span_logits(h_e, spans, decoder, width_embedding):
        probs = torch.full(spans.shape[:2] + (3,), 0.0)
        probs[..., 0] = 1.0  # NoneEntity
        for i, (s, e) in enumerate(spans[0].tolist()):
            if (s, e) in wanted:
                probs[0, i] = torch.tensor([1 - wanted[(s, e)], wanted[(s, e)], 0.0])
        return probs.clamp_min(1e-6).log()

    monkeypatch.setattr(stsn_torch, "span_logits_factored", span_logits)
    tokens, lengths = torch.randn(1, 4, 4), torch.tensor([4])
    for threshold, expected in (
        (None, [(0, 2), (3, 4)]),
        (0.0, sorted(wanted)),
        (0.75, [(0, 2), (1, 3), (3, 4)]),
    ):
        out = _hand_made_module().infer(tokens, lengths, nested_threshold=threshold)
        kept = sorted(tuple(s) for s in out.spans[0][out.is_entity[0]].tolist())
        assert kept == expected, threshold
        paired = {
            tuple(out.spans[0, i].tolist())
            for i in out.pairs[0][out.pair_valid[0]].flatten().tolist()
        }
        assert paired == set(expected)
        assert int(out.pair_valid[0].sum()) == len(expected) * (len(expected) - 1)


def test_top_k_takes_the_best_entities_first():
    score = torch.tensor([[0.5, 0.9, 0.7, 0.8]])
    entities, valid = select_pair_entities(
        score, torch.tensor([[True, True, False, True]]), 3
    )
    assert entities[0].tolist() == [1, 3, 0] and valid[0].tolist() == [True, True, True]
    entities, valid = select_pair_entities(
        score, torch.tensor([[False, True, False, False]]), 2
    )
    assert entities[0, 0] == 1 and valid[0].tolist() == [True, False]


def _extraction(rel_probs):
    """One doc of 4 tokens with entities A = [0, 1) and B = [2, 4) paired both ways."""
    spans = numpy.array([[[0, 1], [2, 4], [1, 2]]])
    span_probs = numpy.array([[[0.1, 0.9, 0.0], [0.2, 0.0, 0.8], [0.9, 0.05, 0.05]]])
    return Extraction(
        tag_probs=numpy.zeros((1, 4, 0)),
        spans=spans,
        span_probs=span_probs,
        is_entity=numpy.array([[True, True, False]]),
        pairs=numpy.array([[[0, 1], [1, 0]]]),
        pair_valid=numpy.array([[True, True]]),
        rel_probs=numpy.asarray(rel_probs, dtype="float32"),
    )


def test_relations_pass_the_threshold_and_symmetric_ones_are_canonical_without_duplicates():
    # relation types: Near (symmetric), Owns (directed); A->B Near 0.6, B->A Near 0.9,
    # B->A Owns 0.5
    out = _extraction([[[0.6, 0.3], [0.9, 0.5]]])
    decode = lambda symmetric, threshold=0.4: decode_batch(
        out, Labels(["X", "Y"], ["Near", "Owns"], [], symmetric), [4], threshold
    )[0]
    directed = decode(())
    assert [(r[0], r[2], r[4]) for r in directed.relations] == [
        ((0, 1), (2, 4), "Near"),
        ((2, 4), (0, 1), "Near"),
        ((2, 4), (0, 1), "Owns"),
    ]
    symmetric = decode({"Near"})
    assert [
        (r[0], r[1], r[2], r[3], r[4], round(r[5], 2)) for r in symmetric.relations
    ] == [
        ((0, 1), "X", (2, 4), "Y", "Near", 0.9),
        ((2, 4), "Y", (0, 1), "X", "Owns", 0.5),
    ]
    assert decode({"Near"}, threshold=0.7).relations[0][:5] == (
        (0, 1),
        "X",
        (2, 4),
        "Y",
        "Near",
    )
    assert symmetric.entities == [(0, 1, "X"), (2, 4, "Y")] and symmetric.tags is None


def test_canonical_order_puts_the_earlier_argument_first():
    head = numpy.array([[5, 6], [1, 3], [1, 3], [2, 4]])
    tail = numpy.array([[1, 2], [1, 2], [5, 6], [0, 1]])
    assert canonical_order(
        head, tail, numpy.array([True, True, True, False])
    ).tolist() == [True, True, False, False]
    rel = {
        "head": [4, 5],
        "head_label": "B",
        "tail": [0, 2],
        "tail_label": "A",
        "label": "Near",
    }
    assert relation_key(rel, {"Near"}) == ((0, 2), "A", (4, 5), "B", "Near")
    assert relation_key(rel, ()) == ((4, 5), "B", (0, 2), "A", "Near")


def test_tail_first_is_one_rule_for_ints_and_arrays():
    """Decoding (arrays), the scorer and the training targets (ints) share the rule: the
    tail comes first when its (start, end) sorts before the head's."""
    spans = [(s, e) for s in range(4) for e in range(s + 1, 5)]
    pairs = [(h, t) for h in spans for t in spans]
    expected = [t < h for h, t in pairs]
    assert [bool(tail_first(h, t)) for h, t in pairs] == expected
    heads, tails = (numpy.array(side) for side in zip(*pairs))
    assert tail_first(heads.T, tails.T).tolist() == expected
