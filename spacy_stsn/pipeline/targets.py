"""Training targets of STSN: what the network should output for a batch of gold
examples.

Pure functions of the examples and the component's label sets (as coref's
``create_gold_scores``): the component calls :func:`make_targets` in ``update`` and
:func:`spacy_stsn.pipeline.losses.stsn_loss` on them in ``get_loss``. Per document the
candidates are the gold spans plus up to ``neg_entity_samples`` random non-entity spans,
and the gold-related entity pairs plus up to ``neg_relation_samples`` unrelated
gold-entity pairs (the paper's section 4.1.4, as SpERT samples them). Relations of a
symmetric type are put in one canonical order (the argument that starts first is the
head), so the reversed pair is a negative and the model learns to predict one order
only.
"""

import warnings
from dataclasses import dataclass
from typing import Any, Dict, List, NamedTuple, Optional, Sequence, Tuple

import numpy
from spacy.training import Example

from ..ml.labels import Labels, Span3
from ..ml.requests import Candidates
from ..ml.rows import is_whole_documents
from ..nn.span_selection import enumerate_spans, ordered_pairs
from .alignment import same_tokenization
from .annotations import doc_name, get_entities
from .decoding import tail_first
from .tags import encode_tags
from .windows import (
    example_windows,
    outside_windows,
    spans_in_windows,
    warn_outside,
)


@dataclass
class TargetSettings:
    """What the targets depend on besides the examples: the component's labels,
    sampling and window settings (:mod:`spacy_stsn.pipeline.windows`)."""

    labels: Labels
    spans_key: str
    tag_scheme: str
    max_span_width: int
    neg_entity_samples: int
    neg_relation_samples: int
    name: str = "stsn"
    windows: str = "auto"
    window_size: int = 128
    window_overlap: int = 32

    @classmethod
    def from_cfg(
        cls, labels: Labels, cfg: Dict[str, Any], max_span_width: int, name: str
    ) -> "TargetSettings":
        """The settings of a component.

        labels (Labels): its label sets.
        cfg (Dict[str, Any]): its cfg.
        max_span_width (int): its architecture's ``max_span_width``.
        name (str): its name.
        RETURNS (TargetSettings): the settings.
        """
        negatives = (cfg["neg_entity_samples"], cfg["neg_relation_samples"])
        return cls(
            labels,
            cfg["spans_key"],
            cfg["tag_scheme"],
            max_span_width,
            *negatives,
            name,
            cfg["windows"],
            cfg["window_size"],
            cfg["window_overlap"],
        )


@dataclass
class Targets:
    """Training candidates and their gold labels for a batch of non-empty docs, one row
    per window (:class:`~spacy_stsn.ml.requests.Candidates`)."""

    candidates: Candidates
    span_labels: numpy.ndarray  # (R, S) int, 0 = NoneEntity, -1 = padding
    pair_labels: numpy.ndarray  # (R, P, R) multi-hot
    pair_mask: numpy.ndarray  # (R, P) bool
    tag_labels: numpy.ndarray  # (R, T) int, -1 = ignored


def make_targets(
    examples: Sequence[Example], settings: TargetSettings, xp: Any = numpy
) -> Targets:
    """Candidates and labels for ``examples`` (non-empty docs), one row per window of
    each document, as inference will ask
    (:func:`spacy_stsn.pipeline.windows.example_windows`), padded into batch
    arrays; the candidates are moved to ``xp`` (the model's array module), the labels
    stay on the host until the loss. Gold entities and relations that no window holds
    are no candidates, with one warning that counts them.

    examples (Sequence[Example]): the batch, non-empty docs only.
    settings (TargetSettings): the component's settings.
    xp (Any): the model's array module.
    RETURNS (Targets): the candidates and labels.
    """
    entity_ids = {label: i + 1 for i, label in enumerate(settings.labels.entities)}
    rel_ids = {label: i for i, label in enumerate(settings.labels.relations)}
    tag_ids = {tag: i for i, tag in enumerate(settings.labels.tags)}
    per_row, rows, outside = [], [], numpy.zeros(2, dtype="int64")
    for i, eg in enumerate(examples):
        gold, positive = doc_gold(i, eg, settings, entity_ids, rel_ids)
        tags, _ = encode_tags(len(eg.predicted), gold, settings.tag_scheme)
        doc_tags = numpy.asarray([tag_ids.get(tag, -1) for tag in tags], dtype="int32")
        windows = example_windows(
            eg,
            settings.windows,
            settings.window_size,
            settings.window_overlap,
            settings.max_span_width,
            same_tokenization(eg.predicted, eg.reference),
        )
        spans = numpy.asarray([(s, e) for s, e, _ in gold], dtype="int64")
        labels = numpy.asarray([entity_ids[label] for *_, label in gold], "int32")
        hits = spans_in_windows(windows, spans.reshape(-1, 2))
        outside += outside_windows(hits, len(gold), list(positive))
        for w, (start, end) in enumerate(windows[:, :2].tolist()):
            members = hits[hits[:, 0] == w, 1]
            local = {g: j for j, g in enumerate(members.tolist())}
            row_positive = {
                (local[h], local[t]): labels_of_pair
                for (h, t), labels_of_pair in positive.items()
                if h in local and t in local
            }
            targets = row_targets(
                end - start,
                spans.reshape(-1, 2)[members] - start,
                labels[members],
                row_positive,
                settings,
                len(rel_ids),
            )
            per_row.append(RowTargets(*targets, doc_tags[start:end]))
            rows.append((i, start, end))
    warn_outside(settings.name, *outside.tolist())
    rows = numpy.asarray(rows, dtype="int64")
    whole = is_whole_documents(rows, [len(eg.predicted) for eg in examples])
    return _pad_targets(per_row, None if whole else rows, len(rel_ids), xp)


class RowTargets(NamedTuple):
    """One row's candidates and their gold labels, before padding."""

    spans: numpy.ndarray  # (S, 2) [start, end) in the row
    span_labels: numpy.ndarray  # (S,) entity label ids, 0 = NoneEntity
    pairs: numpy.ndarray  # (P, 2) indices into spans
    pair_labels: numpy.ndarray  # (P, R) multi-hot relation types
    tags: numpy.ndarray  # (T,) tag ids, -1 = ignored


def _pad_targets(
    per_row: Sequence[RowTargets],
    rows: Optional[numpy.ndarray],
    n_relations: int,
    xp: Any,
) -> Targets:
    """Each row's spans, span labels, pairs, pair labels and tags as padded batch
    arrays."""
    n_spans = max(len(row.spans) for row in per_row)
    n_pairs = max(1, max(len(row.pairs) for row in per_row))
    n_tokens = max(len(row.tags) for row in per_row)
    batch = len(per_row)
    spans = numpy.zeros((batch, n_spans, 2), dtype="int32")
    span_labels = numpy.full((batch, n_spans), -1, dtype="int32")
    pairs = numpy.zeros((batch, n_pairs, 2), dtype="int32")
    pair_labels = numpy.zeros((batch, n_pairs, n_relations), dtype="float32")
    pair_mask = numpy.zeros((batch, n_pairs), dtype=bool)
    tag_labels = numpy.full((batch, n_tokens), -1, dtype="int32")
    for b, row in enumerate(per_row):
        spans[b, : len(row.spans)] = row.spans
        span_labels[b, : len(row.spans)] = row.span_labels
        pairs[b, : len(row.pairs)] = row.pairs
        pair_labels[b, : len(row.pairs)] = row.pair_labels
        pair_mask[b, : len(row.pairs)] = True
        tag_labels[b, : len(row.tags)] = row.tags
    return Targets(
        Candidates(xp.asarray(spans), xp.asarray(pairs), rows),
        span_labels,
        pair_labels,
        pair_mask,
        tag_labels,
    )


def doc_gold(
    index: int,
    eg: Example,
    settings: TargetSettings,
    entity_ids: Dict[str, int],
    rel_ids: Dict[str, int],
) -> Tuple[List[Span3], Dict[Tuple[int, int], numpy.ndarray]]:
    """One document's gold entities in the predicted tokens and its positive pairs
    (indices into the entities, symmetric types in canonical order) with their
    multi-hot relation types; a label the model does not have or a relation argument
    that is no entity is a ``ValueError`` naming the document.

    index (int): the example's index in the batch, in error messages.
    eg (Example): the example.
    settings (TargetSettings): the component's settings.
    entity_ids (Dict[str, int]): the entity label ids.
    rel_ids (Dict[str, int]): the relation type ids.
    RETURNS (Tuple[List[Span3], Dict[Tuple[int, int], numpy.ndarray]]): the entities
        and the positive pairs.
    """
    gold = aligned_entities(eg, settings.spans_key)
    for start, end, label in gold:
        if label not in entity_ids:
            raise ValueError(
                f"[{settings.name}] {doc_name(eg.reference, index)}: entity label {label!r} "
                f"at [{start}, {end}) is not one of the model's labels {list(entity_ids)}"
            )
    position = {(s, e): i for i, (s, e, _) in enumerate(gold)}
    positive: Dict[Tuple[int, int], numpy.ndarray] = {}
    for rel in aligned_relations(eg):
        head, tail = position.get(tuple(rel["head"])), position.get(tuple(rel["tail"]))
        if head is None or tail is None:
            missing = rel["head"] if head is None else rel["tail"]
            raise ValueError(
                f"[{settings.name}] {doc_name(eg.reference, index)}: relation {rel['label']!r} "
                f"points at [{missing[0]}, {missing[1]}), which is not an entity in "
                f"doc.spans[{settings.spans_key!r}]"
            )
        if rel["label"] not in rel_ids:
            raise ValueError(
                f"[{settings.name}] {doc_name(eg.reference, index)}: relation label "
                f"{rel['label']!r} is not one of the model's labels {list(rel_ids)}"
            )
        if rel["label"] in settings.labels.symmetric and tail_first(
            gold[head][:2], gold[tail][:2]
        ):
            head, tail = tail, head
        positive.setdefault((head, tail), numpy.zeros(len(rel_ids), dtype="float32"))[
            rel_ids[rel["label"]]
        ] = 1
    return gold, positive


def row_targets(
    length: int,
    gold_spans: numpy.ndarray,
    gold_labels: numpy.ndarray,
    positive: Dict[Tuple[int, int], numpy.ndarray],
    settings: TargetSettings,
    n_relations: int,
) -> Tuple[numpy.ndarray, ...]:
    """One row's spans, span labels, pairs and pair labels: its gold spans (m, 2) plus
    up to ``neg_entity_samples`` random other spans of up to ``max_span_width`` tokens
    within its ``length`` tokens; its positive pairs (indices into the gold spans) plus
    up to ``neg_relation_samples`` other ordered pairs of its gold spans.

    length (int): the row's tokens.
    gold_spans (numpy.ndarray): (m, 2) its gold spans, in row offsets.
    gold_labels (numpy.ndarray): (m,) their label ids.
    positive (Dict[Tuple[int, int], numpy.ndarray]): its gold pairs and their
        multi-hot types.
    settings (TargetSettings): the component's settings.
    n_relations (int): the relation types.
    RETURNS (Tuple[numpy.ndarray, ...]): spans, span labels, pairs and pair labels.
    """
    # Negative spans: a random sample of all spans up to max_span_width that are not
    # gold entities.
    starts, ends = enumerate_spans(length, settings.max_span_width).T
    is_gold = numpy.isin(
        starts * (length + 1) + ends,
        gold_spans[:, 0] * (length + 1) + gold_spans[:, 1],
    )
    negatives = numpy.flatnonzero(~is_gold)
    n_neg = min(settings.neg_entity_samples, len(negatives))
    negatives = (
        numpy.random.choice(negatives, n_neg, replace=False) if n_neg else negatives[:0]
    )
    row_spans = numpy.concatenate(
        [gold_spans, numpy.stack([starts[negatives], ends[negatives]], -1)]
    )
    row_span_labels = numpy.concatenate(
        [gold_labels, numpy.zeros(n_neg, dtype="int32")]
    ).astype("int32")
    # Positive pairs: gold relations (multi-hot over relation types); negatives: other
    # gold-entity pairs.
    n_gold = len(gold_spans)
    all_pairs = ordered_pairs(n_gold)
    pos_pairs = numpy.asarray(list(positive), dtype="int64").reshape(-1, 2)
    is_pos = numpy.isin(
        all_pairs[:, 0] * (n_gold + 1) + all_pairs[:, 1],
        pos_pairs[:, 0] * (n_gold + 1) + pos_pairs[:, 1],
    )
    neg_pairs = all_pairs[~is_pos]
    n_neg_pairs = min(settings.neg_relation_samples, len(neg_pairs))
    if n_neg_pairs < len(neg_pairs):
        neg_pairs = neg_pairs[
            numpy.random.choice(len(neg_pairs), n_neg_pairs, replace=False)
        ]
    row_pairs = numpy.concatenate([pos_pairs, neg_pairs])
    row_pair_labels = numpy.zeros((len(row_pairs), n_relations), dtype="float32")
    if positive:
        row_pair_labels[: len(positive)] = numpy.stack(list(positive.values()))
    return row_spans, row_span_labels, row_pairs, row_pair_labels


def aligned_entities(eg: Example, spans_key: str) -> List[Span3]:
    """Gold entities in the predicted doc's tokens; entities that do not align to tokens
    are left out with a warning (the tokenizer, not the data, decides where tokens
    start).

    eg (Example): the example.
    spans_key (str): the ``spans_key`` setting.
    RETURNS (List[Span3]): the entities.
    """
    gold = get_entities(eg.reference, spans_key)
    if same_tokenization(eg.predicted, eg.reference):
        return gold
    ref = eg.reference
    out = []
    for start, end, label in gold:
        aligned = eg.get_aligned_spans_y2x([ref[start:end]], allow_overlap=True)
        if aligned:
            out.append((aligned[0].start, aligned[0].end, label))
        else:
            warnings.warn(
                f"{doc_name(ref)}: entity {ref[start:end].text!r} ({label}) does not align with "
                f"the predicted tokenization and is ignored; train with gold_preproc = true",
                stacklevel=2,
            )
    return out


def aligned_relations(eg: Example) -> List[Dict[str, Any]]:
    """Gold relations in the predicted doc's tokens; a relation whose argument does not
    align is left out (its entity was already reported by :func:`aligned_entities`).

    eg (Example): the example.
    RETURNS (List[Dict[str, Any]]): the relations.
    """
    relations = eg.reference._.relations
    if same_tokenization(eg.predicted, eg.reference):
        return relations
    ref = eg.reference
    out = []
    for rel in relations:
        moved = [
            eg.get_aligned_spans_y2x([ref[s:e]], allow_overlap=True)
            for s, e in (rel["head"], rel["tail"])
        ]
        if all(moved):
            out.append(
                dict(
                    rel,
                    head=[moved[0][0].start, moved[0][0].end],
                    tail=[moved[1][0].start, moved[1][0].end],
                )
            )
    return out
