"""The STSN network (paper section 3) as a pure PyTorch module: no spaCy or Thinc in
here.

Input is a padded batch of aligned token vectors (the Align Module's max-pooled word
pieces, Eq. 2). The module projects them to H_L^0, H_E^0, H_R^0, runs N stacked
attention layers (Eq. 4, :mod:`spacy_stsn.nn.attention`) and decodes token tags (Eq. 8),
spans (Eq. 11-12) and relations (Eq. 15-16) with the heads of
:mod:`spacy_stsn.nn.heads`. The module owns every parameter and wires the parts; the two
paths are explicit: ``forward`` trains on given candidates, :meth:`STSN.infer` predicts.
Everything is batched: spans and pairs are index tensors and representations are
gathered, never built in Python loops.
"""

from typing import NamedTuple, Optional, Tuple

import torch
from torch import Tensor, nn

from .attention import INTERACTIONS, AttentionLayer, Packing
from .heads import (
    gather_pairs,
    gather_spans,
    relation_logits,
    relation_logits_factored,
    span_logits_factored,
    span_representations,
)
from .span_selection import (
    candidate_spans,
    entity_pairs,
    given_pair_entities,
    predicted_entities,
)


class Extraction(NamedTuple):
    """What :meth:`STSN.infer` returns for a padded batch of B documents (S candidate
    spans, P pairs); the Thinc wrapper hands the same fields back as arrays of its
    ops."""

    # (B, T, l) the tagging decoder's distribution per token (l = 0 without it)
    tag_probs: Tensor
    spans: Tensor  # (B, S, 2) candidate [start, end) offsets
    span_probs: Tensor  # (B, S, E + 1) span decoder's distribution, 0 = NoneEntity
    is_entity: Tensor  # (B, S) kept entities, after the overlap policy
    pairs: Tensor  # (B, P, 2) head and tail indices into ``spans``
    pair_valid: Tensor  # (B, P) whether both arguments are kept entities
    rel_probs: Tensor  # (B, P, R) relation decoder's sigmoid per type


class STSN(nn.Module):
    """Sequence Tagging augmented Span-based Network.

    The label-dependent decoders are created by :meth:`build`, once the input width and
    the label sets are known (a spaCy pipeline learns them from data at ``initialize``).
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
        self.is_built = False

    def build(
        self, input_width: int, n_entities: int, n_relations: int, n_tags: int
    ) -> "STSN":
        """Create the parameters.

        input_width (int): the width of the token vectors (the paper's encoder output).
        n_entities (int): entity labels (the span decoder adds NoneEntity).
        n_relations (int): relation types.
        n_tags (int): token tags; ignored (no tagging decoder) when ``n_layers == 0``.
        RETURNS (STSN): the module.
        """
        width = self.hidden_width or input_width
        if self.n_layers and width % self.n_heads:
            raise ValueError(
                f"hidden width {width} is not divisible by n_heads={self.n_heads}"
            )
        self.width = width
        self.dims = (input_width, n_entities, n_relations, n_tags)
        self.project_e = nn.Linear(input_width, width)
        self.project_r = nn.Linear(input_width, width)
        # "w/o Label" (n_layers == 0): no H_L, no stacked layers and no tagging decoder.
        self.project_l = nn.Linear(input_width, width) if self.n_layers else None
        layer = (width, self.n_heads, self.dropout_rate, self.interaction)
        self.layers = nn.ModuleList(
            AttentionLayer(*layer, self.attention_window) for _ in range(self.n_layers)
        )
        self.tag_decoder = nn.Linear(width, n_tags) if self.n_layers else None
        self.width_embedding = nn.Embedding(self.max_span_width + 1, self.width_dim)
        span_width = 2 * width + self.width_dim
        # index 0 = NoneEntity
        self.span_decoder = nn.Linear(span_width, n_entities + 1)
        self.relation_decoder = nn.Linear(2 * span_width + width, n_relations)
        self.dropout = nn.Dropout(self.dropout_rate)
        self.is_built = True
        return self

    def set_dropout(self, rate: Optional[float]) -> None:
        """Dropout for the next passes (spaCy's ``[training] dropout`` reaches here
        through ``update(drop=)``).

        rate (Optional[float]): the rate; None restores the one the module was built
            with.
        """
        rate = self.dropout_rate if rate is None else rate
        for module in self.modules():
            if isinstance(module, nn.Dropout):
                module.p = rate
            elif isinstance(module, nn.MultiheadAttention):
                module.dropout = rate

    def encode(
        self, tokens: Tensor, lengths: Tensor
    ) -> Tuple[Optional[Tensor], Tensor, Tensor]:
        """Map aligned token vectors to H_L^N, H_E^N, H_R^N (each (B, T, d), zero at
        padding).

        tokens (Tensor): (B, T, D) the token vectors, padded.
        lengths (Tensor): (B,) each row's tokens.
        RETURNS (Tuple[Optional[Tensor], Tensor, Tensor]): the three states; H_L is None
            without stacked layers.
        """
        packing = Packing(lengths, tokens.shape[1])
        tokens = packing.pack(tokens)
        h_e, h_r = self.project_e(tokens), self.project_r(tokens)
        h_l = self.project_l(tokens) if self.project_l is not None else None
        for layer in self.layers:
            h_l, h_e, h_r = layer(h_l, h_e, h_r, packing)
        return tuple(
            packing.unpack(h) if h is not None else None for h in (h_l, h_e, h_r)
        )

    def forward(
        self, tokens: Tensor, lengths: Tensor, spans: Tensor, pairs: Tensor
    ) -> Tuple[Tensor, Tensor, Tensor]:
        """Training: logits for the tags, the candidate spans and the candidate pairs.

        tokens (Tensor): (B, T, D) the token vectors, padded.
        lengths (Tensor): (B,) each row's tokens.
        spans (Tensor): (B, S, 2) the candidate spans, [start, end).
        pairs (Tensor): (B, P, 2) the candidate pairs, indices into ``spans``.
        RETURNS (Tuple[Tensor, Tensor, Tensor]): tag logits (B, T, l), span logits (B,
            S, E + 1) and relation logits (B, P, R).
        """
        h_l, h_e, h_r = self.encode(tokens, lengths)
        span_reps = span_representations(h_e, spans, self.width_embedding)
        rel_logits = relation_logits(
            h_r,
            *gather_pairs(spans, pairs),
            self.relation_decoder,
            self.width_embedding,
            self.dropout,
        )
        return (
            self._tag_logits(h_l, tokens),
            self.span_decoder(self.dropout(span_reps)),
            rel_logits,
        )

    def _tag_logits(self, h_l: Optional[Tensor], tokens: Tensor) -> Tensor:
        if self.tag_decoder is None:
            return tokens.new_zeros(tokens.shape[0], tokens.shape[1], 0)
        return self.tag_decoder(self.dropout(h_l))

    def infer(
        self,
        tokens: Tensor,
        lengths: Tensor,
        given: Optional[Tensor] = None,
        nested_threshold: Optional[float] = 0.0,
        boundaries: Optional[Tensor] = None,
    ) -> Extraction:
        """Inference: classify every span up to ``max_span_width`` tokens, keep the
        entities under the overlap policy (``nested_threshold``: None is flat, a number
        is nested, see :func:`~spacy_stsn.nn.span_selection.select_entities`) and score
        every ordered pair of the ``max_pair_entities`` best ones per row, which bounds
        the pairs. A row is a document or, from the pipeline, a window of one
        (:mod:`spacy_stsn.pipeline.windows`: sentences or token windows), so that
        candidates stay where relations are annotated and a long text costs what its
        windows cost.

        ``given`` (B, k, 2) replaces the predicted entities by entities from elsewhere
        (an upstream NER, a dictionary), padded with empty [0, 0) spans: the spans are
        then ``given`` (with the span decoder's opinion of them in ``span_probs``) and
        only relations are predicted, among all of them. ``boundaries`` (B, T), nonzero
        where a token may start or end a predicted entity (None: every token), drops
        the other candidate spans (:mod:`spacy_stsn.pipeline.boundaries`).

        Under a bfloat16 autocast (the pipeline's precision,
        :mod:`spacy_stsn.ml.precision`) the encoder part runs in bfloat16; the decoders,
        which turn its states into scores, always run in float32.

        tokens (Tensor): (B, T, D) the token vectors, padded.
        lengths (Tensor): (B,) each row's tokens.
        given (Optional[Tensor]): (B, k, 2) given entities, or None.
        nested_threshold (Optional[float]): the overlap policy: None is flat.
        boundaries (Optional[Tensor]): (B, T) where entities may start or end, or None.
        RETURNS (Extraction): the probabilities, spans, entities and pairs.
        """
        encoded = self.encode(tokens, lengths)
        with torch.autocast(tokens.device.type, enabled=False):
            h_l, h_e, h_r = (h.float() if h is not None else None for h in encoded)
            if given is None:
                spans = candidate_spans(
                    tokens.shape[1], self.max_span_width, tokens.device
                )
                spans = spans[None].expand(tokens.shape[0], -1, -1)
            else:
                spans = given
            span_probs = span_logits_factored(
                h_e, spans, self.span_decoder, self.width_embedding
            ).softmax(-1)
            if given is None:
                is_entity, entities, valid = predicted_entities(
                    spans,
                    span_probs,
                    lengths,
                    nested_threshold,
                    self.max_span_width,
                    self.max_pair_entities,
                    boundaries,
                )
            else:
                is_entity, entities, valid = given_pair_entities(given)
            pairs, pair_valid, head, tail = entity_pairs(entities, valid)
            rel_logits = relation_logits_factored(
                h_r,
                gather_spans(spans, entities),
                head,
                tail,
                self.relation_decoder,
                self.width_embedding,
            )
            return Extraction(
                self._tag_logits(h_l, tokens).softmax(-1),
                spans,
                span_probs,
                is_entity,
                pairs,
                pair_valid,
                rel_logits.sigmoid(),
            )
