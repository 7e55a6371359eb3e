"""Which candidate spans become entities at inference, on the device and batched (pure PyTorch, no spaCy).

The span decoder scores every span up to ``max_span_width`` tokens independently, so nothing in the network
stops it from predicting "John Wilkes Booth" and "Abraham Lincoln" *and* an overlapping "Booth shot Abraham".
The overlap policy (the component's ``overlaps`` setting, see :mod:`spacy_stsn.decoding`) decides what is kept
*before* relation candidates are built, so pairs are classified among kept entities only:

* :func:`greedy_non_overlapping` is the flat rule: highest score first, then the longer span, then the earlier
  one; a span is kept when it shares no token with a span kept before it. It is the rule ``doc.ents`` has always
  used (:func:`spacy_stsn.decoding.select_non_overlapping` is its host-side twin, tested to agree).
* :func:`select_pair_entities` is the top-k step: at most ``k`` kept entities per document, the highest-scoring,
  enter the pairs.
"""
from typing import Tuple

import torch
from torch import Tensor


def ranks(starts: Tensor, ends: Tensor, scores: Tensor) -> Tensor:
    """Rank (0 = first) of each of the (B, K) spans under the flat rule's order: score descending, then length
    descending, then start, then end. Sorted with successive stable sorts, least significant key first."""
    order = torch.arange(starts.shape[-1], device=starts.device).expand_as(starts)
    for key in (ends, starts, starts - ends, -scores):  # starts - ends = -length
        order = order.gather(-1, torch.sort(key.gather(-1, order), dim=-1, stable=True).indices)
    rank = torch.empty_like(order)
    return rank.scatter_(-1, order, torch.arange(order.shape[-1], device=order.device).expand_as(order))


def greedy_non_overlapping(
    starts: Tensor, ends: Tensor, scores: Tensor, candidate: Tensor, max_width: int
) -> Tensor:
    """Keep-mask (B, K) of the flat rule over candidate spans [starts, ends) (B, K), which must be sorted by
    (start, end) within each row (:func:`spacy_stsn.stsn_torch.enumerate_spans` order); ``candidate`` masks the
    spans that take part.

    Greedy selection is sequential by nature; here it is the fixed point of "kept = candidate and not
    overlapped by a kept span of better rank", which is unique (by induction on rank) and is reached after as
    many rounds as the longest chain of better-ranked overlaps, a handful in practice. Spans of at most
    ``max_width`` tokens can only overlap spans whose start lies within ``max_width`` tokens, i.e. within
    ``2 * max_width ** 2`` positions in this order, so each round compares a band of neighbours, not all pairs:
    time and memory grow linearly with the number of spans. Each round's convergence check reads one flag
    from the device.
    """
    n = starts.shape[-1]
    if n == 0:
        return candidate.clone()
    band = min(n - 1, 2 * max_width * max_width)
    offsets = torch.arange(-band, band + 1, device=starts.device)
    neighbour = torch.arange(n, device=starts.device)[:, None] + offsets  # (K, 2 band + 1)
    inside = (neighbour >= 0) & (neighbour < n)
    neighbour = neighbour.clamp(0, n - 1)

    def gather(x: Tensor) -> Tensor:  # (B, K) -> (B, K, 2 band + 1): each span's neighbours
        return x[:, neighbour]

    rank = ranks(starts, ends, scores)
    overlaps = (gather(starts) < ends[..., None]) & (starts[..., None] < gather(ends))
    beaten_by = inside & overlaps & gather(candidate) & (gather(rank) < rank[..., None])
    keep = candidate
    for _ in range(n):
        new = candidate & ~(beaten_by & gather(keep)).any(-1)
        if torch.equal(new, keep):
            break
        keep = new
    return keep


def select_pair_entities(score: Tensor, is_entity: Tensor, k: int) -> Tuple[Tensor, Tensor]:
    """The top-k step: indices (B, k) of the ``k`` best-scoring entities per row, best first, and whether each
    is a real entity (B, k) (a row with fewer entities is padded with non-entities)."""
    masked = torch.where(is_entity, score, torch.full_like(score, -1.0))
    top_score, entities = masked.topk(k, dim=-1)
    return entities, top_score >= 0
