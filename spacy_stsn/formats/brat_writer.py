"""Docs to brat standoff: each document as ``NAME.txt`` + ``NAME.ann``, written whole
(:func:`spacy_stsn.files.write_text`), for ``extract --output-format brat`` and
:func:`docs_to_brat`.

``NAME.txt`` is ``doc.text``; ``NAME.ann`` has one ``T`` line per entity of
``doc.spans[spans_key]`` (overlaps included), numbered in document order, then one ``R``
line per relation of ``doc._.relations``. Scores are not written: brat has no field for
them. A NAME is a relative path, normalised (``./x``, ``a//b``, ``q/./r`` are ``x``,
``a/b``, ``q/r``); one that names no file (empty, ``.``, ending in ``/``) or leaves the
folder (``..``, ``/...``) is an error, and so are two documents whose names are the same
file, named both, before the second is written.
"""

from pathlib import Path, PurePosixPath
from typing import (
    Any,
    Collection,
    Dict,
    Iterable,
    Iterator,
    List,
    Optional,
    Tuple,
    Union,
)

from spacy.tokens import Doc

from ..files import write_text
from ..pipeline.annotations import (
    DEFAULT_SPANS_KEY,
    doc_name,
    get_entities,
    relation_arguments,
)
from .brat_ann import flat


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
            f"T{n}\t{label} {span.start_char} {span.end_char}\t{flat(span.text)}"
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
    write_text(txt_path, doc.text)
    write_text(txt_path.with_suffix(".ann"), ann)
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
