"""brat standoff <-> spaCy Docs: a folder of ``NAME.txt`` + ``NAME.ann`` pairs, one
whole document each.

brat is the usual tool for annotating entities and relations by hand; reading and
writing its files lets a user correct predictions (``extract --output-format brat``) and
train on the corrections (``convert DIR out.spacy``).

Reading (:func:`brat_to_docs`): each ``.txt`` (in any subfolder) becomes one Doc,
sentences and all (relations may cross sentences), tokenised by the given pipeline's
tokenizer or a blank ``lang``; ``doc.user_data["orig_id"]`` is its path below the folder
without the suffix. The text is read unchanged (``\\r\\n`` kept), as brat's character
offsets count every character. A UTF-8 byte order mark that starts a ``.txt`` is
character 0 for brat (its server reads texts with Python's ``utf8`` codec, which keeps
it), so the ``.ann`` offsets count it; it is left out of the Doc's text and the offsets
are shifted past it. A byte order mark that starts an ``.ann`` or ``annotation.conf`` is
skipped. The line kinds of an ``.ann`` file:

- ``T`` (an entity: ``T1<tab>TYPE START END<tab>TEXT``) goes to ``doc.spans[spans_key]``
  and ``doc.ents``. Whitespace at its edges is left out first (so a double space or
  ``\\n\\n``, which spaCy makes a token of its own, never starts or ends an entity;
  counted as ``trimmed_entities``), then the offsets are mapped to tokens by
  ``doc.char_span(alignment_mode="expand")``: a boundary inside a token widens the
  entity to the whole token (``expanded_entities``). Two T lines that come out as the
  same tokens and type become one entity (``merged_entities``), and relations to either
  point to it.
- ``R`` (``R1<tab>LABEL Arg1:T1 Arg2:T3``; ``Arg1`` is the head) goes to
  ``doc._.relations``.
- Skipped and counted under ``skipped`` in the summary, with the FILE:LINE of the first
  few under ``examples``, since a Doc has no place for them: discontinuous ``T``
  (fragments joined by ``;``), ``T`` lines that are event triggers (named by an ``E``
  line), ``R`` lines with an argument among those or an event, ``E`` events, ``*``
  equivalences, ``A``/``M`` attributes, ``N`` normalisations and ``#`` notes.
- Errors, as ``FILE:LINE: problem`` (the conversion stops; nothing is written): a line
  without an id and a tab, an unknown id prefix, an id defined twice, offsets that are
  not integers, empty, reversed or beyond the text, a T text that differs from its slice
  of the ``.txt`` (tabs and line breaks compare as spaces), an entity that covers no
  token, an ``R`` line that is not ``LABEL ROLE:ID ROLE:ID``, gives a role twice or
  names an id the file does not define (or one that is not an entity or event), an ``E``
  line without ``TYPE:TRIGGER``, and with a types file a T or R label outside it. A
  ``.txt`` without its ``.ann``, or the reverse, is an error naming the file.

A types file is either SpERT's types JSON or brat's ``annotation.conf`` (a ``.conf``
file: the names in its ``[entities]`` and ``[relations]`` sections; ``!`` abstract types
and ``<...>`` macros are not labels).

Writing (:func:`docs_to_brat`, :class:`BratWriter`): ``NAME.txt`` is ``doc.text``;
``NAME.ann`` has one ``T`` line per entity of ``doc.spans[spans_key]`` (overlaps
included), numbered in document order, then one ``R`` line per relation of
``doc._.relations``. Scores are not written: brat has no field for them. A NAME is a
relative path, normalised (``./x``, ``a//b``, ``q/./r`` are ``x``, ``a/b``, ``q/r``);
one that names no file (empty, ``.``, ending in ``/``) or leaves the folder (``..``,
``/...``) is an error, and so are two documents whose names are the same file, named
both, before the second is written.
"""

import os
import re
from collections import Counter
from pathlib import Path, PurePosixPath
from typing import (
    Any,
    Collection,
    Dict,
    Iterable,
    Iterator,
    List,
    NamedTuple,
    Optional,
    Sequence,
    Set,
    Tuple,
    Union,
)

import spacy
from spacy.language import Language
from spacy.tokens import Doc

from .annotations import (
    DEFAULT_SPANS_KEY,
    doc_name,
    get_entities,
    make_relation,
    relation_arguments,
    set_entities,
)
from .convert import load_types, write_docbin

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


def _flat(text: str) -> str:
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
    expected = _flat(" ".join(text[start:end] for start, end in fragments))
    if fields[1] != expected:
        raise ValueError(
            f"{where}: the entity's text {fields[1]!r} differs from the .txt at {offsets}: "
            f"{expected!r}"
        )
    return _TextBound(label, fragments, where)


def _binary_relation(rest: str, where: str) -> _BinaryRelation:
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
        return _BinaryRelation(parts[0], roles["Arg1"], roles["Arg2"], where)
    return _BinaryRelation(parts[0], args[0][1], args[1][1], where)


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
            parsed.relations.append(_binary_relation(rest, where))
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


def _check_label(
    label: str, labels: Optional[Sequence[str]], what: str, where: str
) -> None:
    if labels is not None and label not in labels:
        raise ValueError(
            f"{where}: unknown {what} type {label!r} (types file: {list(labels)})"
        )


def ann_to_doc(
    doc: Doc,
    parsed: ParsedAnn,
    summary: BratSummary,
    entity_labels: Optional[Sequence[str]] = None,
    relation_labels: Optional[Sequence[str]] = None,
    spans_key: str = DEFAULT_SPANS_KEY,
    offset: int = 0,
) -> Doc:
    """Write a parsed ``.ann`` onto the tokenised ``doc`` of its text: entities mapped
    to whole tokens, relations between them; what cannot be represented is counted in
    ``summary`` (see the module doc). ``offset`` characters of the ``.txt`` (a byte
    order mark) precede ``doc.text``."""
    spans: Dict[str, Tuple[int, int, str]] = {}
    for ann_id, entity in parsed.entities.items():
        if ann_id in parsed.triggers:
            summary.add("event_triggers", entity.where)
            continue
        _check_label(entity.label, entity_labels, "entity", entity.where)
        if len(entity.fragments) > 1:
            summary.add("discontinuous_entities", entity.where)
            continue
        start, end = (max(bound - offset, 0) for bound in entity.fragments[0])
        surface = doc.text[start:end]
        inner = surface.strip()
        span = None
        if inner:
            first = start + len(surface) - len(surface.lstrip())
            span = doc.char_span(first, first + len(inner), alignment_mode="expand")
        if span is None:
            raise ValueError(
                f"{entity.where}: the entity at {' '.join(map(str, entity.fragments[0]))} "
                "covers no token, only whitespace"
            )
        if span.start_char < start or span.end_char > end:
            summary.add("expanded_entities", entity.where)
        if span.start_char > start or span.end_char < end:
            summary.add("trimmed_entities", entity.where)
        key = (span.start, span.end, entity.label)
        if key in spans.values():
            summary.add("merged_entities", entity.where)
        spans[ann_id] = key
    relations = []
    for rel in parsed.relations:
        _check_label(rel.label, relation_labels, "relation", rel.where)
        for arg in (rel.head, rel.tail):
            if arg not in parsed.entities and arg not in parsed.events:
                raise ValueError(
                    f"{rel.where}: the relation's argument {arg} is not an entity or event "
                    "of the file"
                )
        if rel.head not in spans or rel.tail not in spans:
            summary.add("relations_to_skipped", rel.where)
            continue
        head, tail = spans[rel.head], spans[rel.tail]
        relations.append(make_relation(head[:2], head[2], tail[:2], tail[2], rel.label))
    set_entities(doc, list(dict.fromkeys(spans.values())), spans_key=spans_key)
    doc._.relations = relations
    return doc


def load_brat_types(path: Union[str, Path]) -> Tuple[List[str], List[str]]:
    """Entity and relation labels of brat's ``annotation.conf`` (a ``.conf`` file) or a
    SpERT types file."""
    path = Path(path)
    if path.suffix != ".conf":
        try:
            return load_types(path)
        except ValueError as err:
            raise ValueError(
                f"{err} (a brat annotation.conf is read as one when its name ends in .conf)"
            ) from None
    labels: Dict[str, List[str]] = {"entities": [], "relations": []}
    section = None
    for line in _read(path, "utf-8-sig").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1].strip()
        # abstract types, macros, <OVERLAP>
        elif section in labels and not line.startswith(("!", "<")):
            labels[section].append(line.split()[0])
    if not labels["entities"]:
        raise ValueError(
            f"{path}: not a brat annotation.conf (no types in an [entities] section)"
        )
    return labels["entities"], labels["relations"]


def _read(path: Path, encoding: str = "utf8") -> str:
    """A file's text with its line ends unchanged: brat's offsets count the ``\\r`` of
    ``\\r\\n``. ``utf-8-sig`` skips a byte order mark."""
    try:
        with path.open(encoding=encoding, newline="") as handle:
            return handle.read()
    except UnicodeDecodeError as err:
        raise ValueError(
            f"{path}: not UTF-8 ({err.reason} at byte {err.start})"
        ) from None


def brat_files(directory: Union[str, Path]) -> List[Tuple[str, Path, Path]]:
    """``(name, .txt, .ann)`` of each document below ``directory``, by name; unpaired
    files are errors."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ValueError(f"{directory}: not a folder of brat .txt and .ann files")
    found: Dict[str, Dict[str, Path]] = {".txt": {}, ".ann": {}}
    for suffix, paths in found.items():
        for path in directory.rglob(f"*{suffix}"):
            paths[path.relative_to(directory).with_suffix("").as_posix()] = path
    for suffix, other in ((".txt", ".ann"), (".ann", ".txt")):
        unpaired = sorted(set(found[suffix]) - set(found[other]))
        if unpaired:
            raise ValueError(
                f"{found[suffix][unpaired[0]]} has no {other} beside it ({len(unpaired)} such "
                "files; an unannotated document needs an empty .ann)"
            )
    if not found[".txt"]:
        raise ValueError(f"{directory}: no brat .txt and .ann files")
    return [
        (name, found[".txt"][name], found[".ann"][name])
        for name in sorted(found[".txt"])
    ]


def tokenizer(lang: str = "en", model: Optional[str] = None) -> Language:
    """The pipeline whose ``make_doc`` tokenises brat documents: ``model`` if given,
    else a blank ``lang``."""
    try:
        return spacy.load(model) if model is not None else spacy.blank(lang)
    except (OSError, ImportError) as err:
        raise ValueError(f"{model or lang}: could not load a tokenizer: {err}") from err


def iter_brat_docs(
    directory: Union[str, Path],
    nlp: Language,
    summary: BratSummary,
    entity_labels: Optional[Sequence[str]] = None,
    relation_labels: Optional[Sequence[str]] = None,
    spans_key: str = DEFAULT_SPANS_KEY,
) -> Iterator[Doc]:
    """:func:`brat_to_docs` one document at a time, counting into ``summary``."""
    for name, txt_path, ann_path in brat_files(directory):
        text = _read(txt_path)
        parsed = parse_ann(_read(ann_path, "utf-8-sig"), text, str(ann_path), summary)
        offset = 1 if text.startswith("\ufeff") else 0  # brat counts the mark
        doc = nlp.make_doc(text[offset:])
        doc.user_data["orig_id"] = name
        yield ann_to_doc(
            doc, parsed, summary, entity_labels, relation_labels, spans_key, offset
        )


def brat_to_docs(
    directory: Union[str, Path],
    nlp: Union[Language, str] = "en",
    entity_labels: Optional[Sequence[str]] = None,
    relation_labels: Optional[Sequence[str]] = None,
    spans_key: str = DEFAULT_SPANS_KEY,
) -> Tuple[List[Doc], Dict[str, Any]]:
    """One Doc per ``.txt``/``.ann`` pair below ``directory``, tokenised by ``nlp`` (a
    pipeline or a language code), with the summary of what was skipped or adjusted.
    Label lists, when given, reject other labels."""
    summary = BratSummary()
    docs = list(
        iter_brat_docs(
            directory,
            tokenizer(nlp) if isinstance(nlp, str) else nlp,
            summary,
            entity_labels,
            relation_labels,
            spans_key,
        )
    )
    return docs, summary.as_dict()


def convert_brat(
    directory: Union[str, Path],
    output_path: Union[str, Path],
    types_path: Optional[Union[str, Path]] = None,
    lang: str = "en",
    model: Optional[str] = None,
    spans_key: str = DEFAULT_SPANS_KEY,
    part_tokens: Optional[int] = None,
) -> Dict[str, Any]:
    """A brat folder to ``.spacy`` (streamed, see
    :func:`spacy_stsn.convert.write_docbin`); returns the corpus statistics and the brat
    summary. The output is written only if every file converts."""
    labels = load_brat_types(types_path) if types_path else (None, None)
    summary = BratSummary()
    docs = iter_brat_docs(
        directory, tokenizer(lang, model), summary, *labels, spans_key=spans_key
    )
    stats = write_docbin(docs, output_path, spans_key, part_tokens)
    return {**stats, **summary.as_dict()}


def doc_to_ann(
    doc: Doc, spans_key: str = DEFAULT_SPANS_KEY, index: Optional[int] = None
) -> str:
    """The ``.ann`` text of a Doc: T lines in document order, then R lines (``Arg1`` the
    head)."""
    entities = sorted(set(get_entities(doc, spans_key)))
    arguments = relation_arguments(doc, entities, spans_key, index)
    lines = []
    for n, (start, end, label) in enumerate(entities, 1):
        span = doc[start:end]
        label = _brat_type(label, doc, index)
        lines.append(
            f"T{n}\t{label} {span.start_char} {span.end_char}\t{_flat(span.text)}"
        )
    for n, (rel, (head, tail)) in enumerate(zip(doc._.relations, arguments), 1):
        lines.append(
            f"R{n}\t{_brat_type(rel['label'], doc, index)} Arg1:T{head + 1} Arg2:T{tail + 1}"
        )
    return "".join(line + "\n" for line in lines)


def _brat_type(label: str, doc: Doc, index: Optional[int]) -> str:
    if not label or any(c.isspace() for c in label):
        raise ValueError(
            f"{doc_name(doc, index)}: the label {label!r} cannot be a brat type "
            "(empty or with spaces)"
        )
    return label


def _check_name(name: str) -> str:
    """The normalised file name (below the output folder, without suffix) that a
    document name gives: ``./x``, ``a//b`` and ``q/./r`` are ``x``, ``a/b`` and ``q/r``,
    so that names of one file compare equal."""
    parts = PurePosixPath(name).parts
    if (
        name.startswith("/")
        or "\\" in name
        or "\0" in name
        or ".." in parts
        or name.rsplit("/", 1)[-1] in ("", ".")
    ):
        raise ValueError(
            f"{name!r} cannot name a brat document (a relative path to a file is needed: not "
            "empty, without '..', not ending in '/' or '.')"
        )
    return "/".join(parts)


def _write_atomically(path: Path, text: str) -> None:
    temporary = path.with_name(path.name + ".partial")
    with temporary.open("w", encoding="utf8", newline="") as handle:
        handle.write(text)
    os.replace(temporary, path)


def write_pair(
    directory: Path,
    name: str,
    doc: Doc,
    spans_key: str = DEFAULT_SPANS_KEY,
    index: Optional[int] = None,
) -> Path:
    """Write ``NAME.txt`` then ``NAME.ann`` (each whole or not at all: an ``.ann`` means
    a finished pair)."""
    ann = doc_to_ann(doc, spans_key, index)
    txt_path = Path(directory) / (_check_name(name) + ".txt")  # the name as normalised
    txt_path.parent.mkdir(parents=True, exist_ok=True)
    _write_atomically(txt_path, doc.text)
    _write_atomically(txt_path.with_suffix(".ann"), ann)
    return txt_path.with_suffix(".ann")


def docs_to_brat(
    docs: Iterable[Doc],
    directory: Union[str, Path],
    names: Optional[Iterable[str]] = None,
    spans_key: str = DEFAULT_SPANS_KEY,
) -> List[Path]:
    """Write each Doc as ``directory/NAME.txt`` + ``.ann``; names default to ``orig_id``
    (as :func:`brat_to_docs` sets it), else the zero-padded position. Returns the
    ``.ann`` paths."""
    docs = list(docs)
    names = (
        list(names)
        if names is not None
        else [
            str(doc.user_data.get("orig_id", f"{i:06d}")) for i, doc in enumerate(docs)
        ]
    )
    if len(names) != len(docs):
        raise ValueError(f"{len(names)} names for {len(docs)} documents")
    first: Dict[str, int] = {}
    for i, name in enumerate(names):
        try:
            j = first.setdefault(_check_name(name), i)
        except ValueError as err:
            raise ValueError(f"{doc_name(docs[i], i)}: {err}") from None
        if j != i:
            raise ValueError(
                f"{doc_name(docs[j], j)} and {doc_name(docs[i], i)} would overwrite each other: "
                f"their names {names[j]!r} and {name!r} are the same file "
                f"{_check_name(name)}.txt"
            )
    return [
        write_pair(Path(directory), name, doc, spans_key, i)
        for i, (name, doc) in enumerate(zip(names, docs))
    ]


class BratWriter:
    """``extract --output-format brat``: each document as ``OUTDIR/NAME.txt`` +
    ``.ann``, where NAME is the input's ``id`` field (JSONL) or else its zero-padded
    line number, normalised (see the module doc). Two lines whose ids name the same file
    are an error naming both lines, raised before the second is written.

    Resuming (``inputs`` given): the documents before the first one whose ``.ann`` is
    missing count as done, so a rerun after a crash continues there; the input lines in
    ``skipped`` (recorded by ``--on-error skip``) have no files and count as done too.
    Without ``inputs`` (``--restart``) every file is written again. Other files in
    OUTDIR are left alone.
    """

    def __init__(
        self,
        directory: Path,
        source: Path,
        spans_key: str = DEFAULT_SPANS_KEY,
        inputs: Optional[Iterator[Tuple[str, Dict[str, Any]]]] = None,
        skipped: Collection[int] = (),
    ) -> None:
        self.directory, self.source, self.spans_key = Path(directory), source, spans_key
        # normalised name -> (input line, id as given), to refuse two documents of one
        # file
        self.names: Dict[str, Tuple[int, str]] = {}
        self.done = 0  # input lines done, skipped ones included
        try:
            for _, meta in inputs or ():
                if self.done + 1 in skipped:
                    self.done += 1
                    continue
                name, given = self._name(meta, self.done + 1)
                if (
                    name in self.names
                    or not (self.directory / (name + ".ann")).exists()
                ):
                    break
                self.names[name] = (self.done + 1, given)
                self.done += 1
        except ValueError:
            pass  # a bad input line: extraction stops there again and reports it

    @property
    def holds(self) -> bool:
        """Whether documents of an earlier run are there."""
        return bool(self.names)

    def written(self) -> Iterator[Tuple[str, str, None]]:
        """(where, text, ``None``: brat keeps no passthrough field) of each document
        already written, in input order."""
        for name in sorted(self.names, key=self.names.__getitem__):
            path = self.directory / (name + ".txt")
            yield str(path), path.read_bytes().decode("utf8", "replace"), None

    def _name(self, meta: Dict[str, Any], line: int) -> Tuple[str, str]:
        """The normalised name of an input line's document, and its id as given."""
        name = meta.get("id", f"{line:06d}")
        if not isinstance(name, (str, int)) or isinstance(name, bool):
            raise ValueError(
                f"{self.source}:{line}: the 'id' {name!r} cannot name a brat document"
            )
        try:
            return _check_name(str(name)), str(name)
        except ValueError as err:
            raise ValueError(f"{self.source}:{line}: {err}") from None

    def write(self, doc: Doc, meta: Dict[str, Any], line: Optional[int] = None) -> None:
        """Write the document of input line ``line`` (default: the line after the last
        document written, when every input line is one)."""
        line = len(self.names) + 1 if line is None else line
        name, given = self._name(meta, line)
        if name in self.names:
            other_line, other = self.names[name]
            raise ValueError(
                f"{self.source}:{line}: the id {given!r} was already used on line {other_line}"
                if given == other
                else f"{self.source}:{line}: the id {given!r} names the same file "
                f"({name}.txt) as the id {other!r} on line {other_line}"
            )
        write_pair(self.directory, name, doc, self.spans_key, line - 1)
        self.names[name] = (line, given)

    def flush(self) -> None:
        """Nothing to do: every pair is complete on disk once written."""

    def __enter__(self) -> "BratWriter":
        self.directory.mkdir(parents=True, exist_ok=True)
        return self

    def __exit__(self, *exc: Any) -> None:
        pass
