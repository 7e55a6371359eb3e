"""The stacked attention of STSN (paper section 3.2, Figure 3) in pure PyTorch: the
basic attention unit and the layer of three units (E&R-L-A, L-E-A, L-R-A) that the
network stacks N times.

The per-token layers (projections, FFN, LayerNorm) run on the packed real tokens of a
padded batch (:class:`Packing`); only attention itself sees the padded layout. Documents
longer than ``window`` tokens get block-local attention, so their cost grows linearly
with length.
"""

from typing import Optional, Tuple

import torch
from torch import Tensor, nn

from .cast_cache import cast_weight

INTERACTIONS = ("bi", "ner_to_re", "re_to_ner", "none")


class Packing:
    """Where the real tokens of a padded (B, T) batch sit: the per-token layers
    (projections, FFN, LayerNorm) run on the packed (N, d) real tokens only, and only
    attention sees the padded layout. In a batch of sentences of mixed length, padding
    is often as many positions as the tokens themselves (twice the work)."""

    def __init__(self, lengths: Tensor, max_length: int):
        self.batch, self.length = int(lengths.shape[0]), max_length
        self.padding = (
            torch.arange(max_length, device=lengths.device)[None, :] >= lengths[:, None]
        )
        # flat positions of the real tokens
        index = (~self.padding).reshape(-1).nonzero().squeeze(-1)
        # Without padding (a single document, or documents of one length) packing is a
        # reshape and attention needs no mask; nonzero's size says so without another
        # read from the device.
        self.index = index if index.shape[0] < self.batch * max_length else None
        # attention's key padding; None: no padding
        self.mask = self.padding if self.index is not None else None

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
    """Multi-head scaled dot-product attention of projected (B, Tq, d) queries over (B,
    Tk, d) keys/values; ``key_padding`` (B, Tk) is True where a key takes no part (None:
    every key does)."""
    if query.dtype == torch.bfloat16 and query.device.type == "cpu":
        # under bfloat16 autocast (spacy_stsn.ml.precision) attention runs in float32
        # and only the projections around it in bfloat16 (the CPU's bfloat16 attention
        # kernel is the slower: benchmarks/README.md, "Inference and training speed")
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
    """One basic attention unit (Figure 3): multi-head attention then a position-wise
    FFN (Eq. 5-7), each with a residual connection followed by LayerNorm.

    It works on packed tokens (see :class:`Packing`): the projections, the FFN and the
    LayerNorms never see a padded position. The weights live in an
    ``nn.MultiheadAttention`` (the same parameters and the same arithmetic: Q, K, V
    in-projections, scaled dot-product attention, out-projection).

    ``window`` bounds the cost on long documents: a sequence of at most ``window``
    tokens gets full attention (the paper's setting: every CoNLL04 and ADE sentence is
    shorter than the default 128), a longer one is cut into blocks of ``window`` tokens
    whose queries attend to their own and the two neighbouring blocks. Time and memory
    then grow linearly with length instead of quadratically, with the same parameters.
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
        """``query`` and ``key_value`` are packed (N, d) tokens of the batch that
        ``packing`` describes; padded positions get no attention."""
        mha = self.attention
        width = query.shape[-1]
        # at inference under autocast: the weights' cast copies, made once
        weight, bias = cast_weight(mha.in_proj_weight), cast_weight(mha.in_proj_bias)
        q = nn.functional.linear(query, weight[:width], bias[:width])
        kv = nn.functional.linear(key_value, weight[width:], bias[width:])
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
        """Attention of each block of ``window`` queries to the keys of blocks i-1, i
        and i+1, batched as (batch * blocks) independent sequences: O(T * window) memory
        rather than O(T^2)."""
        batch, length, width = q.shape
        w = self.window
        n_blocks = -(-length // w)
        extra = n_blocks * w - length
        q = nn.functional.pad(q, (0, 0, 0, extra)).reshape(batch * n_blocks, w, width)

        def frames(x: Tensor) -> Tensor:
            """Pad one block before and after, slide a 3-block frame by one block."""
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
        # a block made only of padding would softmax over nothing (NaN): let it see one
        # key, its output is unused
        mask[mask.all(-1), w] = False
        attended = attend(
            q, frames(k), frames(v), mask, self.attention.num_heads, dropout
        )
        return attended.reshape(batch, n_blocks * w, width)[:, :length]


class AttentionLayer(nn.Module):
    """One stacked layer (Eq. 3-4): E&R-L-A updates H_L from H_C, then L-E-A and L-R-A
    infuse the new H_L into H_E and H_R. ``interaction`` selects what E&R-L-A attends to
    (the ablations of Table 5)."""

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
            # w/o Bi-Interaction (dagger): H_L no longer attends to H_R
            h_c = h_e
        elif self.interaction == "re_to_ner":
            # w/o Bi-Interaction (double dagger): H_L no longer attends to H_E
            h_c = h_r
        else:
            # w/o Interaction: E&R-L-A is self-attention
            h_c = h_l
        h_l = self.label_unit(h_l, h_c, packing)
        return (
            h_l,
            self.entity_unit(h_e, h_l, packing),
            self.relation_unit(h_r, h_l, packing),
        )
