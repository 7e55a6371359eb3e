"""Rows of the head's batch: a document, or a window of one (the component decides
which, :mod:`spacy_stsn.pipeline.windows`). A row is (document index, first token, end
token); these helpers batch rows for the network without a loop over them."""

from typing import Any, List, Sequence, Tuple

import numpy
from thinc.types import Floats2d


def is_whole_documents(rows: numpy.ndarray, lengths: Sequence[int]) -> bool:
    """Whether ``rows`` (R, 3) are the documents themselves, one row each, in order:
    then the network sees the batch exactly as it did before windows existed.

    rows (numpy.ndarray): (R, 3) document, start and end of each row.
    lengths (Sequence[int]): each document's tokens.
    RETURNS (bool): whether they are.
    """
    lengths = numpy.asarray(lengths)
    return len(rows) == len(lengths) and bool(
        (rows[:, 0] == numpy.arange(len(lengths))).all()
        and (rows[:, 1] == 0).all()
        and (rows[:, 2] == lengths).all()
    )


def chunk_rows(lengths: numpy.ndarray, max_items: int) -> List[numpy.ndarray]:
    """Row indices in chunks of similar length, each at most ``max_items`` padded
    positions (or a single row): spacy-transformers' ``batch_by_length`` rule, one step
    per chunk instead of per row.

    lengths (numpy.ndarray): each row's tokens.
    max_items (int): the most padded positions per chunk.
    RETURNS (List[numpy.ndarray]): the chunks' row indices.
    """
    order = numpy.argsort(lengths, kind="stable")
    ordered = lengths[order]
    chunks, i = [], 0
    while i < len(order):
        # padded size of the chunk i..i+k-1 is its last (longest) length times k
        padded = ordered[i:] * numpy.arange(1, len(order) - i + 1)
        k = max(1, int(numpy.searchsorted(padded, max_items, side="right")))
        chunks.append(order[i : i + k])
        i += k
    return chunks


def gather_rows(
    ops: Any, flat: Floats2d, lengths: Sequence[int], rows: numpy.ndarray
) -> Tuple[Any, Any, Any]:
    """The rows (R, 3) of documents of ``lengths`` tokens whose vectors are ``flat``
    (N, D), as a padded batch (R, L, D), their lengths (R,) and the index (R, L) of each
    position in ``flat`` (-1 at padding): one gather, no loop over rows.

    ops (Any): the model's ops.
    flat (Floats2d): (N, D) the documents' token vectors, one after the other.
    lengths (Sequence[int]): each document's tokens.
    rows (numpy.ndarray): (R, 3) document, start and end of each row.
    RETURNS (Tuple[Any, Any, Any]): the padded batch, the lengths and the index.
    """
    offsets = numpy.concatenate([[0], numpy.cumsum(lengths)])
    row_lengths = rows[:, 2] - rows[:, 1]
    width = numpy.arange(max(1, int(row_lengths.max())))
    index = (offsets[rows[:, 0]] + rows[:, 1])[:, None] + width
    index = numpy.where(width < row_lengths[:, None], index, -1).astype("int32")
    index = ops.asarray(index)
    padded = flat[ops.xp.maximum(index, 0)] * (index >= 0)[..., None]
    return padded.astype(flat.dtype), ops.asarray1i(row_lengths), index
