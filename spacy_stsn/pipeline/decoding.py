"""Everything between the network's outputs and the annotations on a ``Doc``: pure
functions, no spaCy.

The rules, in the order they apply (the device-side steps are in
:mod:`spacy_stsn.nn.span_selection`):

1. **Entities.** A span is a candidate when the span decoder prefers an entity label
   over NoneEntity (Eq. 12). The *overlap policy* (the component's ``overlaps``) then
   decides what is kept, on the device and before relation candidates are built:

   * ``"nested"`` (the paper): every candidate is kept, overlaps included; with
     ``nested_threshold`` > 0 a candidate that overlaps a better-ranked one is kept only
     if its score reaches that threshold;
   * ``"flat"``: the greedy non-overlapping rule below; ``doc.spans[spans_key]`` and
     ``doc.ents`` then hold the same set;
   * ``"auto"`` is resolved from the training data (:func:`resolve_overlaps`): flat
     unless at least 5 % of the training documents have overlapping entities.

2. **doc.ents** is the non-overlapping subset of the kept entities under the greedy rule
   (:func:`select_non_overlapping`): highest score first, then the longer span, then the
   earlier one.
3. **Pairs.** Within each window of a document (its sentences, else token windows;
   :mod:`spacy_stsn.pipeline.windows`), at most ``max_pair_entities`` kept entities (the
   highest-scoring) are paired.
4. **Relations.** A pair gets every relation type whose sigmoid reaches ``threshold``
   (the paper's alpha), or the type's own threshold in ``relation_thresholds`` (chosen
   on dev by ``python -m spacy_stsn tune``). A relation of a symmetric type is put in
   canonical order (the argument that starts first, then ends first, is the head) and
   the two orders of one pair collapse into one relation with the higher score.
5. **Tags.** The tagging decoder's most likely tag per token, for inspection (entities
   are never read from the tags; :func:`spacy_stsn.pipeline.tags.decode_tags` reads them
   back if wanted).
"""

from typing import (
    Any,
    Collection,
    Dict,
    List,
    NamedTuple,
    Optional,
    Sequence,
    Tuple,
    Union,
)

import numpy

from ..ml.labels import Labels, Span3

OVERLAP_POLICIES = ("auto", "flat", "nested")
# overlaps = "auto" decodes nested when at least this fraction of the training documents
# has overlapping entities
NESTED_MIN_FRACTION = 0.05
Offsets = Tuple[int, int]
# head, head_label, tail, tail_label, label, score
RelationTuple = Tuple[Offsets, str, Offsets, str, str, float]


class DocPrediction(NamedTuple):
    """One document's decoded annotations."""

    entities: List[Span3]  # every kept entity, in document order
    scores: List[float]  # the entity label's probability, per entity
    relations: List[RelationTuple]
    tags: Optional[List[str]]


def resolve_overlaps(setting: str, data_overlaps: Optional[float]) -> str:
    """The concrete overlap policy for a component's ``overlaps`` setting.

    setting (str): ``"auto"``, ``"flat"`` or ``"nested"``.
    data_overlaps (Optional[float]): the fraction of training documents with
        overlapping entities; None: unknown (a model saved before the setting existed),
        which decodes nested as it always did.
    RETURNS (str): ``"flat"`` or ``"nested"``. ``auto`` is nested when at least
        ``NESTED_MIN_FRACTION`` of the documents overlap, else flat: without overlaps
        every overlap the model predicts is an error, and rare ones are better left
        out (why 5 %: benchmarks/README.md, "Decoding policies").
    """
    if setting not in OVERLAP_POLICIES:
        raise ValueError(f"overlaps must be one of {OVERLAP_POLICIES}, not {setting!r}")
    if setting == "auto":
        return (
            "nested"
            if data_overlaps is None or data_overlaps >= NESTED_MIN_FRACTION
            else "flat"
        )
    return setting


def nested_threshold(policy: str, threshold: float) -> Optional[float]:
    """What the network's entity selection takes for a resolved policy: None is flat, a
    number is nested decoding with ``nested_threshold`` (see
    :func:`spacy_stsn.nn.span_selection.select_entities`).

    policy (str): the resolved policy, "flat" or "nested".
    threshold (float): the ``nested_threshold`` setting.
    RETURNS (Optional[float]): None or the threshold.
    """
    if policy == "flat":
        return None
    if policy == "nested":
        return threshold
    raise ValueError(f"overlap policy {policy!r} is not resolved (flat or nested)")


def select_non_overlapping(
    spans: Sequence[Offsets], scores: Optional[Sequence[float]] = None
) -> List[int]:
    """Indices of a non-overlapping subset of ``spans`` for ``doc.ents``, in document
    order.

    The rule is greedy and deterministic: highest score first, then the longer span,
    then the earlier one; a span is kept if it shares no token with a span already kept.
    For gold data (no scores) this keeps the outer entity of a nesting, e.g. "Codeine
    intoxication" over "Codeine". The flat overlap policy applies the same rule on the
    device (:func:`spacy_stsn.nn.span_selection.greedy_non_overlapping`).

    spans (Sequence[Offsets]): the spans' ``(start, end)``.
    scores (Optional[Sequence[float]]): their scores; None: all equal.
    RETURNS (List[int]): the indices kept.
    """
    if scores is None:
        scores = [1.0] * len(spans)
    order = sorted(
        range(len(spans)),
        key=lambda i: (
            -scores[i],
            -(spans[i][1] - spans[i][0]),
            spans[i][0],
            spans[i][1],
        ),
    )
    taken: set = set()
    kept = []
    for i in order:
        start, end = spans[i]
        if any(t in taken for t in range(start, end)):
            continue
        taken.update(range(start, end))
        kept.append(i)
    return sorted(kept, key=lambda i: (spans[i][0], spans[i][1]))


def relation_threshold_array(
    relation_labels: Sequence[str], threshold: float, per_type: Dict[str, float]
) -> numpy.ndarray:
    """The threshold of each relation type, in the decoder's order: ``per_type[label]``
    where given, else ``threshold``. A type ``per_type`` names that the model does not
    have is a ``ValueError`` naming it.

    relation_labels (Sequence[str]): the model's relation types, in order.
    threshold (float): the ``threshold`` setting.
    per_type (Dict[str, float]): the ``relation_thresholds`` setting.
    RETURNS (numpy.ndarray): the thresholds.
    """
    unknown = sorted(set(per_type) - set(relation_labels))
    if unknown:
        raise ValueError(
            f"relation_thresholds names relation types {unknown} that the model does not have; "
            f"its types are {list(relation_labels)}"
        )
    return numpy.asarray(
        [per_type.get(label, threshold) for label in relation_labels], dtype="float32"
    )


def tail_first(head: Sequence[Any], tail: Sequence[Any]) -> Any:
    """Whether a symmetric relation's arguments are out of canonical order, the one rule
    for decoding, scoring and training targets: in canonical order the argument that
    starts first, or starts together with the other and ends first, is the head.

    head (Sequence[Any]): the head's ``(start, end)``: two ints, or two arrays of N
        starts and N ends (``offsets.T`` of an (N, 2) array).
    tail (Sequence[Any]): the tail's, in the same form.
    RETURNS (Any): a bool, or an (N,) bool array: whether head and tail must be swapped.
    """
    (head_start, head_end), (tail_start, tail_end) = head, tail
    return (tail_start < head_start) | (
        (tail_start == head_start) & (tail_end < head_end)
    )


def canonical_order(
    head: numpy.ndarray, tail: numpy.ndarray, symmetric: numpy.ndarray
) -> numpy.ndarray:
    """Whether each (head, tail) pair of (N, 2) offsets must be swapped: a symmetric
    relation whose tail comes first (:func:`tail_first`).

    head (numpy.ndarray): (N, 2) the heads' offsets.
    tail (numpy.ndarray): (N, 2) the tails' offsets.
    symmetric (numpy.ndarray): (N,) whether each relation's type is symmetric.
    RETURNS (numpy.ndarray): (N,) bool.
    """
    return symmetric & tail_first(head.T, tail.T)


def decode_relations(
    outputs: Any,
    relation_labels: Sequence[str],
    threshold: Union[float, numpy.ndarray],
    symmetric: Collection[str],
) -> Tuple[numpy.ndarray, ...]:
    """Relations of a sub-batch as parallel arrays (batch row, head offsets (N, 2), head
    span index, tail offsets, tail span index, type id, score), symmetric ones canonical
    and deduplicated (the higher score wins); ``threshold`` is one for all types or one
    per type (:func:`relation_threshold_array`).

    outputs (Any): the network's :class:`~spacy_stsn.nn.stsn.Extraction` (host
        arrays).
    relation_labels (Sequence[str]): the model's relation types, in order.
    threshold (Union[float, numpy.ndarray]): the threshold(s).
    symmetric (Collection[str]): the symmetric relation types.
    RETURNS (Tuple[numpy.ndarray, ...]): the parallel arrays.
    """
    b, p, r = numpy.nonzero(
        (outputs.rel_probs >= threshold) & outputs.pair_valid[..., None]
    )
    score = outputs.rel_probs[b, p, r]
    head_idx, tail_idx = outputs.pairs[b, p, 0], outputs.pairs[b, p, 1]
    head, tail = outputs.spans[b, head_idx], outputs.spans[b, tail_idx]
    is_symmetric = numpy.isin(
        r, [i for i, label in enumerate(relation_labels) if label in symmetric]
    )
    swap = canonical_order(head, tail, is_symmetric)
    head, tail = (
        numpy.where(swap[:, None], tail, head),
        numpy.where(swap[:, None], head, tail),
    )
    head_idx, tail_idx = (
        numpy.where(swap, tail_idx, head_idx),
        numpy.where(swap, head_idx, tail_idx),
    )
    # both orders of a symmetric pair may have passed: keep the better one
    if swap.any():
        order = numpy.lexsort((-score, r, tail_idx, head_idx, b))
        key = numpy.stack([b, head_idx, tail_idx, r], -1)[order]
        first = numpy.ones(len(order), dtype=bool)
        first[1:] = (key[1:] != key[:-1]).any(-1)
        keep = numpy.sort(order[first])
        b, head, head_idx, tail, tail_idx, r, score = (
            x[keep] for x in (b, head, head_idx, tail, tail_idx, r, score)
        )
    return b, head, head_idx, tail, tail_idx, r, score


def decode_batch(
    outputs: Any,
    labels: Labels,
    lengths: Sequence[int],
    threshold: Union[float, numpy.ndarray],
    given: Optional[Sequence[Sequence[Span3]]] = None,
) -> List[DocPrediction]:
    """Decode one sub-batch of :class:`spacy_stsn.nn.stsn.Extraction` outputs (host
    arrays) for documents of ``lengths`` tokens; see the module docstring for the rules.
    With ``given`` entities (per doc, those whose spans are ``outputs.spans``) the
    entities are those, with their labels and score 1.

    outputs (Any): the network's outputs (host arrays).
    labels (Labels): the model's label sets.
    lengths (Sequence[int]): each row's tokens.
    threshold (Union[float, numpy.ndarray]): the relation threshold(s).
    given (Optional[Sequence[Sequence[Span3]]]): each row's given entities.
    RETURNS (List[DocPrediction]): each row's annotations.
    """
    n_docs, entity_labels = len(lengths), labels.entities
    relation_labels, tag_labels = labels.relations, labels.tags
    if given is None:
        label_ids = outputs.span_probs[..., 1:].argmax(-1)
        label_scores = outputs.span_probs[..., 1:].max(-1)
    else:
        entity_labels = sorted({label for ents in given for *_, label in ents})
        index = {label: i for i, label in enumerate(entity_labels)}
        label_ids = numpy.zeros(outputs.spans.shape[:2], dtype="int64")
        for row, ents in enumerate(given):
            label_ids[row, : len(ents)] = [index[label] for *_, label in ents]
        label_scores = numpy.ones(label_ids.shape, dtype="float32")
    ent_b, ent_s = numpy.nonzero(outputs.is_entity)
    ent_bounds = numpy.searchsorted(ent_b, numpy.arange(n_docs + 1))
    rel_b, head, head_idx, tail, tail_idx, rel_r, rel_score = decode_relations(
        outputs, relation_labels, threshold, labels.symmetric
    )
    rel_bounds = numpy.searchsorted(rel_b, numpy.arange(n_docs + 1))
    tag_ids = outputs.tag_probs.argmax(-1) if outputs.tag_probs.shape[-1] else None
    entity_label = numpy.asarray(entity_labels, dtype=object)
    predictions = []
    for row in range(n_docs):
        cols = ent_s[ent_bounds[row] : ent_bounds[row + 1]]
        offsets = outputs.spans[row, cols].tolist()
        labels = entity_label[label_ids[row, cols]].tolist()
        entities = sorted(
            zip(
                (s for s, _ in offsets),
                (e for _, e in offsets),
                labels,
                label_scores[row, cols].tolist(),
            )
        )
        spans = [(s, e, label) for s, e, label, _ in entities]
        scores = [score for *_, score in entities]
        lo, hi = rel_bounds[row], rel_bounds[row + 1]
        relations = [
            (
                tuple(h),
                entity_label[label_ids[row, hi_]],
                tuple(t),
                entity_label[label_ids[row, ti_]],
                relation_labels[r],
                s,
            )
            for h, hi_, t, ti_, r, s in zip(
                head[lo:hi].tolist(),
                head_idx[lo:hi].tolist(),
                tail[lo:hi].tolist(),
                tail_idx[lo:hi].tolist(),
                rel_r[lo:hi].tolist(),
                rel_score[lo:hi].tolist(),
            )
        ]
        tags = (
            [tag_labels[t] for t in tag_ids[row, : lengths[row]].tolist()]
            if tag_ids is not None
            else None
        )
        predictions.append(DocPrediction(spans, scores, relations, tags))
    return predictions


def relation_key(
    rel: Dict[str, Any], symmetric: Collection[str]
) -> Tuple[Offsets, str, Offsets, str, str]:
    """A stored relation's (head, head_label, tail, tail_label, label) with a symmetric
    one in canonical order, so that two annotations of the same symmetric fact compare
    equal (used by the scorer).

    rel (Dict[str, Any]): the relation, as ``doc._.relations`` stores it.
    symmetric (Collection[str]): the symmetric relation types.
    RETURNS (Tuple[Offsets, str, Offsets, str, str]): the key.
    """
    head, tail = tuple(rel["head"]), tuple(rel["tail"])
    head_label, tail_label = rel["head_label"], rel["tail_label"]
    if rel["label"] in symmetric and tail_first(head, tail):
        head, tail, head_label, tail_label = tail, head, tail_label, head_label
    return head, head_label, tail, tail_label, rel["label"]
