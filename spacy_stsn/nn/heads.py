"""The span and relation heads of STSN (paper section 3.3, Eq. 11-16) as pure PyTorch
functions.

The network owns the parameters (the width embedding and the decoders, so saved state
dicts keep their names); these functions compute with them. Training scores the sampled
candidates through the concatenated representations, exactly as the equations read.
Inference uses the *factored* form: both decoders are linear in the parts of their input
([H_head; H_tail; W_width] and [span; span; context]), so each part is multiplied once
per token, width or entity and the products are summed per span or pair. The numbers are
the same (tested), for about a tenth of the work.
"""

from typing import Optional, Tuple

import torch
from torch import Tensor, nn

# pairs whose context is max-pooled at once at inference, so that a long document cannot
# blow up memory
PAIR_CHUNK = 4096


def span_widths(spans: Tensor, width_embedding: nn.Embedding) -> Tensor:
    """Widths of spans (B, S, 2), clamped to the width embedding's rows (1..epsilon)."""
    max_width = width_embedding.num_embeddings - 1
    return (spans[..., 1] - spans[..., 0]).clamp(1, max_width)


def span_representations(
    hidden: Tensor, spans: Tensor, width_embedding: nn.Embedding
) -> Tensor:
    """Eq. 11: [H_head; H_tail; W_width] for spans (B, S, 2) of [start, end) offsets."""
    batch_idx = torch.arange(hidden.shape[0], device=hidden.device)[:, None]
    starts, ends = spans[..., 0], spans[..., 1]
    return torch.cat(
        [
            hidden[batch_idx, starts],
            hidden[batch_idx, (ends - 1).clamp(min=0)],
            width_embedding(span_widths(spans, width_embedding)),
        ],
        dim=-1,
    )


def span_linear(
    hidden: Tensor, weight: Tensor, spans: Tensor, width_embedding: nn.Embedding
) -> Tensor:
    """``weight`` (out, 2d + w) times Eq. 11's representations of spans (B, S, 2), as
    (B, S, out), without building them: the product is applied to each token and each
    width once and summed per span."""
    d = hidden.shape[-1]
    # (B, T, 2 out): every token as a span's first and as its last token
    per_token = hidden @ torch.cat([weight[:, :d], weight[:, d : 2 * d]]).T
    head, tail = per_token.split(weight.shape[0], dim=-1)
    per_width = width_embedding.weight @ weight[:, 2 * d :].T
    batch_idx = torch.arange(hidden.shape[0], device=hidden.device)[:, None]
    return (
        head[batch_idx, spans[..., 0]]
        + tail[batch_idx, (spans[..., 1] - 1).clamp(min=0)]
        + per_width[span_widths(spans, width_embedding)]
    )


def span_logits_factored(
    h_e: Tensor, spans: Tensor, decoder: nn.Linear, width_embedding: nn.Embedding
) -> Tensor:
    """Inference-time Eq. 12 logits (B, S, E + 1):
    ``decoder(span_representations(...))`` without dropout."""
    return span_linear(h_e, decoder.weight, spans, width_embedding) + decoder.bias


def context_bounds(head_spans: Tensor, tail_spans: Tensor) -> Tuple[Tensor, Tensor]:
    """The context between two arguments, as SpERT: [end of the first, start of the
    second)."""
    before = head_spans[..., 1] <= tail_spans[..., 0]
    ctx_start = torch.where(before, head_spans[..., 1], tail_spans[..., 1])
    ctx_end = torch.where(before, tail_spans[..., 0], head_spans[..., 0])
    return ctx_start, ctx_end


def max_table(hidden: Tensor) -> Tensor:
    """Sparse table for :func:`range_max`: level k holds the max over windows of 2^k
    tokens, (L, B, T, d). It depends on ``hidden`` only, so one table answers every
    chunk of pairs."""
    length = hidden.shape[1]
    levels = [hidden]
    step = 1
    while 2 * step <= length:
        prev = levels[-1]
        levels.append(torch.maximum(prev[:, :-step], prev[:, step:]))
        step *= 2
    return torch.stack(
        [nn.functional.pad(lvl, (0, 0, 0, length - lvl.shape[1])) for lvl in levels]
    )


def range_max(
    hidden: Tensor, starts: Tensor, ends: Tensor, table: Optional[Tensor] = None
) -> Tensor:
    """Max-pool ``hidden`` (B, T, d) over token ranges [starts, ends) given as (B, P);
    empty ranges give 0.

    A sparse table (:func:`max_table`, built here unless given) answers each range with
    two lookups, so memory is O(B T log T d) rather than the O(B P T d) of a mask per
    pair: a 2,000-token document with thousands of candidate pairs stays cheap.
    """
    if table is None:
        table = max_table(hidden)
    length = hidden.shape[1]
    size = (ends - starts).clamp(min=1)
    level = torch.floor(torch.log2(size.double())).long().clamp(max=table.shape[0] - 1)
    batch_idx = torch.arange(hidden.shape[0], device=hidden.device)[:, None]
    batch_idx = batch_idx.expand_as(starts)
    left = table[level, batch_idx, starts.clamp(0, length - 1)]
    right = table[level, batch_idx, (ends - (1 << level)).clamp(0, length - 1)]
    pooled = torch.maximum(left, right)
    return pooled * (ends > starts).unsqueeze(-1).to(pooled.dtype)


def relation_logits(
    h_r: Tensor,
    head_spans: Tensor,
    tail_spans: Tensor,
    decoder: nn.Linear,
    width_embedding: nn.Embedding,
    dropout: nn.Module,
) -> Tensor:
    """Training-time Eq. 15-16 before the sigmoid, (B, P, R), for argument spans (B, P,
    2)."""
    ctx_start, ctx_end = context_bounds(head_spans, tail_spans)
    rel = torch.cat(
        [
            span_representations(h_r, head_spans, width_embedding),
            span_representations(h_r, tail_spans, width_embedding),
            range_max(h_r, ctx_start, ctx_end),
        ],
        dim=-1,
    )
    return decoder(dropout(rel))


def relation_logits_factored(
    h_r: Tensor,
    entity_spans: Tensor,
    head: Tensor,
    tail: Tensor,
    decoder: nn.Linear,
    width_embedding: nn.Embedding,
) -> Tensor:
    """Inference-time Eq. 15 logits (B, P, R) for the pairs (head[i], tail[i]) of
    ``entity_spans`` (B, k, 2).

    The argument parts are computed once per entity (k <= max_pair_entities) rather than
    once per pair (k (k - 1)); only the context max-pool is per pair, in chunks of about
    PAIR_CHUNK rows."""
    weight = decoder.weight
    if head.shape[0] == 0 or weight.shape[0] == 0:  # no pairs, or no relation types
        return h_r.new_zeros(h_r.shape[0], head.shape[0], weight.shape[0])
    width = 2 * h_r.shape[-1] + width_embedding.embedding_dim
    as_head = span_linear(h_r, weight[:, :width], entity_spans, width_embedding)
    as_tail = span_linear(
        h_r, weight[:, width : 2 * width], entity_spans, width_embedding
    )
    ctx_start, ctx_end = context_bounds(entity_spans[:, head], entity_spans[:, tail])
    table = max_table(h_r)
    step = max(1, PAIR_CHUNK // max(h_r.shape[0], 1))
    context = torch.cat(
        [h_r.new_zeros(h_r.shape[0], 0, h_r.shape[-1])]
        + [
            range_max(h_r, ctx_start[:, i : i + step], ctx_end[:, i : i + step], table)
            for i in range(0, head.shape[0], step)
        ],
        dim=1,
    )
    return (
        as_head[:, head]
        + as_tail[:, tail]
        + context @ weight[:, 2 * width :].T
        + decoder.bias
    )


def gather_spans(spans: Tensor, index: Tensor) -> Tensor:
    """The spans (B, k, 2) at ``index`` (B, k) among spans (B, S, 2)."""
    return spans[torch.arange(spans.shape[0], device=spans.device)[:, None], index]


def gather_pairs(spans: Tensor, pairs: Tensor) -> Tuple[Tensor, Tensor]:
    """Head and tail spans (B, P, 2) of pairs (B, P, 2) that index into spans
    (B, S, 2)."""
    return gather_spans(spans, pairs[..., 0]), gather_spans(spans, pairs[..., 1])
