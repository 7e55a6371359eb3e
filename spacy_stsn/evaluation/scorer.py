"""The component's scorer (``spacy_stsn.scorer.v1``): NER, RE and RE+ of ``Example``
objects, and the breakdowns.

Gold items come from ``example.reference``, predicted ones from ``example.predicted``
(entities via :func:`get_entities`, relations from ``doc._.relations``), all in the
reference's token offsets, so the metrics in :mod:`spacy_stsn.evaluation.metrics` can
compare them directly. When both docs have the same tokens (the benchmark setting) the
offsets are used as they are; otherwise each predicted span is mapped through spaCy's
token alignment.
"""

from typing import (
    Any,
    Callable,
    Dict,
    Iterable,
    List,
    NamedTuple,
    Optional,
    Sequence,
    Set,
    Tuple,
)

from spacy.tokens import Doc
from spacy.training import Example
from spacy.util import registry

from ..pipeline.alignment import same_words
from ..pipeline.annotations import DEFAULT_SPANS_KEY, get_entities
from ..pipeline.decoding import relation_key
from .metrics import (
    Item,
    Offsets,
    entity_item,
    f1_by_entity_length,
    f1_by_sentence_length,
    flatten,
    relation_item,
    score_items,
    strict_relation_item,
)
from .tasks import NER, TASKS

SpanMap = Callable[[int, int], Offsets]


class DocItems(NamedTuple):
    """One doc's evaluation items (see :mod:`spacy_stsn.evaluation.metrics`), in the
    reference's token offsets."""

    entities: Set[Item]
    relations: Set[Item]  # RE
    strict_relations: Set[Item]  # RE+


def _identity(start: int, end: int) -> Offsets:
    return start, end


def aligned_offsets(
    example: Example, start: int, end: int
) -> Optional[Tuple[int, int]]:
    """The reference span covering exactly the characters of predicted tokens ``[start,
    end)``, or ``None``.

    Uses spaCy's alignment arrays rather than ``get_aligned_spans_x2y``: that helper
    drops spans it cannot align (they must still count as false positives) and compares
    texts with only spaces removed, so it rejects e.g. ``"New\\nYork"`` against ``"New
    York"`` although the alignment itself ignores any whitespace. A predicted span lines
    up when the reference tokens it touches touch no predicted token outside it (no
    boundary falls inside a token on either side).
    """
    alignment = example.alignment
    ref = alignment.x2y[start:end]
    if not len(ref):  # only whitespace tokens
        return None
    ref_start, ref_end = int(ref.min()), int(ref.max()) + 1
    back = alignment.y2x[ref_start:ref_end]
    if int(back.min()) < start or int(back.max()) >= end:
        return None
    return ref_start, ref_end


def _predicted_to_reference(example: Example) -> SpanMap:
    """How predicted token offsets become reference ones: unchanged if the tokens are
    the same, else aligned.

    A predicted span that does not line up with reference tokens keeps its own offsets
    shifted by half a token: no gold span has such offsets (so it is a false positive),
    it stays distinct from other predictions, and its length (for Figure 5) is its own
    length in predicted tokens.
    """
    if same_words(example.predicted, example.reference):
        return _identity
    cache: Dict[Tuple[int, int], Offsets] = {}

    def to_reference(start: int, end: int) -> Offsets:
        if (start, end) not in cache:
            aligned = aligned_offsets(example, start, end)
            cache[(start, end)] = (
                aligned if aligned is not None else (start + 0.5, end + 0.5)
            )
        return cache[(start, end)]

    return to_reference


def doc_items(
    doc: Doc,
    spans_key: str = DEFAULT_SPANS_KEY,
    to_reference: SpanMap = _identity,
    symmetric: Sequence[str] = (),
) -> DocItems:
    """Entities (the span group ``spans_key``, overlaps included, else ``doc.ents``) and
    relations of a doc; a relation of a ``symmetric`` type is put in canonical order, so
    it matches whichever order it comes in."""
    entities = {
        entity_item(*to_reference(s, e), label)
        for s, e, label in get_entities(doc, spans_key)
    }
    relations, strict = set(), set()
    for rel in doc._.relations:
        head, head_label, tail, tail_label, label = relation_key(rel, symmetric)
        head, tail = to_reference(*head), to_reference(*tail)
        relations.add(relation_item(head, tail, label))
        strict.add(strict_relation_item(head, head_label, tail, tail_label, label))
    return DocItems(entities, relations, strict)


def example_items(
    example: Example, spans_key: str = DEFAULT_SPANS_KEY, symmetric: Sequence[str] = ()
) -> Tuple[DocItems, DocItems]:
    """Gold and predicted items of an example, both in the reference's token offsets."""
    gold = doc_items(example.reference, spans_key, symmetric=symmetric)
    pred = doc_items(
        example.predicted, spans_key, _predicted_to_reference(example), symmetric
    )
    return gold, pred


def _corpus_items(
    examples: Iterable[Example], spans_key: str, symmetric: Sequence[str] = ()
) -> Tuple[List[DocItems], List[DocItems], List[int]]:
    gold, pred, lengths = [], [], []
    for eg in examples:
        g, p = example_items(eg, spans_key, symmetric)
        gold.append(g)
        pred.append(p)
        lengths.append(len(eg.reference))
    return gold, pred, lengths


def _column(docs: Sequence[DocItems], field: str) -> List[Set[Item]]:
    return [getattr(d, field) for d in docs]


def score_relations(
    examples: Iterable[Example],
    spans_key: str = DEFAULT_SPANS_KEY,
    entity_labels: Optional[Sequence[str]] = None,
    relation_labels: Optional[Sequence[str]] = None,
    symmetric_labels: Sequence[str] = (),
    **kwargs: Any,
) -> Dict[str, Any]:
    """NER (``ents_*``), RE (``rel_*``) and RE+ (``rel_strict_*``) scores as floats in
    [0, 1]; relations of ``symmetric_labels`` types match in either argument order.

    Each task has micro ``_p/_r/_f``, ``_macro_p/_r/_f`` and ``_per_type`` (type ->
    ``{"p", "r", "f"}``). Macro averages over the types seen in gold or predictions plus
    ``entity_labels`` / ``relation_labels`` if given. Other keyword arguments (spaCy
    passes scorer settings such as ``nlp``) are ignored, as spaCy's scorers do.
    """
    gold, pred, _ = _corpus_items(examples, spans_key, symmetric_labels)
    scores: Dict[str, Any] = {}
    for task in TASKS:
        labels = relation_labels if task.relation else entity_labels
        gold_items, pred_items = _column(gold, task.field), _column(pred, task.field)
        scores.update(flatten(task.prefix, score_items(gold_items, pred_items, labels)))
    return scores


def breakdowns(
    examples: Iterable[Example],
    spans_key: str = DEFAULT_SPANS_KEY,
    symmetric_labels: Sequence[str] = (),
) -> Dict[str, Dict[str, Dict[str, float]]]:
    """The paper's Figure 5 (NER F1 by entity length) and Figure 6 (F1 by text length),
    as micro F1 per bucket.

    ``{"entity length": {"NER": {bucket: f}}, "sentence length": {"NER": ..., "RE": ...,
    "RE+": ...}}``; lengths are counted in reference tokens (Figure 6 plots NER and RE+;
    RE is there for completeness).
    """
    gold, pred, lengths = _corpus_items(examples, spans_key, symmetric_labels)
    by_task = {
        task.name: (_column(gold, task.field), _column(pred, task.field))
        for task in TASKS
    }
    return {
        "entity length": {NER.name: f1_by_entity_length(*by_task[NER.name])},
        "sentence length": {
            task: f1_by_sentence_length(lengths, *items)
            for task, items in by_task.items()
        },
    }


@registry.scorers("spacy_stsn.scorer.v1")
def make_stsn_scorer() -> Callable[..., Dict[str, Any]]:
    """The scorer the ``stsn`` component calls as ``scorer(examples, spans_key=...,
    **kwargs)``."""
    return score_relations
