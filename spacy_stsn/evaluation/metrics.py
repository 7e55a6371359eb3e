"""The paper's evaluation (section 4.1.3) as SpERT computes it; pure Python, no spaCy,
so it can be checked by hand.

Items are hashable tuples whose last element is their type, and an item is correct only
if an identical item is in the gold data of the same document:

* NER: ``(start, end, entity_type)``: boundaries and type must match;
* RE: ``(head_start, head_end, tail_start, tail_end, relation_type)``: relation type and
  both arguments' boundaries; the entity types are ignored. Relations are directed: a
  reversed prediction is wrong;
* RE+: ``(head_start, head_end, head_type, tail_start, tail_end, tail_type,
  relation_type)``: also both types.

Each document's items are a set, so a duplicated prediction (or gold item) counts once.
Micro scores pool the counts over all documents and types. Macro scores are SpERT's
``_compute_metrics`` (sklearn's ``average="macro"``): per-type P, R and F1 averaged over
the types, i.e. macro F1 is the mean of per-type F1, not the F1 of macro P and macro R.
The types are those occurring in gold or predictions, plus every label of an explicit
list, so a type of the list that never occurs counts with P = R = F1 = 0. Every division
by zero gives 0, as sklearn's ``zero_division=0`` in SpERT does; in particular F1 is 0
when there is nothing to find and nothing predicted.
"""

from collections import Counter
from typing import Any, Dict, Hashable, Iterable, List, Optional, Sequence, Tuple

Item = Tuple[Hashable, ...]
# token offsets, ``end`` exclusive (the scorer may use non-integers for a predicted span
# it cannot align)
Offsets = Tuple[float, float]
PRF = Dict[str, float]
Bucket = Tuple[int, Optional[int]]

# Figure 5 (entity length in tokens, up to the span width threshold 10) and Figure 6
# (text length in tokens)
ENTITY_LENGTH_BUCKETS: Tuple[Bucket, ...] = ((1, 2), (3, 4), (5, 6), (7, 8), (9, 10))
SENTENCE_LENGTH_BUCKETS: Tuple[Bucket, ...] = ((0, 19), (20, 34), (35, 49), (50, None))


def entity_item(start: float, end: float, label: str) -> Item:
    """NER item: correct when boundaries and type match."""
    return (start, end, label)


def relation_item(head: Offsets, tail: Offsets, label: str) -> Item:
    """RE item: correct when the relation type and both arguments' boundaries match
    (entity types ignored)."""
    return (head[0], head[1], tail[0], tail[1], label)


def strict_relation_item(
    head: Offsets, head_label: str, tail: Offsets, tail_label: str, label: str
) -> Item:
    """RE+ item: correct when the relation type and both arguments (boundaries and
    entity type) match."""
    return (head[0], head[1], head_label, tail[0], tail[1], tail_label, label)


def prf(tp: int, n_pred: int, n_gold: int) -> PRF:
    """Precision, recall and F1 from counts; 0 wherever the denominator is 0 (SpERT's
    ``zero_division=0``)."""
    p = tp / n_pred if n_pred else 0.0
    r = tp / n_gold if n_gold else 0.0
    return {"p": p, "r": r, "f": 2 * p * r / (p + r) if p + r else 0.0}


def score_items(
    gold: Sequence[Iterable[Item]],
    pred: Sequence[Iterable[Item]],
    labels: Optional[Sequence[str]] = None,
) -> Dict[str, Any]:
    """Micro, macro and per-type P/R/F1 of a corpus: ``gold[i]`` and ``pred[i]`` are
    document i's items.

    Returns ``{"micro": PRF, "macro": PRF, "per_type": {type: PRF}, "counts": {type:
    {"tp", "pred", "gold"}}}``. ``labels`` adds types to the macro average (and to
    ``per_type``) even if they never occur; a type that occurs but is not in ``labels``
    is still counted rather than silently dropped.
    """
    if len(gold) != len(pred):
        raise ValueError(f"{len(gold)} gold documents but {len(pred)} predicted ones")
    tp: Counter = Counter()
    n_gold: Counter = Counter()
    n_pred: Counter = Counter()
    for gold_doc, pred_doc in zip(gold, pred):
        g, p = set(gold_doc), set(pred_doc)
        n_gold.update(item[-1] for item in g)
        n_pred.update(item[-1] for item in p)
        tp.update(item[-1] for item in g & p)
    types = _types(labels, set(n_gold) | set(n_pred))
    per_type = {t: prf(tp[t], n_pred[t], n_gold[t]) for t in types}
    macro = {
        m: sum(s[m] for s in per_type.values()) / len(per_type) if per_type else 0.0
        for m in ("p", "r", "f")
    }
    return {
        "micro": prf(sum(tp.values()), sum(n_pred.values()), sum(n_gold.values())),
        "macro": macro,
        "per_type": per_type,
        "counts": {
            t: {"tp": tp[t], "pred": n_pred[t], "gold": n_gold[t]} for t in types
        },
    }


def _types(
    labels: Optional[Sequence[str]], occurring: Iterable[Hashable]
) -> List[Hashable]:
    """The given labels in their order, then any other occurring type, sorted
    (deterministic output)."""
    given = list(dict.fromkeys(labels or ()))
    return given + sorted(set(occurring) - set(given), key=str)


def flatten(prefix: str, scores: Dict[str, Any]) -> Dict[str, Any]:
    """spaCy-style keys: ``{prefix}_p/_r/_f`` (micro), ``{prefix}_macro_p/_r/_f`` and
    ``{prefix}_per_type``."""
    out: Dict[str, Any] = {f"{prefix}_{m}": v for m, v in scores["micro"].items()}
    out.update({f"{prefix}_macro_{m}": v for m, v in scores["macro"].items()})
    out[f"{prefix}_per_type"] = scores["per_type"]
    return out


def bucket_name(bucket: Bucket) -> str:
    """``"1-2"`` for a closed bucket, ``">=50"`` for an open one: the labels of the
    paper's figures."""
    low, high = bucket
    return f">={low}" if high is None else f"{low}-{high}"


def _in_bucket(length: float, bucket: Bucket) -> bool:
    low, high = bucket
    return length >= low and (high is None or length <= high)


def f1_by_entity_length(
    gold: Sequence[Iterable[Item]],
    pred: Sequence[Iterable[Item]],
    buckets: Sequence[Bucket] = ENTITY_LENGTH_BUCKETS,
) -> Dict[str, float]:
    """Figure 5: NER micro F1 per entity-length bucket.

    Gold and predicted entities (``(start, end, type)``) are each bucketed by their own
    length ``end - start``, so a prediction with a wrong boundary is a false positive in
    its bucket and the missed gold entity a false negative in its own. Entities longer
    than the last bucket (beyond the span width threshold) are in no bucket.
    """
    out = {}
    for bucket in buckets:
        g = [{e for e in doc if _in_bucket(e[1] - e[0], bucket)} for doc in gold]
        p = [{e for e in doc if _in_bucket(e[1] - e[0], bucket)} for doc in pred]
        out[bucket_name(bucket)] = score_items(g, p)["micro"]["f"]
    return out


def f1_by_sentence_length(
    lengths: Sequence[int],
    gold: Sequence[Iterable[Item]],
    pred: Sequence[Iterable[Item]],
    buckets: Sequence[Bucket] = SENTENCE_LENGTH_BUCKETS,
) -> Dict[str, float]:
    """Figure 6: micro F1 over the documents whose length (``lengths[i]`` tokens) falls
    in each bucket."""
    if not len(lengths) == len(gold) == len(pred):
        raise ValueError(
            f"{len(lengths)} lengths, {len(gold)} gold and {len(pred)} predicted documents"
        )
    out = {}
    for bucket in buckets:
        idx = [i for i, n in enumerate(lengths) if _in_bucket(n, bucket)]
        out[bucket_name(bucket)] = score_items(
            [gold[i] for i in idx], [pred[i] for i in idx]
        )["micro"]["f"]
    return out
