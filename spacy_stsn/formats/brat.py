"""brat standoff <-> spaCy Docs: a folder of ``NAME.txt`` + ``NAME.ann`` pairs, one
whole document each.

brat is the usual tool for annotating entities and relations by hand; reading and
writing its files lets a user correct predictions (``extract --output-format brat``) and
train on the corrections (``convert DIR out.spacy``). This module reads; the ``.ann``
lines are parsed and checked by :mod:`spacy_stsn.formats.brat_ann`, and writing is
:mod:`spacy_stsn.formats.brat_writer` (:func:`docs_to_brat` and :class:`BratWriter`,
importable from here too).

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
"""

from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import spacy
from spacy.language import Language
from spacy.tokens import Doc

from ..pipeline.annotations import DEFAULT_SPANS_KEY, make_relation, set_entities
from .brat_ann import BratSummary, ParsedAnn, parse_ann
from .brat_writer import BratWriter as BratWriter  # the documented import path
from .brat_writer import docs_to_brat as docs_to_brat
from .docbin import write_docbin
from .types import check_label, load_types


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
        check_label(entity.label, entity_labels, f"entity {ann_id}", entity.where)
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
        check_label(rel.label, relation_labels, f"relation {rel.id}", rel.where)
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
    :func:`spacy_stsn.formats.spert.write_docbin`); returns the corpus statistics and
    the brat summary. The output is written only if every file converts."""
    labels = load_brat_types(types_path) if types_path else (None, None)
    summary = BratSummary()
    docs = iter_brat_docs(
        directory, tokenizer(lang, model), summary, *labels, spans_key=spans_key
    )
    stats = write_docbin(docs, output_path, spans_key, part_tokens)
    return {**stats, **summary.as_dict()}
