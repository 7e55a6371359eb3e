"""The STSN network (paper section 3) as a pure PyTorch module: no spaCy or Thinc in here.

Input is a padded batch of aligned token vectors (the Align Module's max-pooled word pieces, Eq. 2). The module
projects them to H_L^0, H_E^0, H_R^0, runs N stacked attention layers (Eq. 4; each layer has the three units of
Figure 3) and decodes token tags (Eq. 8), spans (Eq. 11-12) and relations (Eq. 15-16). Everything is batched:
spans and pairs are index tensors and representations are gathered, never built in Python loops.
"""

import functools
from typing import NamedTuple, Optional, Tuple

import torch
from torch import Tensor, nn

from .span_selection import greedy_non_overlapping, select_pair_entities

INTERACTIONS = ("bi", "ner_to_re", "re_to_ner", "none")
PAIR_CHUNK = 4096


class Extraction(NamedTuple):
    """What :meth:`STSN.extract` returns for a padded batch of B documents (S candidate spans, P pairs); the
    Thinc wrapper hands the same fields back as arrays of its ops."""

    tag_probs: Tensor  # (B, T, l) tagging decoder's distribution per token (l = 0 without tagging decoder)
    spans: Tensor  # (B, S, 2) candidate [start, end) offsets
    span_probs: (
        Tensor  # (B, S, E + 1) span decoder's distribution, index 0 = NoneEntity
    )
    is_entity: Tensor  # (B, S) kept entities, after the overlap policy
    pairs: Tensor  # (B, P, 2) head and tail indices into ``spans``
    pair_valid: Tensor  # (B, P) whether both arguments are kept entities
    rel_probs: Tensor  # (B, P, R) relation decoder's sigmoid per type


class Packing:
    """Where the real tokens of a padded (B, T) batch sit: the per-token layers (projections, FFN, LayerNorm)
    run on the packed (N, d) real tokens only, and only attention sees the padded layout. In a batch of
    sentences of mixed length, padding is often as many positions as the tokens themselves (twice the work)."""

    def __init__(self, lengths: Tensor, max_length: int):
        self.batch, self.length = int(lengths.shape[0]), max_length
        self.padding = (
            torch.arange(max_length, device=lengths.device)[None, :] >= lengths[:, None]
        )
        index = (
            (~self.padding).reshape(-1).nonzero().squeeze(-1)
        )  # flat positions of the real tokens
        # Without padding (a single document, or documents of one length) packing is a reshape and attention
        # needs no mask; nonzero's size says so without another read from the device.
        self.index = index if index.shape[0] < self.batch * max_length else None
        self.mask = (
            self.padding if self.index is not None else None
        )  # attention's key padding, None: no padding

    def pack(self, padded: Tensor) -> Tensor:
        """(B, T, d) -> (N, d)."""
        if self.index is None:
            return padded.reshape(-1, padded.shape[-1])
        return padded.reshape(-1, padded.shape[-1]).index_select(0, self.index)

    def unpack(self, packed: Tensor) -> Tensor:
        """(N, d) -> (B, T, d), zeros at padded positions."""
        if self.index is None:
            return packed.reshape(self.batch, self.length, -1)
        out = packed.new_zeros(self.batch * self.length, packed.shape[-1])
        return out.index_copy(0, self.index, packed).reshape(
            self.batch, self.length, -1
        )


def attend(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    key_padding: Optional[Tensor],
    n_heads: int,
    dropout: float,
) -> Tensor:
    """Multi-head scaled dot-product attention of projected (B, Tq, d) queries over (B, Tk, d) keys/values;
    ``key_padding`` (B, Tk) is True where a key takes no part (None: every key does)."""
    if query.dtype == torch.bfloat16 and query.device.type == "cpu":
        # bfloat16 inference: the CPU's bfloat16 attention kernel is about twice slower than float32 (measured
        # with torch 2.13), and attention is a small part of the work, so only the projections stay bfloat16.
        with torch.autocast("cpu", enabled=False):
            return attend(
                query.float(), key.float(), value.float(), key_padding, n_heads, dropout
            ).bfloat16()
    batch, t_q, width = query.shape

    def heads(x: Tensor) -> Tensor:  # (B, T, d) -> (B, heads, T, d / heads)
        return x.reshape(batch, x.shape[1], n_heads, width // n_heads).transpose(1, 2)

    mask = None if key_padding is None else ~key_padding[:, None, None, :]
    out = nn.functional.scaled_dot_product_attention(
        heads(query), heads(key), heads(value), attn_mask=mask, dropout_p=dropout
    )
    return out.transpose(1, 2).reshape(batch, t_q, width)


class AttentionUnit(nn.Module):
    """One basic attention unit (Figure 3): multi-head attention then a position-wise FFN (Eq. 5-7),
    each with a residual connection followed by LayerNorm.

    It works on packed tokens (see :class:`Packing`): the projections, the FFN and the LayerNorms never see a
    padded position. The weights live in an ``nn.MultiheadAttention`` (the same parameters and the same
    arithmetic: Q, K, V in-projections, scaled dot-product attention, out-projection).

    ``window`` bounds the cost on long documents: a sequence of at most ``window`` tokens gets full attention
    (the paper's setting: every CoNLL04 and ADE sentence is shorter than the default 128), a longer one is cut
    into blocks of ``window`` tokens whose queries attend to their own and the two neighbouring blocks. Time
    and memory then grow linearly with length instead of quadratically, with the same parameters.
    """

    def __init__(
        self, width: int, n_heads: int, dropout: float, window: Optional[int] = None
    ):
        super().__init__()
        if window is not None and window < 1:
            raise ValueError(f"attention window must be >= 1 or None, not {window}")
        self.window = window
        self.attention = nn.MultiheadAttention(
            width, n_heads, dropout=dropout, batch_first=True
        )
        self.norm1 = nn.LayerNorm(width)
        self.ffn = nn.Sequential(
            nn.Linear(width, width), nn.ReLU(), nn.Linear(width, width)
        )
        self.norm2 = nn.LayerNorm(width)
        self.dropout = nn.Dropout(dropout)

    def forward(self, query: Tensor, key_value: Tensor, packing: Packing) -> Tensor:
        """``query`` and ``key_value`` are packed (N, d) tokens of the batch that ``packing`` describes;
        padded positions get no attention."""
        mha = self.attention
        width = query.shape[-1]
        q = nn.functional.linear(
            query, mha.in_proj_weight[:width], mha.in_proj_bias[:width]
        )
        kv = nn.functional.linear(
            key_value, mha.in_proj_weight[width:], mha.in_proj_bias[width:]
        )
        q, (k, v) = packing.unpack(q), packing.unpack(kv).chunk(2, dim=-1)
        dropout = mha.dropout if self.training else 0.0
        if self.window is None or packing.length <= self.window:
            attended = attend(q, k, v, packing.mask, mha.num_heads, dropout)
        else:
            attended = self._blocked_attention(q, k, v, packing.padding, dropout)
        hidden = self.norm1(query + self.dropout(mha.out_proj(packing.pack(attended))))
        return self.norm2(hidden + self.dropout(self.ffn(hidden)))

    def _blocked_attention(
        self, q: Tensor, k: Tensor, v: Tensor, padding: Tensor, dropout: float
    ) -> Tensor:
        """Attention of each block of ``window`` queries to the keys of blocks i-1, i and i+1, batched as
        (batch * blocks) independent sequences: O(T * window) memory rather than O(T^2)."""
        batch, length, width = q.shape
        w = self.window
        n_blocks = -(-length // w)
        extra = n_blocks * w - length
        q = nn.functional.pad(q, (0, 0, 0, extra)).reshape(batch * n_blocks, w, width)

        def frames(
            x: Tensor,
        ) -> (
            Tensor
        ):  # pad one block before and after, slide a 3-block frame by one block
            x = nn.functional.pad(x, (0, 0, w, extra + w))
            return (
                x.unfold(1, 3 * w, w)
                .permute(0, 1, 3, 2)
                .reshape(batch * n_blocks, 3 * w, width)
            )

        mask = nn.functional.pad(padding, (w, extra + w), value=True).unfold(
            1, 3 * w, w
        )
        mask = mask.reshape(batch * n_blocks, 3 * w).clone()
        # a block made only of padding would softmax over nothing (NaN); let it see one key, its output is unused
        mask[mask.all(-1), w] = False
        attended = attend(
            q, frames(k), frames(v), mask, self.attention.num_heads, dropout
        )
        return attended.reshape(batch, n_blocks * w, width)[:, :length]


class AttentionLayer(nn.Module):
    """One stacked layer (Eq. 3-4): E&R-L-A updates H_L from H_C, then L-E-A and L-R-A infuse the new H_L
    into H_E and H_R. ``interaction`` selects what E&R-L-A attends to (the ablations of Table 5)."""

    def __init__(
        self,
        width: int,
        n_heads: int,
        dropout: float,
        interaction: str,
        window: Optional[int] = None,
    ):
        super().__init__()
        if interaction not in INTERACTIONS:
            raise ValueError(
                f"interaction must be one of {INTERACTIONS}, not {interaction!r}"
            )
        self.interaction = interaction
        # W_C, b_C of Eq. 3 exist only when H_C really combines H_E and H_R.
        self.combine = nn.Linear(2 * width, width) if interaction == "bi" else None
        self.label_unit = AttentionUnit(width, n_heads, dropout, window)  # E&R-L-A
        self.entity_unit = AttentionUnit(width, n_heads, dropout, window)  # L-E-A
        self.relation_unit = AttentionUnit(width, n_heads, dropout, window)  # L-R-A

    def forward(
        self, h_l: Tensor, h_e: Tensor, h_r: Tensor, packing: Packing
    ) -> Tuple[Tensor, Tensor, Tensor]:
        """Packed (N, d) states in, packed states out."""
        if self.combine is not None:
            h_c = self.combine(torch.cat([h_e, h_r], dim=-1))
        elif self.interaction == "ner_to_re":
            h_c = h_e  # w/o Bi-Interaction (dagger): H_L no longer attends to H_R
        elif self.interaction == "re_to_ner":
            h_c = (
                h_r  # w/o Bi-Interaction (double dagger): H_L no longer attends to H_E
            )
        else:
            h_c = h_l  # w/o Interaction: E&R-L-A is self-attention
        h_l = self.label_unit(h_l, h_c, packing)
        return (
            h_l,
            self.entity_unit(h_e, h_l, packing),
            self.relation_unit(h_r, h_l, packing),
        )


def enumerate_spans(
    length: int, max_width: int, device: Optional[torch.device] = None
) -> Tensor:
    """All (start, end) spans of width 1..max_width in a sequence of ``length`` tokens, shape (S, 2)."""
    starts = torch.arange(length, device=device)
    widths = torch.arange(1, max_width + 1, device=device)
    ends = starts[:, None] + widths[None, :]
    keep = ends <= length
    return torch.stack([starts[:, None].expand_as(ends)[keep], ends[keep]], dim=-1)


@functools.lru_cache(maxsize=256)
def candidate_spans(length: int, max_width: int, device: torch.device) -> Tensor:
    """:func:`enumerate_spans`, built once per (length, width, device) rather than at every inference call:
    a constant index tensor, shared by the calls and never written in place."""
    with torch.inference_mode(
        False
    ):  # an ordinary tensor, usable outside inference mode too
        return enumerate_spans(length, max_width, device)


@functools.lru_cache(maxsize=256)
def ordered_pairs(k: int, device: torch.device) -> Tuple[Tensor, Tensor]:
    """First and second positions (k (k - 1),) of every ordered pair of ``k`` distinct items, row-major; built
    once per ``k`` (as :func:`candidate_spans`)."""
    with torch.inference_mode(False):
        first, second = torch.meshgrid(
            torch.arange(k, device=device),
            torch.arange(k, device=device),
            indexing="ij",
        )
        distinct = first != second
        return first[distinct], second[distinct]


def max_table(hidden: Tensor) -> Tensor:
    """Sparse table for :func:`range_max`: level k holds the max over windows of 2^k tokens, (L, B, T, d).
    It depends on ``hidden`` only, so one table answers every chunk of pairs."""
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
    """Max-pool ``hidden`` (B, T, d) over token ranges [starts, ends) given as (B, P); empty ranges give 0.

    A sparse table (:func:`max_table`, built here unless given) answers each range with two lookups, so memory
    is O(B T log T d) rather than the O(B P T d) of a mask per pair: a 2,000-token document with thousands of
    candidate pairs stays cheap.
    """
    if table is None:
        table = max_table(hidden)
    length = hidden.shape[1]
    size = (ends - starts).clamp(min=1)
    level = torch.floor(torch.log2(size.double())).long().clamp(max=table.shape[0] - 1)
    batch_idx = torch.arange(hidden.shape[0], device=hidden.device)[:, None].expand_as(
        starts
    )
    left = table[level, batch_idx, starts.clamp(0, length - 1)]
    right = table[level, batch_idx, (ends - (1 << level)).clamp(0, length - 1)]
    pooled = torch.maximum(left, right)
    return pooled * (ends > starts).unsqueeze(-1).to(pooled.dtype)


class STSN(nn.Module):
    """Sequence Tagging augmented Span-based Network.

    The label-dependent decoders are created by :meth:`build`, once the input width and the label sets are
    known (a spaCy pipeline learns them from data at ``initialize``).
    """

    def __init__(
        self,
        hidden_width: Optional[int] = None,
        n_layers: int = 3,
        n_heads: int = 8,
        width_embedding: int = 150,
        max_span_width: int = 10,
        interaction: str = "bi",
        dropout: float = 0.1,
        max_pair_entities: int = 100,
        attention_window: Optional[int] = 128,
        overlap_threshold: float = 0.0,
    ):
        super().__init__()
        if n_layers < 0:
            raise ValueError(f"n_layers must be >= 0, not {n_layers}")
        if interaction not in INTERACTIONS:
            raise ValueError(
                f"interaction must be one of {INTERACTIONS}, not {interaction!r}"
            )
        self.hidden_width = hidden_width
        self.n_layers = n_layers
        self.n_heads = n_heads
        self.width_dim = width_embedding
        self.max_span_width = max_span_width
        self.interaction = interaction
        self.dropout_rate = dropout
        self.max_pair_entities = max_pair_entities
        self.attention_window = attention_window
        # a span that overlaps a better-ranked entity is kept only if its score reaches this: 0 keeps every
        # overlap (the paper), > 1 keeps none (flat); set by the component's overlap policy
        self.overlap_threshold = overlap_threshold
        self.is_built = False

    def build(
        self,
        input_width: int,
        n_entity_labels: int,
        n_relation_labels: int,
        n_tags: int,
    ) -> "STSN":
        """Create the parameters. ``n_tags`` is ignored (no tagging decoder) when ``n_layers == 0``."""
        width = self.hidden_width or input_width
        if self.n_layers and width % self.n_heads:
            raise ValueError(
                f"hidden width {width} is not divisible by n_heads={self.n_heads}"
            )
        self.width = width
        self.dims = (input_width, n_entity_labels, n_relation_labels, n_tags)
        self.project_e = nn.Linear(input_width, width)
        self.project_r = nn.Linear(input_width, width)
        # "w/o Label" (n_layers == 0): no H_L, no stacked layers and no tagging decoder.
        self.project_l = nn.Linear(input_width, width) if self.n_layers else None
        self.layers = nn.ModuleList(
            AttentionLayer(
                width,
                self.n_heads,
                self.dropout_rate,
                self.interaction,
                self.attention_window,
            )
            for _ in range(self.n_layers)
        )
        self.tag_decoder = nn.Linear(width, n_tags) if self.n_layers else None
        self.width_embedding = nn.Embedding(self.max_span_width + 1, self.width_dim)
        span_width = 2 * width + self.width_dim
        self.span_decoder = nn.Linear(
            span_width, n_entity_labels + 1
        )  # index 0 = NoneEntity
        self.relation_decoder = nn.Linear(2 * span_width + width, n_relation_labels)
        self.dropout = nn.Dropout(self.dropout_rate)
        self.is_built = True
        return self

    def set_dropout(self, rate: Optional[float]) -> None:
        """Dropout for the next passes (spaCy's ``[training] dropout`` reaches here through ``update(drop=)``);
        ``None`` restores the rate the module was built with."""
        rate = self.dropout_rate if rate is None else rate
        for module in self.modules():
            if isinstance(module, nn.Dropout):
                module.p = rate
            elif isinstance(module, nn.MultiheadAttention):
                module.dropout = rate

    def encode(
        self, tokens: Tensor, lengths: Tensor
    ) -> Tuple[Optional[Tensor], Tensor, Tensor]:
        """Map aligned token vectors (B, T, D) to H_L^N, H_E^N, H_R^N (each (B, T, d), zero at padding)."""
        packing = Packing(lengths, tokens.shape[1])
        tokens = packing.pack(tokens)
        h_e, h_r = self.project_e(tokens), self.project_r(tokens)
        h_l = self.project_l(tokens) if self.project_l is not None else None
        for layer in self.layers:
            h_l, h_e, h_r = layer(h_l, h_e, h_r, packing)
        return tuple(
            packing.unpack(h) if h is not None else None for h in (h_l, h_e, h_r)
        )

    def span_representations(self, hidden: Tensor, spans: Tensor) -> Tensor:
        """Eq. 11: [H_head; H_tail; W_width] for spans (B, S, 2) of [start, end) offsets."""
        batch_idx = torch.arange(hidden.shape[0], device=hidden.device)[:, None]
        starts, ends = spans[..., 0], spans[..., 1]
        widths = (ends - starts).clamp(1, self.max_span_width)
        return torch.cat(
            [
                hidden[batch_idx, starts],
                hidden[batch_idx, (ends - 1).clamp(min=0)],
                self.width_embedding(widths),
            ],
            dim=-1,
        )

    def span_linear(self, hidden: Tensor, weight: Tensor, spans: Tensor) -> Tensor:
        """``weight`` (out, 2d + w) times Eq. 11's [H_head; H_tail; W_width] of spans (B, S, 2), (B, S, out),
        without building the (B, S, 2d + w) representations: the product is linear in the three parts, so it is
        applied to each token (and width) once and the parts are summed per span."""
        d = hidden.shape[-1]
        per_token = (
            hidden @ torch.cat([weight[:, :d], weight[:, d : 2 * d]]).T
        )  # (B, T, 2 out)
        head, tail = per_token.split(weight.shape[0], dim=-1)
        per_width = self.width_embedding.weight @ weight[:, 2 * d :].T
        batch_idx = torch.arange(hidden.shape[0], device=hidden.device)[:, None]
        starts, ends = spans[..., 0], spans[..., 1]
        widths = (ends - starts).clamp(1, self.max_span_width)
        return (
            head[batch_idx, starts]
            + tail[batch_idx, (ends - 1).clamp(min=0)]
            + per_width[widths]
        )

    def span_logits_factored(self, h_e: Tensor, spans: Tensor) -> Tensor:
        """Inference-time Eq. 12 logits: the same numbers as ``span_decoder(span_representations(...))`` without
        dropout, for about a tenth of the work (S is 10 T)."""
        return (
            self.span_linear(h_e, self.span_decoder.weight, spans)
            + self.span_decoder.bias
        )

    @staticmethod
    def context_bounds(head_spans: Tensor, tail_spans: Tensor) -> Tuple[Tensor, Tensor]:
        """The context between two arguments, as SpERT: [end of the first, start of the second)."""
        before = head_spans[..., 1] <= tail_spans[..., 0]
        ctx_start = torch.where(before, head_spans[..., 1], tail_spans[..., 1])
        ctx_end = torch.where(before, tail_spans[..., 0], head_spans[..., 0])
        return ctx_start, ctx_end

    def relation_logits_factored(
        self,
        h_r: Tensor,
        entity_spans: Tensor,
        head: Tensor,
        tail: Tensor,
        table: Optional[Tensor] = None,
    ) -> Tensor:
        """Inference-time Eq. 15 logits (B, P, R) for the pairs (head[i], tail[i]) of ``entity_spans`` (B, k, 2):
        the decoder is linear in [head; tail; context], so the argument parts are computed once per entity
        (k <= max_pair_entities) rather than once per pair (k (k - 1)); only the context max-pool is per pair,
        in chunks of about PAIR_CHUNK rows so that a long document cannot blow up memory."""
        weight = self.relation_decoder.weight
        if head.shape[0] == 0:  # fewer than two entities: nothing to score
            return h_r.new_zeros(h_r.shape[0], 0, weight.shape[0])
        width = 2 * h_r.shape[-1] + self.width_dim
        as_head = self.span_linear(h_r, weight[:, :width], entity_spans)
        as_tail = self.span_linear(h_r, weight[:, width : 2 * width], entity_spans)
        ctx_start, ctx_end = self.context_bounds(
            entity_spans[:, head], entity_spans[:, tail]
        )
        step = max(1, PAIR_CHUNK // max(h_r.shape[0], 1))
        context = torch.cat(
            [h_r.new_zeros(h_r.shape[0], 0, h_r.shape[-1])]
            + [
                range_max(
                    h_r, ctx_start[:, i : i + step], ctx_end[:, i : i + step], table
                )
                for i in range(0, head.shape[0], step)
            ],
            dim=1,
        )
        return (
            as_head[:, head]
            + as_tail[:, tail]
            + context @ weight[:, 2 * width :].T
            + self.relation_decoder.bias
        )

    def relation_logits(
        self,
        h_r: Tensor,
        head_spans: Tensor,
        tail_spans: Tensor,
        table: Optional[Tensor] = None,
    ) -> Tensor:
        """Eq. 15-16 before the sigmoid, for argument spans (B, P, 2) of [start, end) offsets."""
        ctx_start, ctx_end = self.context_bounds(head_spans, tail_spans)
        rel = torch.cat(
            [
                self.span_representations(h_r, head_spans),
                self.span_representations(h_r, tail_spans),
                range_max(h_r, ctx_start, ctx_end, table),
            ],
            dim=-1,
        )
        return self.relation_decoder(self.dropout(rel))

    @staticmethod
    def gather_pairs(spans: Tensor, pairs: Tensor) -> Tuple[Tensor, Tensor]:
        """Head and tail spans (B, P, 2) of pairs (B, P, 2) that index into spans (B, S, 2)."""
        batch_idx = torch.arange(spans.shape[0], device=spans.device)[:, None]
        return spans[batch_idx, pairs[..., 0]], spans[batch_idx, pairs[..., 1]]

    def forward(
        self,
        tokens: Tensor,
        lengths: Tensor,
        spans: Optional[Tensor] = None,
        pairs: Optional[Tensor] = None,
    ) -> Tuple[Tensor, ...]:
        """Training (``spans`` and ``pairs`` given): logits for tags (B, T, l), spans (B, S, E+1), pairs (B, P, R).
        Inference (``spans`` None, or ``spans`` given as the entities and ``pairs`` None): see :meth:`extract`."""
        if pairs is None:
            return self.extract(tokens, lengths, given=spans)
        h_l, h_e, h_r = self.encode(tokens, lengths)
        tag_logits = self._tag_logits(h_l, tokens)
        span_logits = self.span_decoder(
            self.dropout(self.span_representations(h_e, spans))
        )
        return (
            tag_logits,
            span_logits,
            self.relation_logits(h_r, *self.gather_pairs(spans, pairs)),
        )

    def _tag_logits(self, h_l: Optional[Tensor], tokens: Tensor) -> Tensor:
        if self.tag_decoder is None:
            return tokens.new_zeros(tokens.shape[0], tokens.shape[1], 0)
        return self.tag_decoder(self.dropout(h_l))

    def extract(
        self, tokens: Tensor, lengths: Tensor, given: Optional[Tensor] = None
    ) -> Extraction:
        """Inference: classify every span up to ``max_span_width`` tokens, keep those predicted as entities
        (under the overlap policy, :meth:`entities`), and score every ordered pair of them.

        At most ``max_pair_entities`` entities per document (the highest-scoring, :func:`select_pair_entities`)
        enter the pairs, which bounds the number of pairs on long documents.

        ``given`` (B, k, 2) replaces the predicted entities by entities from elsewhere (an upstream NER, a
        dictionary), padded with empty [0, 0) spans: the spans are then ``given`` (with the span decoder's opinion
        of them in ``span_probs``) and only relations are predicted, among the first ``max_pair_entities``.

        Under a bfloat16 autocast (the pipeline's precision, :mod:`spacy_stsn.precision`) the encoder part
        (projections and stacked layers, nearly all the arithmetic) runs in bfloat16; the decoders, which turn
        its states into scores, always run in float32.
        """
        h_l, h_e, h_r = self.encode(tokens, lengths)
        with torch.autocast(tokens.device.type, enabled=False):
            return self._decode(tokens, lengths, given, h_l, h_e, h_r)

    def _decode(self, tokens, lengths, given, h_l, h_e, h_r) -> Extraction:
        h_l, h_e, h_r = (h.float() if h is not None else None for h in (h_l, h_e, h_r))
        tag_probs = self._tag_logits(h_l, tokens).softmax(-1)
        batch = tokens.shape[0]
        if given is None:
            spans = candidate_spans(tokens.shape[1], self.max_span_width, tokens.device)
            spans = spans[None].expand(batch, -1, -1)
            span_valid = spans[..., 1] <= lengths[:, None]
            span_probs = self.span_logits_factored(h_e, spans).softmax(-1)
            entity_prob = span_probs[..., 1:].max(-1).values
            is_entity = self.entities(
                spans, entity_prob, span_valid & (span_probs[..., 0] < entity_prob)
            )
            k = min(
                self.max_pair_entities, int(is_entity.sum(-1).max()) if batch else 0
            )
            entities, entity_valid = select_pair_entities(entity_prob, is_entity, k)
        else:
            spans, is_entity = given, given[..., 1] > given[..., 0]
            span_probs = self.span_logits_factored(h_e, spans).softmax(-1)
            k = min(self.max_pair_entities, spans.shape[1])
            entities = torch.arange(k, device=tokens.device).expand(batch, k)
            entity_valid = is_entity[:, :k]
        head, tail = ordered_pairs(k, tokens.device)
        pairs = torch.stack([entities[:, head], entities[:, tail]], dim=-1)
        pair_valid = entity_valid[:, head] & entity_valid[:, tail]
        entity_spans = spans[
            torch.arange(batch, device=tokens.device)[:, None], entities
        ]  # (B, k, 2)
        table = max_table(h_r) if head.shape[0] else None
        rel_probs = self.relation_logits_factored(
            h_r, entity_spans, head, tail, table
        ).sigmoid()
        return Extraction(
            tag_probs, spans, span_probs, is_entity, pairs, pair_valid, rel_probs
        )

    def entities(self, spans: Tensor, score: Tensor, candidate: Tensor) -> Tensor:
        """The overlap policy on the span decoder's candidates (B, S): every candidate when
        ``overlap_threshold`` is 0 (the paper), else the flat rule's winners plus the overlapping candidates
        whose score reaches ``overlap_threshold`` (none when it exceeds 1)."""
        if self.overlap_threshold <= 0.0:
            return candidate
        flat = greedy_non_overlapping(
            spans[..., 0], spans[..., 1], score, candidate, self.max_span_width
        )
        return flat | (candidate & (score >= self.overlap_threshold))
