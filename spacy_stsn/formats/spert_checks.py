"""What a SpERT record must be before it becomes a Doc: its keys, tokens, entities and
relations checked, each problem a ``ValueError`` naming the file, the document and the
fault (the rules: :mod:`spacy_stsn.formats.spert`)."""

import difflib
import re
from typing import Any, Dict, List, Optional, Sequence

from .types import check_label

KEYS = ("tokens", "entities", "relations", "orig_id")
_SPACE = re.compile(r"\s")


def record_where(source: str, index: int, record: Any) -> str:
    """Name a record in error messages; there is no Doc yet for :func:`doc_name`."""
    orig_id = record.get("orig_id") if isinstance(record, dict) else None
    return f"{source}: document #{index}" + (
        f" (orig_id={orig_id})" if orig_id is not None else ""
    )


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _objects(record: Dict[str, Any], key: str, where: str) -> List[Dict[str, Any]]:
    items = record.get(key, [])
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise ValueError(f"{where}: '{key}' must be a list of objects, got {items!r}")
    return items


def _check_keys(record: Dict[str, Any], where: str) -> None:
    unknown = [key for key in record if key not in KEYS]
    if unknown:
        guesses = difflib.get_close_matches(str(unknown[0]), KEYS, n=1)
        hint = f"; did you mean {guesses[0]!r}?" if guesses else ""
        raise ValueError(
            f"{where}: unknown key {unknown[0]!r} (a SpERT document has 'tokens', "
            f"'entities', 'relations' and optionally 'orig_id'){hint}"
        )
    if "tokens" not in record:
        raise ValueError(f"{where}: no 'tokens'")
    if "entities" not in record:
        raise ValueError(
            f"{where}: no 'entities' key (a document without entities has "
            '"entities": [])'
        )


def _check_tokens(tokens: Any, where: str) -> None:
    if not isinstance(tokens, list):
        raise ValueError(f"{where}: 'tokens' must be a list of strings, got {tokens!r}")
    if not tokens:
        raise ValueError(f"{where}: the document has no tokens")
    if (
        all(isinstance(t, str) and t for t in tokens)
        and _SPACE.search("".join(tokens)) is None
    ):
        return
    for i, token in enumerate(tokens):
        if not isinstance(token, str):
            problem = "is not a string"
        elif not token:
            problem = "is empty"
        elif token.isspace():
            problem = "is only whitespace"
        elif _SPACE.search(token):
            problem = "contains whitespace"
        else:
            continue
        raise ValueError(
            f"{where}: token {i} {token!r} {problem} (a token is a non-empty string "
            "without spaces or line breaks, or its text would not tokenise back to it)"
        )


def check_record(
    record: Any,
    where: str,
    entity_labels: Optional[Sequence[str]],
    relation_labels: Optional[Sequence[str]],
) -> None:
    """Raise on anything that would make a wrong or partial Doc."""
    if not isinstance(record, dict):
        raise ValueError(f"{where}: expected an object, got {type(record).__name__}")
    _check_keys(record, where)
    tokens = record["tokens"]
    _check_tokens(tokens, where)
    entities = _objects(record, "entities", where)
    seen = set()
    for i, ent in enumerate(entities):
        start, end, label = ent.get("start"), ent.get("end"), ent.get("type")
        check_label(label, entity_labels, f"entity {i}", where)
        if not _is_int(start) or not _is_int(end):
            raise ValueError(
                f"{where}: entity {i} ({label}) has non-integer start/end {start!r}/{end!r}"
            )
        if end <= start:
            raise ValueError(
                f"{where}: entity {i} ({label}) has end {end} <= start {start}"
            )
        if start < 0 or end > len(tokens):
            raise ValueError(
                f"{where}: entity {i} ({label}) span [{start}, {end}) is outside the sentence's {len(tokens)} tokens"
            )
        if (start, end, label) in seen:
            raise ValueError(
                f"{where}: entity {i} ({label}, [{start}, {end})) is listed twice"
            )
        seen.add((start, end, label))
    for i, rel in enumerate(_objects(record, "relations", where)):
        label = rel.get("type")
        check_label(label, relation_labels, f"relation {i}", where)
        for arg in ("head", "tail"):
            value = rel.get(arg)
            if not _is_int(value) or not 0 <= value < len(entities):
                raise ValueError(
                    f"{where}: relation {i} ({label}) {arg} {value!r} does not index one of the "
                    f"{len(entities)} entities"
                )
