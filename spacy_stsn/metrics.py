"""The paper's evaluation (section 4.1.3), as SpERT computes it; pure Python, no spaCy.

Items are hashable tuples whose last element is their type: an entity ``(start, end, type)`` is correct when
type and boundaries match (NER); a relation ``(head_start, head_end, tail_start, tail_end, type)`` when the
relation type and both arguments' boundaries match (RE); RE+ items also carry both entity types. Items are
sets per document, so a duplicated prediction counts once. Micro scores pool the counts; macro scores average
per-type P, R and F1 over the types that occur in gold or predictions (SpERT's ``_compute_metrics``), or
over an explicit label list, where a type that never occurs counts as 0. Any division by zero gives 0.
"""
from collections import Counter
from typing import Dict, Hashable, Iterable, Optional, Sequence, Set, Tuple

Item = Tuple[Hashable, ...]
PRF = Dict[str, float]

ENTITY_LENGTH_BUCKETS = ((1, 2), (3, 4), (5, 6), (7, 8), (9, 10))
SENTENCE_LENGTH_BUCKETS = ((0, 19), (20, 34), (35, 49), (50, None))


def prf(tp: int, n_pred: int, n_gold: int) -> PRF:
    p = tp / n_pred if n_pred else 0.0
    r = tp / n_gold if n_gold else 0.0
    return {"p": p, "r": r, "f": 2 * p * r / (p + r) if p + r else 0.0}


def score_items(
    gold: Sequence[Iterable[Item]], pred: Sequence[Iterable[Item]], labels: Optional[Sequence[str]] = None
) -> Dict[str, object]:
    """Micro, macro and per-type P/R/F1 over documents (``gold[i]`` and ``pred[i]`` belong to document i)."""
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
    types = list(labels) if labels is not None else sorted(set(n_gold) | set(n_pred))
    per_type = {t: prf(tp[t], n_pred[t], n_gold[t]) for t in types}
    micro = prf(sum(tp.values()), sum(n_pred.values()), sum(n_gold.values()))
    macro = {m: sum(s[m] for s in per_type.values()) / len(per_type) if per_type else 0.0 for m in "prf"}
    return {"micro": micro, "macro": macro, "per_type": per_type,
            "support": {t: n_gold[t] for t in types}}


def _bucket_name(bucket: Tuple[int, Optional[int]]) -> str:
    low, high = bucket
    return f">={low}" if high is None else f"{low}-{high}"


def _in_bucket(length: int, bucket: Tuple[int, Optional[int]]) -> bool:
    low, high = bucket
    return length >= low and (high is None or length <= high)


def f1_by_entity_length(gold: Sequence[Set[Item]], pred: Sequence[Set[Item]],
                        buckets: Sequence[Tuple[int, Optional[int]]] = ENTITY_LENGTH_BUCKETS) -> Dict[str, float]:
    """Figure 5: NER micro F1 per entity-length bucket; gold and predicted entities are each bucketed by
    their own length (``end - start``), so a boundary error costs in both buckets it touches."""
    out = {}
    for bucket in buckets:
        g = [{e for e in doc if _in_bucket(e[1] - e[0], bucket)} for doc in gold]
        p = [{e for e in doc if _in_bucket(e[1] - e[0], bucket)} for doc in pred]
        out[_bucket_name(bucket)] = score_items(g, p)["micro"]["f"]
    return out


def f1_by_sentence_length(lengths: Sequence[int], gold: Sequence[Set[Item]], pred: Sequence[Set[Item]],
                          buckets: Sequence[Tuple[int, Optional[int]]] = SENTENCE_LENGTH_BUCKETS) -> Dict[str, float]:
    """Figure 6: micro F1 of the documents whose token count falls in each bucket."""
    out = {}
    for bucket in buckets:
        idx = [i for i, n in enumerate(lengths) if _in_bucket(n, bucket)]
        out[_bucket_name(bucket)] = score_items([gold[i] for i in idx], [pred[i] for i in idx])["micro"]["f"]
    return out


def flatten(prefix: str, scores: Dict[str, object]) -> Dict[str, object]:
    """spaCy-style keys: ``{prefix}_p/_r/_f``, ``{prefix}_macro_p/_r/_f`` and ``{prefix}_per_type``."""
    out: Dict[str, object] = {f"{prefix}_{m}": v for m, v in scores["micro"].items()}  # type: ignore[union-attr]
    out.update({f"{prefix}_macro_{m}": v for m, v in scores["macro"].items()})  # type: ignore[union-attr]
    out[f"{prefix}_per_type"] = scores["per_type"]
    return out

