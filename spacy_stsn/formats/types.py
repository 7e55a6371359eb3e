"""Label sets: the entity and relation types a SpERT types file lists, and the one check
that an annotation's label is among them, for every format that reads one."""

import json
from pathlib import Path
from typing import Any, List, Optional, Sequence, Tuple, Union


def _read_json(path: Union[str, Path], expected: str) -> Any:
    """A small JSON file (a types file), or an error naming it and what it should
    hold."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as err:
        raise ValueError(
            f"{path}: cannot read it ({err}); expected {expected}"
        ) from None
    try:
        return json.loads(text)
    except ValueError as err:
        raise ValueError(
            f"{path}: not valid JSON ({err}); expected {expected}"
        ) from None


def load_types(path: Union[str, Path]) -> Tuple[List[str], List[str]]:
    """Entity and relation labels of a SpERT types file, to reject labels a corpus
    should not have."""
    expected = "a JSON object with objects 'entities' and 'relations'"
    types = _read_json(path, f"a SpERT types file, {expected}")
    if not isinstance(types, dict) or not all(
        isinstance(types.get(k), dict) for k in ("entities", "relations")
    ):
        raise ValueError(f"{path}: not a SpERT types file (expected {expected})")
    return list(types["entities"]), list(types["relations"])


def load_symmetric(path: Union[str, Path]) -> List[str]:
    """Relation types a SpERT types file marks ``"symmetric": true`` (argument order
    carries no meaning)."""
    _, relations = load_types(path)
    described = _read_json(path, "a SpERT types file")["relations"]
    return sorted(
        label
        for label in relations
        if isinstance(described[label], dict)
        and described[label].get("symmetric") is True
    )


def check_label(
    label: Any, labels: Optional[Sequence[str]], what: str, where: str
) -> None:
    """Raise ``ValueError`` naming the place unless ``label`` is a non-empty string and,
    with a types file, one of its types.

    label (Any): the label as the file gives it.
    labels (Optional[Sequence[str]]): the types file's labels of this kind; None: no
        types file, any label is taken.
    what (str): the annotation, as the message names it ("entity 3", "relation R2").
    where (str): the file and the document or line it is in.
    """
    if not isinstance(label, str) or not label:
        raise ValueError(f"{where}: {what} has no type (got {label!r})")
    if labels is not None and label not in labels:
        raise ValueError(
            f"{where}: {what} has the unknown type {label!r} (types file: {list(labels)})"
        )
