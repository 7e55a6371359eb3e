"""Training targets and losses of STSN: what the network should output for a batch of
gold examples.

Pure functions of the examples and the component's label sets (as coref's
``create_gold_scores``): the component calls :func:`make_targets` in ``update`` and
:func:`stsn_loss` in ``get_loss``. Per document the candidates are the gold spans plus
up to ``neg_entity_samples`` random non-entity spans, and the gold-related entity pairs
plus up to ``neg_relation_samples`` unrelated gold-entity pairs (the paper's section
4.1.4, as SpERT samples them). Relations of a symmetric type are put in one canonical
order (the argument that starts first is the head), so the reversed pair is a negative
and the model learns to predict one order only.
"""

import warnings
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy
from spacy.training import Example

from ..ml.labels import Labels, Span3
from ..ml.model import Candidates
from ..nn.span_selection import enumerate_spans, ordered_pairs
from .alignment import same_tokenization
from .annotations import SYMMETRIC_KEY, doc_name, get_entities
from .decoding import tail_first
from .tags import OUTSIDE, encode_tags
from ..ml.rows import is_whole_documents
from .windows import (
    example_windows,
    outside_windows,
    spans_in_windows,
    warn_outside,
)


def label_data(
    examples: Sequence[Example],
    spans_key: str,
    tag_scheme: str,
    known: Dict[str, List[str]],
    preset: Optional[Dict[str, List[str]]] = None,
) -> Tuple[Dict[str, List[str]], str, float]:
    """What a component learns from its training examples before training: the label
    data (entity and relation labels, the relation types the corpus marks symmetric, the
    token tags), the tag scheme (``auto``: extended_BIO iff some document has
    overlapping entities) and the fraction of documents with overlapping entities.
    ``known`` is label data set before (``add_label``, ``symmetric_relations``);
    ``preset`` is label data from ``spacy init labels``, used instead of the examples'
    labels."""
    entities, relations = set(known["entities"]), set()
    symmetric = set(known.get("symmetric", ()))
    n_overlapping = 0
    for eg in examples:
        ents = get_entities(eg.reference, spans_key)
        entities.update(label for _, _, label in ents)
        relations.update(rel["label"] for rel in eg.reference._.relations)
        symmetric.update(eg.reference.user_data.get(SYMMETRIC_KEY, ()))
        n_overlapping += has_overlap(ents)
    if tag_scheme == "auto":
        tag_scheme = "extended_BIO" if n_overlapping else "BIO"
    if preset is not None:
        entities, relations = set(preset["entities"]), set(preset["relations"])
        symmetric.update(preset.get("symmetric", ()))
    tags = {OUTSIDE} | {f"{prefix}-{label}" for label in entities for prefix in "BI"}
    if preset is not None and preset.get("tags"):
        tags.update(preset["tags"])
    elif tag_scheme == "extended_BIO":
        # two-fold tags ("B-AE/B-DRUG") exist only for the combinations the data has
        for eg in examples:
            tags.update(
                encode_tags(
                    len(eg.reference), get_entities(eg.reference, spans_key), tag_scheme
                )[0]
            )
    labels = {
        "entities": sorted(entities),
        "relations": sorted(relations),
        "tags": [OUTSIDE] + sorted(tags - {OUTSIDE}),
        "symmetric": sorted(symmetric & relations),
    }
    return labels, tag_scheme, n_overlapping / max(len(examples), 1)


def check_label_data(
    labels: Dict[str, List[str]], cfg: Dict[str, Any], overlaps: str, name: str
) -> None:
    """What ``initialize`` says about the label data it found: no entity labels is an
    error; no relation types (an entity-only corpus) trains and predicts entities only;
    overlaps too rare for ``overlaps = "auto"`` to decode nested are pointed out."""
    if not labels["entities"]:
        raise ValueError(
            f"[{name}] found no entity labels in the training data (spans_key "
            f"{cfg['spans_key']!r} or doc.ents); check the corpus and the spans_key setting"
        )
    if not labels["relations"]:
        warnings.warn(
            f"[{name}] found no relation types in the training data (doc._.relations is empty in "
            "every document): the component will train and predict entities only"
        )
    if cfg["overlaps"] == "auto" and cfg["data_overlaps"] and overlaps == "flat":
        warnings.warn(
            f"[{name}] {100 * cfg['data_overlaps']:.1f} % of the training documents have overlapping "
            "entities: too few for nested decoding (overlaps = 'auto' resolved to 'flat'); set "
            "overlaps = 'nested' to predict overlapping entities"
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
        """The settings of a component with label sets ``labels`` and cfg ``cfg``."""
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
    per window (:class:`~spacy_stsn.ml.model.Candidates`)."""

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
    are no candidates, with one warning that counts them."""
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
            per_row.append(targets + (doc_tags[start:end],))
            rows.append((i, start, end))
    warn_outside(settings.name, *outside.tolist())
    rows = numpy.asarray(rows, dtype="int64")
    whole = is_whole_documents(rows, [len(eg.predicted) for eg in examples])
    return _pad_targets(per_row, None if whole else rows, len(rel_ids), xp)


def _pad_targets(
    per_row: Sequence[Tuple[numpy.ndarray, ...]],
    rows: Optional[numpy.ndarray],
    n_relations: int,
    xp: Any,
) -> Targets:
    """Each row's spans, span labels, pairs, pair labels and tags as padded batch
    arrays."""
    n_spans = max(len(d[0]) for d in per_row)
    n_pairs = max(1, max(len(d[2]) for d in per_row))
    n_tokens = max(len(d[4]) for d in per_row)
    batch = len(per_row)
    spans = numpy.zeros((batch, n_spans, 2), dtype="int32")
    span_labels = numpy.full((batch, n_spans), -1, dtype="int32")
    pairs = numpy.zeros((batch, n_pairs, 2), dtype="int32")
    pair_labels = numpy.zeros((batch, n_pairs, n_relations), dtype="float32")
    pair_mask = numpy.zeros((batch, n_pairs), dtype=bool)
    tag_labels = numpy.full((batch, n_tokens), -1, dtype="int32")
    for b, row in enumerate(per_row):
        row_spans, row_span_labels, row_pairs, row_pair_labels, row_tags = row
        spans[b, : len(row_spans)] = row_spans
        span_labels[b, : len(row_spans)] = row_span_labels
        pairs[b, : len(row_pairs)] = row_pairs
        pair_labels[b, : len(row_pairs)] = row_pair_labels
        pair_mask[b, : len(row_pairs)] = True
        tag_labels[b, : len(row_tags)] = row_tags
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
    that is no entity is a ``ValueError`` naming the document."""
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
    up to ``neg_relation_samples`` other ordered pairs of its gold spans."""
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


def stsn_loss(ops: Any, outputs: Tuple, targets: Targets) -> Tuple[float, Tuple]:
    """Eq. 18: cross-entropy for tags and spans, binary cross-entropy for relations (Eq.
    9, 13, 17), and their gradients with respect to the logits ``outputs = (tag_logits,
    span_logits, rel_logits)``. The loss is read back from the device once, as a single
    number."""
    tag_logits, span_logits, rel_logits = outputs
    xp = ops.xp
    tag_loss, d_tags = softmax_cross_entropy(
        ops, tag_logits, xp.asarray(targets.tag_labels)
    )
    span_loss, d_spans = softmax_cross_entropy(
        ops, span_logits, xp.asarray(targets.span_labels)
    )
    mask = xp.asarray(targets.pair_mask, dtype="float32")[..., None]
    probs = ops.sigmoid(rel_logits)
    y = xp.asarray(targets.pair_labels, dtype="float32")
    n_pairs = xp.maximum(mask.sum(), 1).astype("float32")
    eps = 1e-7
    rel_loss = (
        -((y * xp.log(probs + eps) + (1 - y) * xp.log(1 - probs + eps)) * mask).sum()
        / n_pairs
    )
    d_rels = ((probs - y) * mask / n_pairs).astype("float32")
    return float(tag_loss + span_loss + rel_loss), (d_tags, d_spans, d_rels)


def softmax_cross_entropy(ops: Any, logits: Any, labels: Any) -> Tuple[Any, Any]:
    """Mean cross-entropy over positions whose label is >= 0 (a device scalar), and its
    gradient w.r.t. ``logits``."""
    xp = ops.xp
    if logits.shape[-1] == 0:
        return xp.zeros((), dtype="float32"), xp.zeros(logits.shape, dtype="float32")
    valid = labels >= 0
    n = xp.maximum(valid.sum(), 1).astype("float32")
    probs = ops.softmax(logits, axis=-1)
    gold = (
        xp.eye(logits.shape[-1], dtype="float32")[xp.where(valid, labels, 0)]
        * valid[..., None]
    )
    loss = -(xp.log(probs + 1e-9) * gold).sum() / n
    return loss, ((probs - gold) * valid[..., None] / n).astype("float32")


def has_overlap(spans: Sequence[Span3]) -> bool:
    """Whether any two of the entities share a token."""
    ordered = sorted((s, e) for s, e, _ in spans)
    return any(ordered[i][1] > ordered[i + 1][0] for i in range(len(ordered) - 1))


def aligned_entities(eg: Example, spans_key: str) -> List[Span3]:
    """Gold entities in the predicted doc's tokens; entities that do not align to tokens
    are left out with a warning (the tokenizer, not the data, decides where tokens
    start)."""
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
                f"the predicted tokenization and is ignored; train with gold_preproc = true"
            )
    return out


def aligned_relations(eg: Example) -> List[Dict[str, Any]]:
    """Gold relations in the predicted doc's tokens; a relation whose argument does not
    align is left out (its entity was already reported by :func:`aligned_entities`)."""
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
