"""What the component asks of the ``spacy_stsn.STSN.v1`` model besides the docs: the
training candidates (:class:`Candidates`) or the inference settings
(:class:`Decoding`). Plain records without torch, so that the training targets
(:mod:`spacy_stsn.pipeline.targets`) can build them without loading the network."""

from dataclasses import dataclass
from typing import Any, List, Optional, Sequence, Tuple, Union

import numpy
from spacy.tokens import Doc
from thinc.types import Ints2d, Ints3d

from .labels import Span3


@dataclass
class Candidates:
    """Training candidates for a batch of R rows: spans (R, S, 2) as [start, end)
    offsets in their row and pairs (R, P, 2) of indices into ``spans`` (padding rows
    point at span 0 and are masked in the loss). ``rows`` (R, 3): document, start and
    end of each row (the windows of :mod:`spacy_stsn.pipeline.windows`); None: the
    documents as they are, one row each."""

    spans: Ints3d
    pairs: Ints3d
    rows: Optional[numpy.ndarray] = None


@dataclass
class Decoding:
    """What inference takes besides the docs: the overlap policy (``nested_threshold``
    None: flat; a number: nested, see
    :func:`spacy_stsn.nn.span_selection.select_entities`), with given entities their
    spans (R, k, 2) in row offsets, padded with [0, 0), and the rows (R, 3) as
    :class:`Candidates`' (None: one per document). Without given entities,
    ``boundaries`` (B, T), 1 or 0 per token of each document, says which tokens may
    start or end a predicted entity (:mod:`spacy_stsn.pipeline.boundaries`; None: every
    token). Rows that are not the documents themselves run in chunks of at most
    ``max_batch_items`` padded positions, so memory is bounded whatever the length of a
    document."""

    nested_threshold: Optional[float] = 0.0
    given: Optional[Ints3d] = None
    boundaries: Optional[Ints2d] = None
    rows: Optional[numpy.ndarray] = None
    max_batch_items: int = 2048


STSNInput = Tuple[List[Doc], Union[Candidates, Decoding]]


def given_spans(ops: Any, entities: Sequence[Sequence[Span3]]) -> Ints3d:
    """Spans of given entities, padded with [0, 0), for :attr:`Decoding.given`.

    ops (Any): the model's ops; the spans go to its device.
    entities (Sequence[Sequence[Span3]]): per row, its entities as ``(start, end,
        label)``.
    RETURNS (Ints3d): the spans (B, k, 2).
    """
    spans = numpy.zeros(
        (len(entities), max([1] + [len(e) for e in entities]), 2), dtype="int32"
    )
    for row, doc_entities in enumerate(entities):
        if doc_entities:  # a doc without given entities keeps its padding row
            spans[row, : len(doc_entities)] = [(s, e) for s, e, _ in doc_entities]
    return ops.asarray(spans)
