"""Candidate spans and pairs, and which candidates become entities at inference (pure
PyTorch and numpy).

:func:`enumerate_spans` and :func:`ordered_pairs` are the one enumeration of candidate
spans and of ordered entity pairs, shared by the training targets
(:mod:`spacy_stsn.pipeline.targets`, numpy) and the network (cached as device tensors by
:func:`candidate_spans` and :func:`pair_indices`), as spaCy's spancat shares its
``ngram_suggester``.

The span decoder scores every span up to ``max_span_width`` tokens independently, so
nothing in the network stops it from predicting "John Wilkes Booth" and "Abraham
Lincoln" *and* an overlapping "Booth shot Abraham". The overlap policy (the component's
``overlaps`` setting, see :mod:`spacy_stsn.pipeline.decoding`) decides what is kept
*before* relation candidates are built, so pairs are classified among kept entities
only:

* :func:`greedy_non_overlapping` is the flat rule: highest score first, then the longer
  span, then the earlier one; a span is kept when it shares no token with a span kept
  before it. It is the rule ``doc.ents`` has always used
  (:func:`spacy_stsn.pipeline.decoding.select_non_overlapping` is its host-side twin,
  tested to agree).
* :func:`select_entities` applies the overlap policy (flat, or nested with
  ``nested_threshold``);
* :func:`select_pair_entities` is the top-k step: at most ``k`` kept entities per
  document, the highest-scoring, enter the pairs; :func:`entity_pairs` builds the
  ordered pairs among them.
"""

import functools
from typing import Optional, Tuple

import numpy
import torch
from torch import Tensor


def enumerate_spans(length: int, max_width: int) -> numpy.ndarray:
    """All [start, end) spans of width 1..max_width in ``length`` tokens, (S, 2), by
    start then end."""
    starts = numpy.repeat(numpy.arange(length), max_width)
    ends = starts + numpy.tile(numpy.arange(1, max_width + 1), length)
    inside = ends <= length
    return numpy.stack([starts[inside], ends[inside]], -1)


def ordered_pairs(k: int) -> numpy.ndarray:
    """Every ordered pair (first, second) of ``k`` distinct items, (k (k - 1), 2),
    row-major."""
    first, second = numpy.meshgrid(numpy.arange(k), numpy.arange(k), indexing="ij")
    distinct = first != second
    return numpy.stack([first[distinct], second[distinct]], -1)


@functools.lru_cache(maxsize=256)
def candidate_spans(length: int, max_width: int, device: torch.device) -> Tensor:
    """:func:`enumerate_spans` as a device tensor, built once per (length, width,
    device): a constant index tensor shared by the inference calls and never written in
    place."""
    # an ordinary tensor, usable outside inference mode
    with torch.inference_mode(False):
        return torch.as_tensor(enumerate_spans(length, max_width), device=device)


@functools.lru_cache(maxsize=256)
def pair_indices(k: int, device: torch.device) -> Tuple[Tensor, Tensor]:
    """First and second positions of :func:`ordered_pairs` as device tensors, built once
    per ``k``."""
    with torch.inference_mode(False):
        pairs = torch.as_tensor(ordered_pairs(k), device=device).reshape(-1, 2)
        return pairs[:, 0], pairs[:, 1]


def ranks(starts: Tensor, ends: Tensor, scores: Tensor) -> Tensor:
    """Rank (0 = first) of each of the (B, K) spans under the flat rule's order: score
    descending, then length descending, then start, then end. Sorted with successive
    stable sorts, least significant key first."""
    order = torch.arange(starts.shape[-1], device=starts.device).expand_as(starts)
    for key in (ends, starts, starts - ends, -scores):  # starts - ends = -length
        order = order.gather(
            -1, torch.sort(key.gather(-1, order), dim=-1, stable=True).indices
        )
    rank = torch.empty_like(order)
    return rank.scatter_(
        -1, order, torch.arange(order.shape[-1], device=order.device).expand_as(order)
    )


def greedy_non_overlapping(
    starts: Tensor,
    ends: Tensor,
    scores: Tensor,
    candidate: Tensor,
    max_width: int,
    max_rounds: int = 16,
) -> Tensor:
    """Keep-mask (B, S) of the flat rule over spans [starts, ends) (B, S), which must be
    sorted by (start, end) within each row (:func:`enumerate_spans` order);
    ``candidate`` masks the spans that take part.

    Only the candidates are compared (gathered in the same order, K per row, a few per
    sentence once a model is trained). Spans of at most ``max_width`` tokens overlap
    only spans whose start lies within ``max_width`` tokens, i.e. within ``2 * max_width
    ** 2`` positions in this order, so each span is compared with a band of neighbours,
    not with all K: time and memory grow linearly with K.

    Greedy selection is sequential by nature. It is computed as the fixed point of "kept
    = candidate and not overlapped by a kept span of better rank", which is unique (by
    induction on rank) and is reached after as many rounds as the longest chain of
    better-ranked overlaps: a handful for a trained model's predictions, each round one
    flag read from the device. A longer chain (scores that fall monotonically along a
    run of overlapping candidates, as an untrained model's may) would take up to K
    rounds; after ``max_rounds`` the rule is finished rank by rank instead, which is
    exact in K small steps.

    When no two candidates overlap (one read from the device tells), every candidate is
    kept and the ranking is skipped: the common case of a trained model's predictions on
    short documents.
    """
    k = int(candidate.sum(-1).max()) if candidate.numel() else 0
    if k <= 1:  # at most one candidate per row: nothing can overlap
        return candidate.clone()
    # the candidates first, in span order (a stable sort of "not a candidate")
    index = torch.sort((~candidate).to(torch.int8), dim=-1, stable=True).indices[:, :k]
    c_starts, c_ends, c_scores, c_cand = (
        x.gather(-1, index) for x in (starts, ends, scores, candidate)
    )
    # in (start, end) order a candidate overlaps an earlier one iff it starts before the
    # furthest end so far
    reach = torch.cummax(c_ends.masked_fill(~c_cand, 0), dim=-1).values
    if not bool((c_cand[:, 1:] & (c_starts[:, 1:] < reach[:, :-1])).any()):
        return candidate.clone()
    keep = torch.zeros_like(candidate)
    band = min(k - 1, 2 * max_width * max_width)
    neighbour = torch.arange(k, device=starts.device)[:, None] + torch.arange(
        -band, band + 1, device=starts.device
    )
    inside = (neighbour >= 0) & (neighbour < k)
    neighbour = neighbour.clamp(0, k - 1)  # (K, 2 band + 1)

    def gather(x: Tensor) -> Tensor:
        """(B, K) -> (B, K, 2 band + 1): each candidate's neighbours."""
        return x[:, neighbour]

    rank = ranks(c_starts, c_ends, c_scores.masked_fill(~c_cand, -1.0))
    overlaps = (gather(c_starts) < c_ends[..., None]) & (
        c_starts[..., None] < gather(c_ends)
    )
    beaten_by = inside & overlaps & gather(c_cand) & (gather(rank) < rank[..., None])
    kept = c_cand
    for _ in range(max_rounds):
        new = c_cand & ~(beaten_by & gather(kept)).any(-1)
        if torch.equal(new, kept):
            break
        kept = new
    else:
        kept = _greedy_by_rank(rank, beaten_by, neighbour, c_cand)
    return keep.scatter(-1, index, kept & c_cand)


def _greedy_by_rank(
    rank: Tensor, beaten_by: Tensor, neighbour: Tensor, candidate: Tensor
) -> Tensor:
    """The flat rule decided one rank at a time (all rows at once): exact whatever the
    chains' length."""
    order = torch.argsort(rank, dim=-1)
    rows = torch.arange(rank.shape[0], device=rank.device)
    kept = torch.zeros_like(candidate)
    for r in range(rank.shape[-1]):
        node = order[:, r]
        blocked = (beaten_by[rows, node] & kept[rows[:, None], neighbour[node]]).any(-1)
        kept[rows, node] = candidate[rows, node] & ~blocked
    return kept


def select_entities(
    spans: Tensor,
    score: Tensor,
    candidate: Tensor,
    nested_threshold: Optional[float],
    max_width: int,
) -> Tensor:
    """The overlap policy on the span decoder's candidates (B, S): ``nested_threshold``
    None is the flat rule; a number is nested decoding, where a candidate that overlaps
    a better-ranked one is kept only if its score reaches that number (0: every
    candidate, the paper)."""
    if nested_threshold is not None and nested_threshold <= 0.0:
        return candidate
    flat = greedy_non_overlapping(
        spans[..., 0], spans[..., 1], score, candidate, max_width
    )
    if nested_threshold is None:
        return flat
    return flat | (candidate & (score >= nested_threshold))


def select_pair_entities(
    score: Tensor, is_entity: Tensor, k: int
) -> Tuple[Tensor, Tensor]:
    """The top-k step: indices (B, k) of the ``k`` best-scoring entities per row, best
    first, and whether each is a real entity (B, k) (a row with fewer entities is padded
    with non-entities)."""
    masked = torch.where(is_entity, score, torch.full_like(score, -1.0))
    top_score, entities = masked.topk(k, dim=-1)
    return entities, top_score >= 0


def predicted_entities(
    spans: Tensor,
    span_probs: Tensor,
    lengths: Tensor,
    nested_threshold: Optional[float],
    max_width: int,
    max_pair_entities: int,
    boundaries: Optional[Tensor] = None,
) -> Tuple[Tensor, Tensor, Tensor]:
    """The entities among candidate spans (B, S, 2) given the span decoder's
    distribution (B, S, E + 1): the kept mask (B, S) under the overlap policy
    (:func:`select_entities`), and the indices (B, k) of the ``max_pair_entities`` best
    per document with their validity (:func:`select_pair_entities`). A span whose first
    or last token is 0 in ``boundaries`` (B, T) is no candidate (None: any span)."""
    score = span_probs[..., 1:].max(-1).values
    candidate = (spans[..., 1] <= lengths[:, None]) & (span_probs[..., 0] < score)
    if boundaries is not None:
        edge = boundaries.bool()
        first = edge.gather(1, spans[..., 0])
        last = edge.gather(1, (spans[..., 1] - 1).clamp(min=0))
        candidate = candidate & first & last
    is_entity = select_entities(spans, score, candidate, nested_threshold, max_width)
    # one read from the device: the most entities a document has
    k = int(is_entity.sum(-1).max()) if is_entity.numel() else 0
    return (is_entity,) + select_pair_entities(
        score, is_entity, min(max_pair_entities, k)
    )


def given_pair_entities(given: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
    """:func:`predicted_entities` for given entities (B, k, 2) padded with empty spans:
    every one is paired."""
    is_entity = given[..., 1] > given[..., 0]
    entities = torch.arange(given.shape[1], device=given.device)
    return is_entity, entities.expand(given.shape[0], -1), is_entity


def entity_pairs(
    entities: Tensor, entity_valid: Tensor
) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
    """Every ordered pair of the (B, k) selected entities: pairs (B, P, 2) of span
    indices, whether both are real entities (B, P), and the pairs' first and second
    positions among the k (P,)."""
    head, tail = pair_indices(entities.shape[1], entities.device)
    pairs = torch.stack([entities[:, head], entities[:, tail]], dim=-1)
    return pairs, entity_valid[:, head] & entity_valid[:, tail], head, tail
