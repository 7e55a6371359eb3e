"""The record of an annotated document: what ``extract`` (local, Ray) and ``serve``
write for it (entities with character offsets and scores, relations as indices into the
entities, optionally tokens and tags)."""

import json
from typing import Any, Dict, Tuple

from spacy.tokens import Doc

from ..pipeline.annotations import DEFAULT_SPANS_KEY, get_entities, relation_arguments

# The fields that :func:`doc_to_record` adds to each output record (the tag fields with
# ``tags`` only): an input field of one of these names would be overwritten, so it is an
# error.
PREDICTION_FIELDS = ("entities", "relations")
TAG_FIELDS = ("tokens", "tags")


def prediction_fields(tags: bool = False) -> Tuple[str, ...]:
    """The fields the output records get from the predictions."""
    return PREDICTION_FIELDS + (TAG_FIELDS if tags else ())


def doc_to_record(
    doc: Doc, spans_key: str = DEFAULT_SPANS_KEY, tags: bool = False
) -> Dict[str, Any]:
    """Entities (char offsets, label, score), relations (indices into the entities) and
    optionally tags."""
    group = doc.spans[spans_key] if spans_key in doc.spans else None
    scores = list(group.attrs.get("scores", [])) if group is not None else []
    ents = get_entities(doc, spans_key)
    entities = []
    for i, (start, end, label) in enumerate(ents):
        span = doc[start:end]
        entities.append(
            {
                "text": span.text,
                "label": label,
                "start_char": span.start_char,
                "end_char": span.end_char,
                "start": start,
                "end": end,
                "score": float(scores[i]) if i < len(scores) else 1.0,
            }
        )
    relations = [
        {
            "head": head,
            "tail": tail,
            "label": rel["label"],
            "score": float(rel["score"]),
        }
        for rel, (head, tail) in zip(
            doc._.relations, relation_arguments(doc, ents, spans_key)
        )
    ]
    record: Dict[str, Any] = {"entities": entities, "relations": relations}
    if tags:
        record["tokens"] = [t.text for t in doc]
        record["tags"] = doc._.stsn_tags
    return record


def output_line(
    text: str, meta: Dict[str, Any], record: Dict[str, Any], text_key: str = "text"
) -> str:
    """One output JSON line: the text under ``text_key`` (the key it was read from, so
    that the character offsets refer to that field), the input's other fields, then the
    annotations of :func:`doc_to_record`."""
    return json.dumps({text_key: text, **meta, **record}, ensure_ascii=False) + "\n"
