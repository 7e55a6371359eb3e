"""Which tokens may start or end an entity: every token with a visible character.

spaCy makes a whitespace run inside a text ("\\n", two spaces, a tab) a token of its
own, and a zero-width space, a byte-order mark or a control character standing alone is
one too. Such a token shows nothing, so it never starts, ends or forms an entity: the
network drops every candidate span that starts or ends on one, before the overlap policy
and the pairing (:func:`spacy_stsn.nn.span_selection.predicted_entities`). A span may
still contain one inside ("Acme \\n Corp" across a line break stays possible).

Invisible characters are the whitespace ones (``str.isspace``), the controls (Unicode
category Cc) and the format characters (Cf: zero-width space and joiners, byte-order
mark, bidirectional marks, soft hyphen). Private-use, unassigned or combining characters
are visible here: they may be a symbol the text means, and the encoder gives them a
piece.

Everything is computed with numpy over the characters of each document, not per token.
"""

import functools
import sys
import unicodedata
from typing import List

import numpy
from spacy.attrs import IDX, LENGTH
from spacy.tokens import Doc

INVISIBLE_CATEGORIES = ("Cc", "Cf", "Zs", "Zl", "Zp")


@functools.lru_cache(maxsize=1)
def invisible_code_points() -> numpy.ndarray:
    """Whether each code point (0 to ``sys.maxunicode``) is invisible, as a bool array
    (computed once per process)."""
    table = numpy.zeros(sys.maxunicode + 1, dtype=bool)
    table[
        [
            c
            for c in range(sys.maxunicode + 1)
            if chr(c).isspace() or unicodedata.category(chr(c)) in INVISIBLE_CATEGORIES
        ]
    ] = True
    return table


def visible_tokens(doc: Doc) -> numpy.ndarray:
    """Whether each token of ``doc`` has a visible character, a bool array (len(doc),).

    doc (Doc): the document (a lone surrogate, from JSON input, counts as visible).
    """
    # one code point per character, as Python indexes the text and spaCy's IDX counts
    code_points = numpy.frombuffer(
        doc.text.encode("utf-32-le", "surrogatepass"), dtype="<u4"
    )
    visible = ~invisible_code_points()[code_points]
    before = numpy.concatenate([[0], numpy.cumsum(visible)])
    offsets = doc.to_array([IDX, LENGTH]).astype("int64")
    starts, ends = offsets[:, 0], offsets[:, 0] + offsets[:, 1]
    return before[ends] > before[starts]


def entity_boundaries(docs: List[Doc]) -> numpy.ndarray:
    """Whether each token may start or end an entity, (B, T) int32 padded with 0 to the
    longest of ``docs``: 1 for a token with a visible character.

    docs (List[Doc]): the batch, non-empty docs.
    """
    mask = numpy.zeros((len(docs), max(len(doc) for doc in docs)), dtype="int32")
    for row, doc in enumerate(docs):
        mask[row, : len(doc)] = visible_tokens(doc)
    return mask
