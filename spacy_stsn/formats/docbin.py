"""spaCy's DocBin corpora: ``.spacy`` files, or folders of ``part-NNNNN.spacy`` files
for a corpus too large to build in memory at once, read and written with relations and
all user data, and the statistics of what was written.

:func:`write_docbin` keeps memory flat with the corpus's size: past ``part_tokens``
tokens it writes ``OUTPUT`` as a folder of ``part-NNNNN.spacy`` files, which spaCy's
``Corpus`` (``spacy train --paths.train OUTPUT``) and :func:`read_docbin` read as one
corpus; a smaller corpus is one ``.spacy`` file. Every converter (SpERT JSON, brat)
writes through it; evaluation and tuning read through :func:`read_docbin`.
"""

import functools
import re
from collections import Counter
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Dict, Iterable, Iterator, Optional, Union

from spacy.tokens import Doc, DocBin
from spacy.training.corpus import walk_corpus
from spacy.vocab import Vocab
from srsly import msgpack as srsly_msgpack

from ..files import remove, remove_temporaries, replacing
from ..pipeline.annotations import DEFAULT_SPANS_KEY, get_entities

# the tokens of a part of a large corpus: a DocBin's memory grows with its tokens while
# it is built and serialised; the benchmark datasets stay one file (why 500,000:
# benchmarks/README.md, "Converting large corpora")
PART_TOKENS = 500_000
_PART = re.compile(r"part-[0-9]{5}\.spacy")


class CorpusStats:
    """Counts to check a conversion against a dataset's published statistics, added one
    Doc at a time."""

    def __init__(self, spans_key: str = DEFAULT_SPANS_KEY) -> None:
        self.spans_key = spans_key
        self.documents = self.tokens = self.overlapping = 0
        self.entity_types: Counter = Counter()
        self.relation_types: Counter = Counter()

    def add(self, doc: Doc) -> None:
        ents = sorted(get_entities(doc, self.spans_key))
        self.documents += 1
        self.tokens += len(doc)
        self.entity_types.update(label for _, _, label in ents)
        self.relation_types.update(r["label"] for r in doc._.relations)
        # sorted by start, some pair overlaps iff some neighbouring pair does
        self.overlapping += any(a[1] > b[0] for a, b in zip(ents, ents[1:]))

    def as_dict(self) -> Dict[str, Any]:
        return {
            "documents": self.documents,
            "tokens": self.tokens,
            "entities": sum(self.entity_types.values()),
            "relations": sum(self.relation_types.values()),
            "entity_types": dict(sorted(self.entity_types.items())),
            "relation_types": dict(sorted(self.relation_types.items())),
            "docs_with_overlapping_entities": self.overlapping,
        }


def corpus_stats(
    docs: Iterable[Doc], spans_key: str = DEFAULT_SPANS_KEY
) -> Dict[str, Any]:
    """:class:`CorpusStats` of a whole corpus."""
    stats = CorpusStats(spans_key)
    for doc in docs:
        stats.add(doc)
    return stats.as_dict()


@contextmanager
def cached_msgpack_extensions() -> Iterator[None]:
    """Look srsly's msgpack extensions up once for the block instead of on every
    (de)serialisation.

    srsly scans the entry points and the catalogue registry on each
    ``msgpack_dumps``/``msgpack_loads``, and ``DocBin`` makes three such calls a
    document with user data and a span group (what it saves: benchmarks/README.md,
    "Converting large corpora"). Extensions registered inside the block are not seen.
    """
    registries = [
        registry
        for registry in (srsly_msgpack.msgpack_encoders, srsly_msgpack.msgpack_decoders)
        if "get_all" not in vars(registry)  # not already cached by an enclosing block
    ]
    for registry in registries:
        registry.get_all = functools.partial(dict, registry.get_all())
    try:
        yield
    finally:
        for registry in registries:
            del registry.get_all


def _is_parts_folder(path: Path) -> bool:
    return path.is_dir() and all(
        entry.is_file() and _PART.fullmatch(entry.name) for entry in path.iterdir()
    )


def write_docbin(
    docs: Iterable[Doc],
    output_path: Union[str, Path],
    spans_key: str = DEFAULT_SPANS_KEY,
    part_tokens: Optional[int] = None,
) -> Dict[str, Any]:
    """Write docs as ``.spacy`` (user data kept: relations too) and return their
    statistics, with ``spacy_files``: 1 for a single file, else the number of
    ``OUTPUT/part-NNNNN.spacy`` files, each of at most ``part_tokens`` (default
    :data:`PART_TOKENS`) tokens, or one document. The docs are streamed; all is written
    under a hidden temporary name beside ``OUTPUT`` and moved to ``OUTPUT`` only when
    the last one is in (:func:`spacy_stsn.files.replacing`), so an error leaves
    ``OUTPUT`` as it was. A folder ``OUTPUT`` is replaced only if it holds
    nothing but part files."""
    part_tokens = PART_TOKENS if part_tokens is None else part_tokens
    if part_tokens < 1:
        raise ValueError(f"a part holds at least one token, not {part_tokens}")
    output = Path(output_path)
    if output.is_dir() and not _is_parts_folder(output):
        raise ValueError(
            f"{output}: a folder with other files than part-NNNNN.spacy; not replacing it"
        )
    output.parent.mkdir(parents=True, exist_ok=True)
    remove_temporaries(output)  # left by a killed run
    stats = CorpusStats(spans_key)
    part, tokens, parts = DocBin(store_user_data=True), 0, 0
    with replacing(output) as staging, cached_msgpack_extensions():
        for doc in docs:
            if len(part) and tokens + len(doc) > part_tokens:
                staging.mkdir(exist_ok=True)
                part.to_disk(staging / f"part-{parts:05d}.spacy")
                part, tokens, parts = DocBin(store_user_data=True), 0, parts + 1
            part.add(doc)
            tokens += len(doc)
            stats.add(doc)
        # a part is flushed only when a document follows, so the last one is never
        # empty
        part.to_disk(staging / f"part-{parts:05d}.spacy" if parts else staging)
        if output.is_dir() or staging.is_dir():
            remove(output)  # a rename replaces a file, not a folder
    return {**stats.as_dict(), "spacy_files": parts + 1}


def read_docbin(path: Union[str, Path], vocab: Vocab) -> Iterator[Doc]:
    """The Docs of a ``.spacy`` file or of a folder of them (as :func:`write_docbin`
    writes a large corpus), found as spaCy's ``Corpus`` finds them; unlike ``Corpus`` it
    keeps empty documents."""
    path = Path(path)
    if not path.exists():
        raise ValueError(f"{path}: no such .spacy file or folder")
    for location in walk_corpus(path, ".spacy"):
        # the cache is global: not held across a yield
        with cached_msgpack_extensions():
            docs = list(DocBin().from_disk(location).get_docs(vocab))
        yield from docs
