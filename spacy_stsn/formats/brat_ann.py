"""The lines of a brat ``.ann`` file, parsed and checked against the ``.txt`` they
annotate before any Doc is made (:mod:`spacy_stsn.formats.brat` lists the line kinds,
what is skipped and what is an error)."""

import re
from collections import Counter
from typing import Any, Dict, List, NamedTuple, Set, Tuple

SKIPPED = (
    "discontinuous_entities",
    "event_triggers",
    "relations_to_skipped",
    "events",
    "equivalences",
    "attributes",
    "normalizations",
    "notes",
)
_SKIPPED_KIND = {
    "E": "events",
    "*": "equivalences",
    "A": "attributes",
    "M": "attributes",
    "N": "normalizations",
    "#": "notes",
}
_KINDS = "TR" + "".join(_SKIPPED_KIND)
_INTEGER = re.compile(r"[0-9]+")
_ADJUSTED = ("expanded_entities", "trimmed_entities", "merged_entities")
_N_EXAMPLES = 3


class _TextBound(NamedTuple):
    label: str
    fragments: List[Tuple[int, int]]
    where: str


class _BinaryRelation(NamedTuple):
    id: str
    label: str
    head: str
    tail: str
    where: str


class BratSummary:
    """What a conversion skipped or adjusted, totalled over files, with where the first
    few were."""

    def __init__(self) -> None:
        self.counts: Counter = Counter()
        self.examples: Dict[str, List[str]] = {}

    def add(self, kind: str, where: str) -> None:
        self.counts[kind] += 1
        examples = self.examples.setdefault(kind, [])
        if len(examples) < _N_EXAMPLES:
            examples.append(where)

    def as_dict(self) -> Dict[str, Any]:
        return {
            "skipped": {kind: self.counts[kind] for kind in SKIPPED},
            **{kind: self.counts[kind] for kind in _ADJUSTED},
            "examples": self.examples,
        }


def flat(text: str) -> str:
    """A text as an ``.ann`` line can hold it: tabs and line breaks as spaces."""
    return text.replace("\t", " ").replace("\r", " ").replace("\n", " ")


def _text_bound(rest: str, text: str, where: str) -> _TextBound:
    fields = rest.split("\t")
    head = fields[0].split(" ", 1)
    if len(fields) != 2 or len(head) != 2 or not head[0]:
        raise ValueError(
            f"{where}: a T line is 'ID<tab>TYPE START END<tab>TEXT', got {rest!r}"
        )
    label, offsets = head
    fragments = []
    for fragment in offsets.split(";"):
        bounds = fragment.split()
        if len(bounds) != 2 or not all(_INTEGER.fullmatch(b) for b in bounds):
            raise ValueError(
                f"{where}: offsets {offsets!r} are not 'START END' pairs of integers"
            )
        start, end = int(bounds[0]), int(bounds[1])
        if not start < end <= len(text):
            raise ValueError(
                f"{where}: offsets {start} {end} are empty, reversed or beyond the text's "
                f"{len(text)} characters"
            )
        fragments.append((start, end))
    expected = flat(" ".join(text[start:end] for start, end in fragments))
    if fields[1] != expected:
        raise ValueError(
            f"{where}: the entity's text {fields[1]!r} differs from the .txt at {offsets}: "
            f"{expected!r}"
        )
    return _TextBound(label, fragments, where)


def _binary_relation(ann_id: str, rest: str, where: str) -> _BinaryRelation:
    parts = rest.split()
    args = [part.split(":", 1) for part in parts[1:]]
    if len(parts) != 3 or not all(len(arg) == 2 and all(arg) for arg in args):
        raise ValueError(
            f"{where}: an R line is 'ID<tab>LABEL Arg1:ID Arg2:ID', got {rest!r}"
        )
    if args[0][0] == args[1][0]:
        raise ValueError(
            f"{where}: the role {args[0][0]} is given twice in {rest!r} (a relation has one "
            "Arg1, its head, and one Arg2)"
        )
    roles = dict(args)
    if sorted(roles) == ["Arg1", "Arg2"]:
        return _BinaryRelation(ann_id, parts[0], roles["Arg1"], roles["Arg2"], where)
    return _BinaryRelation(ann_id, parts[0], args[0][1], args[1][1], where)


class ParsedAnn(NamedTuple):
    """An ``.ann`` file's entities (by id), relations, event ids and event triggers (id
    -> the E line)."""

    entities: Dict[str, _TextBound]
    relations: List[_BinaryRelation]
    events: Set[str]
    triggers: Dict[str, str]


def parse_ann(ann: str, text: str, source: str, summary: BratSummary) -> ParsedAnn:
    """Check every line of an ``.ann`` file against its text and keep what a Doc can
    hold; the kinds it cannot are counted in ``summary``. ``source`` names the file in
    errors (``FILE:LINE: problem``)."""
    parsed = ParsedAnn({}, [], set(), {})
    defined: Dict[str, int] = {}
    for number, line in enumerate(ann.split("\n"), 1):
        line = line.rstrip("\r")
        if not line.strip():
            continue
        where = f"{source}:{number}"
        ann_id, tab, rest = line.partition("\t")
        if not tab or not ann_id:
            raise ValueError(f"{where}: expected an id and a tab, got {line!r}")
        kind = ann_id[0]
        if kind not in _KINDS:
            raise ValueError(
                f"{where}: unknown annotation id {ann_id!r} "
                f"(brat ids start with one of {_KINDS})"
            )
        if kind != "*":  # equivalences have no id of their own
            if ann_id in defined:
                raise ValueError(
                    f"{where}: id {ann_id} is already defined on line {defined[ann_id]}"
                )
            defined[ann_id] = number
        if kind == "T":
            parsed.entities[ann_id] = _text_bound(rest, text, where)
        elif kind == "R":
            parsed.relations.append(_binary_relation(ann_id, rest, where))
        else:
            if kind == "E":
                trigger = rest.split()[0].split(":", 1) if rest.strip() else []
                if len(trigger) != 2 or not all(trigger):
                    raise ValueError(
                        f"{where}: an E line is 'ID<tab>TYPE:TRIGGER [ROLE:ID ...]', "
                        f"got {rest!r}"
                    )
                parsed.events.add(ann_id)
                parsed.triggers[trigger[1]] = where
            summary.add(_SKIPPED_KIND[kind], where)
    for trigger, where in parsed.triggers.items():
        if trigger not in parsed.entities:
            raise ValueError(
                f"{where}: the event's trigger {trigger} is not a T line of the file"
            )
    return parsed
