"""Token-level tagging schemes of STSN: BIO, and the paper's extended BIO for two-fold
overlaps (4.1.2).

The tags only train the label representations H_L (the paper's sequence-tagging
decoder); entities are always read off the span decoder. Extended BIO tags the
*preceding* entity (earlier head; on a tie, the longer one) first and appends the
overlapping entity's tag after a "/", so "Codeine intoxication" (AE) nesting "Codeine"
(DRUG) is tagged ``B-AE/B-DRUG I-AE``. An entity that cannot be tagged (any overlap
       under plain BIO, a third fold under extended BIO) is left untagged and counted,
       never silently mis-tagged.
"""

from typing import List, Sequence, Tuple

from ..ml.labels import Span3

OUTSIDE = "O"
SEP = "/"
SCHEMES = ("BIO", "extended_BIO")


def _preceding_first(spans: Sequence[Span3]) -> List[Span3]:
    """Order entities so that each preceding entity comes before the entities it
    overlaps (Definition 2)."""
    return sorted(set(spans), key=lambda s: (s[0], -(s[1] - s[0]), s[2]))


def encode_tags(
    n_tokens: int, spans: Sequence[Span3], scheme: str = "BIO"
) -> Tuple[List[str], int]:
    """Tag ``n_tokens`` tokens with ``spans``.

    n_tokens (int): the tokens.
    spans (Sequence[Span3]): the entities, ``(start, end, label)``.
    scheme (str): "BIO" or "extended_BIO".
    RETURNS (Tuple[List[str], int]): the tags and how many entities were left
        untagged.
    """
    if scheme not in SCHEMES:
        raise ValueError(f"Unknown tag scheme {scheme!r}; expected one of {SCHEMES}")
    folds = 2 if scheme == "extended_BIO" else 1
    parts: List[List[str]] = [[] for _ in range(n_tokens)]
    skipped = 0
    for start, end, label in _preceding_first(spans):
        if SEP in label:
            raise ValueError(
                f"Entity label {label!r} contains {SEP!r}, which the tag scheme reserves"
            )
        if not (0 <= start < end <= n_tokens) or any(
            len(parts[i]) >= folds for i in range(start, end)
        ):
            skipped += 1
            continue
        parts[start].append(f"B-{label}")
        for i in range(start + 1, end):
            parts[i].append(f"I-{label}")
    return [SEP.join(p) if p else OUTSIDE for p in parts], skipped


def decode_tags(tags: Sequence[str]) -> List[Span3]:
    """Read entities back from (extended) BIO tags; an ``I-X`` with no open ``X`` starts
    a new entity.

    tags (Sequence[str]): one tag per token.
    RETURNS (List[Span3]): the entities.
    """
    spans: List[Span3] = []
    open_: List[List] = []  # [start, label] of entities still running
    for i, tag in enumerate(list(tags) + [OUTSIDE]):
        tag_parts = [] if tag == OUTSIDE else tag.split(SEP)
        continuing = {p[2:] for p in tag_parts if p.startswith("I-")}
        still_open = []
        for start, label in open_:
            if label in continuing:
                continuing.discard(label)
                still_open.append([start, label])
            else:
                spans.append((start, i, label))
        open_ = still_open
        for part in tag_parts:
            prefix, label = part[:2], part[2:]
            if prefix == "B-" or (prefix == "I-" and label in continuing):
                open_.append([i, label])
                continuing.discard(label)
    return sorted(spans)


def decode_doc_tags(doc) -> List[Span3]:
    """Entities read off a doc's predicted token tags (``doc._.stsn_tags``): the tagging
    decoder's own view, for inspection; the component's entities always come from the
    span decoder.

    doc (Doc): an annotated document.
    RETURNS (List[Span3]): the entities.
    """
    return decode_tags(doc._.stsn_tags or [])
