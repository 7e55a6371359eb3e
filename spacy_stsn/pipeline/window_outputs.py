"""The network's outputs per window back to each document's annotations: decoded row by
row (:func:`decode_rows`), then the rows of a document merged (:func:`merge_rows`).

Overlapping windows see the tokens they share twice. Each token is *owned* by one
window (:mod:`spacy_stsn.pipeline.windows`); the owner decides the entities that start
there and the token's tag. A relation is kept when both its arguments are kept entities,
with the best score of the windows that found it.
"""

from typing import Any, Callable, Dict, List, NamedTuple, Optional, Sequence, Tuple

import numpy

from ..ml.labels import Labels, Span3
from .decoding import DocPrediction, decode_batch
from .windows import Rows, warn_dropped


class Prediction(NamedTuple):
    """What the component's ``predict`` hands to ``set_annotations``: the windows of
    the non-empty docs, the network's outputs for them per chunk (row indices,
    :class:`~spacy_stsn.nn.stsn.Extraction`) and, with ``entities = "given"``, the
    entities the docs were given (per doc, read once, in ``predict``) and each row's
    share of them."""

    chunks: List[Tuple[numpy.ndarray, Any]]
    rows: Rows
    given: Optional[List[List[Span3]]] = None
    row_given: Optional[List[List[Span3]]] = None


def unpaired_entities(is_entity: numpy.ndarray, max_pair_entities: int) -> int:
    """Kept entities beyond the ``max_pair_entities`` of their row (B, S mask): they
    are entities, but in no relation candidate.

    is_entity (numpy.ndarray): (B, S) whether each candidate span was kept.
    max_pair_entities (int): the architecture's ``max_pair_entities``.
    RETURNS (int): the count.
    """
    return int(numpy.maximum(is_entity.sum(-1) - max_pair_entities, 0).sum())


def decode_rows(
    prediction: Prediction,
    labels: Labels,
    thresholds: numpy.ndarray,
    to_numpy: Callable[[Any], numpy.ndarray],
    max_pair_entities: int,
    name: str,
) -> List[DocPrediction]:
    """Decode the chunks of a prediction row by row, in row offsets, with one warning
    that counts the predicted entities ``max_pair_entities`` left unpaired.

    prediction (Prediction): what the component's ``predict`` returned.
    labels (Labels): the component's label sets.
    thresholds (numpy.ndarray): the relation threshold of each relation type.
    to_numpy (Callable[[Any], numpy.ndarray]): the model's ``ops.to_numpy``.
    max_pair_entities (int): the architecture's ``max_pair_entities``.
    name (str): the component's name, in the warning.
    RETURNS (List[DocPrediction]): each row's annotations.
    """
    rows, given = prediction.rows, prediction.row_given
    per_row: List[Any] = [None] * len(rows.doc)
    unpaired = 0
    for index, outputs in prediction.chunks:
        outputs = type(outputs)(*(to_numpy(o) for o in outputs))
        if given is None:
            unpaired += unpaired_entities(outputs.is_entity, max_pair_entities)
        decoded = decode_batch(
            outputs,
            labels,
            rows.lengths[index],
            thresholds,
            None if given is None else [given[i] for i in index],
        )
        for i, pred in zip(index.tolist(), decoded):
            per_row[i] = pred
    warn_dropped(
        name,
        "predicted entities were left out of relation candidates",
        unpaired,
        f"max_pair_entities ({max_pair_entities}) pairs the best-scored entities of "
        "each window only; raise it in [components.stsn.model] to pair more",
    )
    return per_row


def merge_rows(
    rows: Rows,
    predictions: Sequence[DocPrediction],
    n_docs: int,
    given: Optional[Sequence[Sequence[Span3]]] = None,
) -> List[DocPrediction]:
    """Each document's prediction from its rows' (``predictions[i]`` in row i's
    offsets): a document that is one row keeps it as it is; otherwise see the module
    docstring. With ``given`` entities, those are the document's entities.

    rows (Rows): the windows of the documents.
    predictions (Sequence[DocPrediction]): each row's annotations.
    n_docs (int): the documents.
    given (Optional[Sequence[Sequence[Span3]]]): each document's given entities.
    RETURNS (List[DocPrediction]): each document's annotations.
    """
    merged = []
    for d in range(n_docs):
        own = rows.for_doc(d)
        if len(own) == 1 and rows.start[own[0]] == 0:
            merged.append(predictions[own[0]])
            continue
        merged.append(
            _merge_doc(
                [predictions[r] for r in own],
                [(rows.start[r], rows.own_start[r], rows.own_end[r]) for r in own],
                None if given is None else given[d],
            )
        )
    return merged


def _merge_doc(
    parts: Sequence[DocPrediction],
    where: Sequence[Tuple[int, int, int]],
    given: Optional[Sequence[Span3]],
) -> DocPrediction:
    entities: Dict[Span3, float] = {}
    tags: Optional[List[str]] = None if parts[0].tags is None else []
    for part, (start, lo, hi) in zip(parts, where):
        for (s, e, label), score in zip(part.entities, part.scores):
            if lo <= s + start < hi:
                entities[(int(s + start), int(e + start), label)] = score
        if tags is not None:
            tags.extend(part.tags[lo - start : hi - start])
    if given is not None:
        entities = {(s, e, label): 1.0 for s, e, label in given}
    best: Dict[Tuple, Tuple] = {}
    for part, (start, _, _) in zip(parts, where):
        for head, head_label, tail, tail_label, label, score in part.relations:
            head = (int(head[0] + start), int(head[1] + start))
            tail = (int(tail[0] + start), int(tail[1] + start))
            if (*head, head_label) not in entities or (
                *tail,
                tail_label,
            ) not in entities:
                continue
            key = (head, tail, label)
            if key not in best or score > best[key][-1]:
                best[key] = (head, head_label, tail, tail_label, label, score)
    ordered = sorted((*span, score) for span, score in entities.items())
    return DocPrediction(
        [(s, e, label) for s, e, label, _ in ordered],
        [score for *_, score in ordered],
        list(best.values()),
        tags,
    )
