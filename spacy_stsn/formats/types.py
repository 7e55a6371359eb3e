"""Label sets: the entity and relation types a SpERT types file lists, and the one check
that an annotation's label is among them, for every format that reads one."""

from typing import Any, Optional, Sequence


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
