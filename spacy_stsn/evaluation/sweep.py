"""A corpus decoded once with the loosest settings, then re-decoded at any thresholds by
counting: the threshold sweep of :mod:`spacy_stsn.evaluation.tuning`.

The loosest pass keeps every relation of score >= the grid's minimum and every
overlapping entity. A setting keeps a relation when its score reaches its type's
threshold and both its arguments are kept, an entity when the flat rule keeps it or its
score reaches ``nested_threshold`` (:mod:`spacy_stsn.pipeline.decoding`). The counts
give exactly what :func:`spacy_stsn.evaluation.scorer.score_relations` gives for the
decoded docs (tested), as long as the loosest settings keep at most
``max_pair_entities`` entities in a document.
"""

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy
from spacy.training import Example

from ..pipeline.alignment import same_words
from ..pipeline.decoding import relation_key, select_non_overlapping
from .metrics import entity_item, prf, relation_item, strict_relation_item
from .scorer import DocItems, doc_items
from .tasks import NER, RE, RE_PLUS, TASKS, Task


@dataclass
class Thresholds:
    """The decoding settings that the sweep chooses (the component's settings of the
    same names)."""

    threshold: float
    relation_thresholds: Dict[str, float] = field(default_factory=dict)
    nested_threshold: float = 0.0

    def per_type(self, types: Sequence[str]) -> numpy.ndarray:
        """One threshold per type of ``types`` (float32, as the decoder compares)."""
        return numpy.asarray(
            [self.relation_thresholds.get(t, self.threshold) for t in types],
            dtype="float32",
        )


@dataclass
class Items:
    """One task's predicted items over a corpus (rows), each with its type id, whether
    gold has it, a score and the ids of the entities it needs kept (one column for an
    entity, two for a relation)."""

    type_id: numpy.ndarray
    correct: numpy.ndarray
    score: numpy.ndarray
    needs: numpy.ndarray
    gold: numpy.ndarray  # gold items per type id


class Predictions:
    """A corpus decoded with the loosest settings, ready to be re-decoded at any
    thresholds by counting."""

    def __init__(
        self,
        examples: Sequence[Example],
        spans_key: str,
        symmetric: Sequence[str],
        relation_types: Sequence[str],
    ):
        """Decode ``examples`` (predicted with the loosest settings) for the sweep.

        examples (Sequence[Example]): predicted docs in the reference's tokens.
        spans_key (str): the span group that holds every predicted entity.
        symmetric (Sequence[str]): relation types whose argument order is canonical.
        relation_types (Sequence[str]): the model's relation types, the ones a
            threshold can be set for.
        """
        gold = [
            doc_items(eg.reference, spans_key, symmetric=symmetric) for eg in examples
        ]
        entity_types = sorted(
            {i[-1] for g in gold for i in g.entities}
            | {
                s.label_
                for eg in examples
                for s in eg.predicted.spans.get(spans_key, [])
            }
        )
        self.model_types = list(relation_types)  # the types a threshold can be set for
        relation_types = self.model_types + sorted(
            {i[-1] for g in gold for i in g.relations} - set(relation_types)
        )
        self.types = {
            task.prefix: relation_types if task.relation else entity_types
            for task in TASKS
        }
        rows: Dict[str, List[Tuple]] = {task.prefix: [] for task in TASKS}
        winner: List[bool] = []
        entity_score: List[float] = []
        for eg, gold_doc in zip(examples, gold):
            doc_rows, doc_winner, doc_scores = _doc_rows(
                eg, gold_doc, spans_key, symmetric, len(winner)
            )
            for prefix, task_rows in doc_rows.items():
                rows[prefix] += task_rows
            winner += doc_winner
            entity_score += doc_scores
        self.winner = numpy.asarray(winner, dtype=bool)
        self.entity_score = numpy.asarray(entity_score, dtype="float32")
        self.items = {
            task.prefix: self._items(task, rows[task.prefix], gold) for task in TASKS
        }

    def _items(self, task: Task, rows: List[Tuple], gold: List[DocItems]) -> Items:
        """One task's rows as :class:`Items`, with the gold items counted per type."""
        index = {t: i for i, t in enumerate(self.types[task.prefix])}
        gold_counts = numpy.zeros(len(index), dtype="int64")
        for g in gold:
            for item in getattr(g, task.field):
                gold_counts[index[item[-1]]] += 1
        return Items(
            numpy.asarray([index[r[0][-1]] for r in rows], dtype="int64"),
            numpy.asarray([r[1] for r in rows], dtype=bool),
            numpy.asarray([r[2] for r in rows], dtype="float32"),
            numpy.asarray([r[3:] for r in rows], dtype="int64").reshape(-1, 2),
            gold_counts,
        )

    def kept_entities(self, nested_threshold: Optional[float]) -> numpy.ndarray:
        """Which predicted entities a setting keeps: all (None: the loosest pass's
        policy, flat or the paper's nested), else the flat rule's winners and those
        whose score reaches ``nested_threshold``."""
        if nested_threshold is None or nested_threshold <= 0.0:
            return numpy.ones(len(self.winner), dtype=bool)
        return self.winner | (self.entity_score >= numpy.float32(nested_threshold))

    def scores(self, thresholds: Thresholds, nested: bool = False) -> Dict[str, Any]:
        """The scorer's keys (micro, macro and per-type P/R/F1 of NER, RE and RE+) at
        ``thresholds``; ``nested``: apply its ``nested_threshold`` to the entities."""
        kept = self.kept_entities(thresholds.nested_threshold if nested else None)
        out: Dict[str, Any] = {}
        for task in TASKS:
            items = self.items[task.prefix]
            passes = kept[items.needs[:, 0]]
            if task.relation:
                passes &= kept[items.needs[:, 1]]
                limits = thresholds.per_type(self.types[task.prefix])
                passes &= items.score >= limits[items.type_id]
            out.update(self._task_scores(task.prefix, items, passes))
        return out

    def _task_scores(
        self, task: str, items: Items, passes: numpy.ndarray
    ) -> Dict[str, Any]:
        """``metrics.score_items``' figures from counts: macro over the types in gold or
        predictions."""
        n = len(items.gold)
        tp = numpy.bincount(items.type_id[passes & items.correct], minlength=n)
        pred = numpy.bincount(items.type_id[passes], minlength=n)
        per_type = {
            t: prf(int(tp[i]), int(pred[i]), int(items.gold[i]))
            for i, t in enumerate(self.types[task])
            if pred[i] or items.gold[i]
        }
        micro = prf(int(tp.sum()), int(pred.sum()), int(items.gold.sum()))
        out = {f"{task}_{m}": v for m, v in micro.items()}
        for m in ("p", "r", "f"):
            values = [s[m] for s in per_type.values()]
            out[f"{task}_macro_{m}"] = sum(values) / len(values) if values else 0.0
        out[f"{task}_per_type"] = per_type
        return out


def _doc_rows(
    eg: Example,
    gold: DocItems,
    spans_key: str,
    symmetric: Sequence[str],
    first: int,
) -> Tuple[Dict[str, List[Tuple]], List[bool], List[float]]:
    """One document's rows per task, ``(item, whether gold has it, score, ids of the
    entities it needs)`` (a relation type's best-scored row per item), and its entities'
    flat-rule winners and scores; its entity ids count from ``first``."""
    if not same_words(eg.predicted, eg.reference):
        raise ValueError("tuning needs the predicted docs in the reference's tokens")
    group = eg.predicted.spans.get(spans_key, [])
    scores = list(group.attrs.get("scores", [1.0] * len(group))) if group else []
    offsets = [(span.start, span.end) for span in group]
    ids = {span: first + n for n, span in enumerate(offsets)}
    kept = set(select_non_overlapping(offsets, scores))
    winner = [n in kept for n in range(len(offsets))]
    rows: Dict[str, List[Tuple]] = {task.prefix: [] for task in TASKS}
    for (start, end), span in zip(offsets, group):
        item = entity_item(start, end, span.label_)
        rows[NER.prefix].append(
            (item, item in gold.entities, 1.0, ids[(start, end)], -1)
        )
    best: Dict[Tuple, Tuple] = {}
    for rel in eg.predicted._.relations:
        head, head_label, tail, tail_label, label = relation_key(rel, symmetric)
        args = (ids[tuple(rel["head"])], ids[tuple(rel["tail"])])
        for task, item, gold_items in (
            (RE.prefix, relation_item(head, tail, label), gold.relations),
            (
                RE_PLUS.prefix,
                strict_relation_item(head, head_label, tail, tail_label, label),
                gold.strict_relations,
            ),
        ):
            row = (item, item in gold_items, rel["score"], *args)
            if (task, item) not in best or best[(task, item)][2] < row[2]:
                best[(task, item)] = row
    for (task, _), row in best.items():
        rows[task].append(row)
    return rows, winner, scores
