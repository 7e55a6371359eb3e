"""The component's scorer (``spacy_stsn.scorer.v1``): NER, RE and RE+ from ``Example`` objects.

Items are compared in character offsets, so a pipeline whose tokenizer splits differently from the gold
data is still scored against the gold boundaries (a token-boundary mismatch is simply an error).
"""
from typing import Any, Dict, Iterable, List, Optional, Sequence, Set, Tuple

from spacy.tokens import Doc
from spacy.training import Example
from spacy.util import registry

from .annotations import DEFAULT_SPANS_KEY, get_entities
from .metrics import Item, f1_by_entity_length, f1_by_sentence_length, flatten, score_items


def _char_span(doc: Doc, start: int, end: int) -> Tuple[int, int]:
    return doc[start].idx, doc[end - 1].idx + len(doc[end - 1])


def doc_items(doc: Doc, spans_key: str = DEFAULT_SPANS_KEY) -> Tuple[Set[Item], Set[Item], Set[Item]]:
    """Entities, RE items and RE+ items of a doc, in character offsets."""
    entities = {(*_char_span(doc, s, e), label) for s, e, label in get_entities(doc, spans_key)}
    rel, strict = set(), set()
    for r in doc._.relations:
        head, tail = _char_span(doc, *r["head"]), _char_span(doc, *r["tail"])
        rel.add((*head, *tail, r["label"]))
        strict.add((*head, r["head_label"], *tail, r["tail_label"], r["label"]))
    return entities, rel, strict


def _collect(examples: Iterable[Example], spans_key: str) -> Tuple[List[Tuple[Set[Item], ...]], ...]:
    gold, pred, lengths = [], [], []
    for eg in examples:
        gold.append(doc_items(eg.reference, spans_key))
        pred.append(doc_items(eg.predicted, spans_key))
        lengths.append(len(eg.reference))
    return gold, pred, lengths


def score_relations(
    examples: Iterable[Example],
    spans_key: str = DEFAULT_SPANS_KEY,
    entity_labels: Optional[Sequence[str]] = None,
    relation_labels: Optional[Sequence[str]] = None,
    **kwargs: Any,
) -> Dict[str, Any]:
    """``ents_*`` (NER), ``rel_*`` (RE) and ``rel_strict_*`` (RE+): micro ``_p/_r/_f``, ``_macro_p/_r/_f`` and
    ``_per_type``. Macro averages over the types seen in gold or predictions unless labels are given."""
    gold, pred, _ = _collect(examples, spans_key)
    scores: Dict[str, Any] = {}
    for i, (prefix, labels) in enumerate((("ents", entity_labels), ("rel", relation_labels),
                                          ("rel_strict", relation_labels))):
        scores.update(flatten(prefix, score_items([g[i] for g in gold], [p[i] for p in pred], labels)))
    return scores


def breakdowns(examples: Iterable[Example], spans_key: str = DEFAULT_SPANS_KEY) -> Dict[str, Dict[str, Dict]]:
    """The paper's Figure 5 (NER F1 by entity length) and Figure 6 (NER and RE+ F1 by sentence length)."""
    examples = list(examples)
    gold, pred, lengths = _collect(examples, spans_key)
    # entity length counts tokens, so these buckets use token offsets
    gold_tok = [{(s, e, label) for s, e, label in get_entities(eg.reference, spans_key)} for eg in examples]
    pred_tok = [{(s, e, label) for s, e, label in get_entities(eg.predicted, spans_key)} for eg in examples]
    return {
        "entity length": {"NER": f1_by_entity_length(gold_tok, pred_tok)},
        "sentence length": {
            "NER": f1_by_sentence_length(lengths, [g[0] for g in gold], [p[0] for p in pred]),
            "RE+": f1_by_sentence_length(lengths, [g[2] for g in gold], [p[2] for p in pred]),
        },
    }


@registry.scorers("spacy_stsn.scorer.v1")
def make_stsn_scorer():
    return score_relations
