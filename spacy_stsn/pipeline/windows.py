"""Windows: the stretches of a document in which the ``stsn`` head looks for entities
and relations, one row of the network's batch each.

Relations are annotated within sentences: every CoNLL04 and ADE relation lies inside
one sentence, and its arguments (first start to last end) lie at most 83 tokens apart,
98 % of them at most 33 (``benchmarks/relation_distances.py``, figures in
``benchmarks/README.md``, "Relation distances"). So on a long document the head works
window by window: each window is a row of the padded batch that
:class:`~spacy_stsn.nn.stsn.STSN` processes, and attention, span enumeration, the
overlap policy, the ``max_pair_entities`` cap and pair scoring all stay inside it,
batched across windows and documents. A document costs what its windows cost, and the
relation candidates are the pairs that can be related, not the best-scored entities of
the whole text.

The windows of a document, by the component's ``windows`` setting:

* ``"auto"``: its sentences where it has sentence boundaries
  (``doc.has_annotation("SENT_START")``: a ``senter``, ``sentencizer`` or parser
  upstream, or sentence starts from the input), else token windows; a sentence longer
  than ``window_size`` is cut into token windows;
* ``"tokens"``: token windows whatever the sentences;
* ``"document"``: the whole document is one window. The paper's behaviour (its inputs
  are sentences) and this package's before windows existed: on a long text only the
  ``max_pair_entities`` best entities of the whole text are paired.

Token windows are ``window_size`` tokens long and overlap the next by at least
``window_overlap`` tokens, so two arguments at most ``window_overlap + 1`` tokens apart
always share a window (further ones, up to ``window_size``, where they happen to). A
document (or sentence) no longer than ``window_size`` is one window in every mode: the
paper's setting (one sentence per document, at most 118 tokens in CoNLL04 and ADE) gets
the same candidates and the same numbers.

Overlapping windows see the tokens they share twice. Each token is *owned* by one window
(the seam lies in the middle of the overlap, moved left where needed so that every span
of up to ``max_span_width`` tokens fits the window that owns its first token); the owner
decides the entities that start there and the token's tag
(:mod:`spacy_stsn.pipeline.window_outputs` merges the windows' annotations).
"""

import warnings
from dataclasses import dataclass
from typing import Any, List, Sequence, Tuple

import numpy
from spacy.tokens import Doc

from ..ml.labels import Span3

WINDOW_MODES = ("auto", "tokens", "document")
# why what lies in no window takes part in no relation
OUTSIDE = (
    "they take part in no relation candidate (relations are looked for within windows: "
    "the sentences, or the windows and window_size settings of the stsn component)"
)


def check_windows(size: int, overlap: int, max_width: int) -> None:
    """``ValueError`` unless token windows of ``size`` tokens overlapping by
    ``overlap`` can hold every span of up to ``max_width`` tokens.

    size (int): the ``window_size`` setting.
    overlap (int): the ``window_overlap`` setting.
    max_width (int): the architecture's ``max_span_width``.
    """
    if not max_width <= size or not max_width - 1 <= overlap < size:
        raise ValueError(
            f"window_size ({size}) must be at least max_span_width ({max_width}) and "
            f"window_overlap ({overlap}) at least max_span_width - 1 and less than "
            "window_size, so that every candidate span fits a window"
        )


def token_windows(
    start: int, end: int, size: int, overlap: int, max_width: int
) -> numpy.ndarray:
    """Windows (n, 4) of tokens [start, end): [start, end) of each window and the
    tokens it owns [own_start, own_end); one window when the range fits.

    start (int): the first token of the range.
    end (int): the end of the range.
    size (int): the longest window.
    overlap (int): tokens consecutive windows share at least.
    max_width (int): the longest span, which never crosses a seam of owned tokens.
    RETURNS (numpy.ndarray): the windows.
    """
    if end - start <= size:
        return numpy.asarray([[start, end, start, end]], dtype="int64")
    stride = size - overlap
    n = -(-(end - start - overlap) // stride)
    starts = start + numpy.arange(n, dtype="int64") * stride
    starts[-1] = end - size  # the last one ends at the end, full size
    ends = starts + size
    seams = numpy.minimum((starts[1:] + ends[:-1]) // 2, ends[:-1] - max_width + 1)
    own_start = numpy.concatenate([[start], seams])
    own_end = numpy.concatenate([seams, [end]])
    return numpy.stack([starts, ends, own_start, own_end], -1)


def sentence_bounds(doc: Doc) -> numpy.ndarray:
    """Token offsets where the sentences start, and the document's length.

    doc (Doc): a document with sentence boundaries.
    RETURNS (numpy.ndarray): the offsets, sorted, 0 first.
    """
    if "sents" in doc.user_hooks:
        starts = [sent.start for sent in doc.sents]
    else:
        starts = numpy.flatnonzero(doc.to_array("SENT_START") == 1)
    return numpy.unique(numpy.concatenate([[0], starts, [len(doc)]]).astype("int64"))


def doc_windows(
    doc: Doc, mode: str, size: int, overlap: int, max_width: int
) -> numpy.ndarray:
    """The windows (n, 4) of ``doc`` under ``mode`` (see the module docstring): start,
    end, and the tokens owned, [own_start, own_end).

    doc (Doc): the document.
    mode (str): the ``windows`` setting.
    size (int): the ``window_size`` setting.
    overlap (int): the ``window_overlap`` setting.
    max_width (int): the architecture's ``max_span_width``.
    RETURNS (numpy.ndarray): the windows.
    """
    n = len(doc)
    if mode == "document":
        return numpy.asarray([[0, n, 0, n]], dtype="int64")
    if mode not in WINDOW_MODES:
        raise ValueError(f"windows must be one of {WINDOW_MODES}, not {mode!r}")
    if mode == "auto" and doc.has_annotation("SENT_START"):
        bounds = sentence_bounds(doc)
    else:
        bounds = numpy.asarray([0, n], dtype="int64")
    starts, ends = bounds[:-1], bounds[1:]
    fits = ends - starts <= size
    windows = numpy.stack([starts, ends, starts, ends], -1)
    if fits.all():
        return windows
    # only sentences longer than a window are cut (rare: a loop over those)
    parts = [
        windows[i : i + 1]
        if fits[i]
        else token_windows(starts[i], ends[i], size, overlap, max_width)
        for i in range(len(starts))
    ]
    return numpy.concatenate(parts)


def example_windows(
    eg: Any, mode: str, size: int, overlap: int, max_width: int, same_tokens: bool
) -> numpy.ndarray:
    """The windows of a training example's document, as inference takes them
    (:func:`doc_windows`); under ``"auto"`` a predicted doc without sentence boundaries
    takes the reference's, when it has them and ``same_tokens`` (sentence starts from
    the corpus, which a sentencizer or senter reproduces at inference).

    eg (Any): the training example.
    mode (str): the ``windows`` setting.
    size (int): the ``window_size`` setting.
    overlap (int): the ``window_overlap`` setting.
    max_width (int): the architecture's ``max_span_width``.
    same_tokens (bool): whether the predicted and reference docs have the same
        tokens.
    RETURNS (numpy.ndarray): the windows, as :func:`doc_windows`'.
    """
    doc = eg.predicted
    if (
        mode == "auto"
        and not doc.has_annotation("SENT_START")
        and eg.reference.has_annotation("SENT_START")
        and same_tokens
    ):
        doc = eg.reference
    return doc_windows(doc, mode, size, overlap, max_width)


@dataclass
class Rows:
    """The windows of a batch of documents: row i of the network's batch is tokens
    [start[i], end[i]) of document doc[i], and decides entities and tags for tokens
    [own_start[i], own_end[i])."""

    doc: numpy.ndarray
    start: numpy.ndarray
    end: numpy.ndarray
    own_start: numpy.ndarray
    own_end: numpy.ndarray

    @classmethod
    def from_windows(cls, windows: Sequence[numpy.ndarray]) -> "Rows":
        """From each document's :func:`doc_windows`, in document order.

        windows (Sequence[numpy.ndarray]): the windows per document.
        RETURNS (Rows): the rows.
        """
        doc = numpy.repeat(numpy.arange(len(windows)), [len(w) for w in windows])
        stacked = numpy.concatenate(list(windows)).reshape(-1, 4)
        return cls(doc, *stacked.T)

    @property
    def lengths(self) -> numpy.ndarray:
        return self.end - self.start

    @property
    def spans(self) -> numpy.ndarray:
        """(R, 3): document, start and end of each row, what the model takes."""
        return numpy.stack([self.doc, self.start, self.end], -1)

    def for_doc(self, doc: int) -> numpy.ndarray:
        """The rows of document ``doc``, in order (rows are grouped by document).

        doc (int): the document's index in the batch.
        RETURNS (numpy.ndarray): the row indices.
        """
        lo, hi = numpy.searchsorted(self.doc, [doc, doc + 1])
        return numpy.arange(lo, hi)


def batch_rows(
    docs: Sequence[Doc], mode: str, size: int, overlap: int, max_width: int
) -> Rows:
    """The :class:`Rows` of a batch of non-empty documents (:func:`doc_windows`).

    docs (Sequence[Doc]): the documents.
    mode (str): the ``windows`` setting.
    size (int): the ``window_size`` setting.
    overlap (int): the ``window_overlap`` setting.
    max_width (int): the architecture's ``max_span_width``.
    RETURNS (Rows): their windows.
    """
    return Rows.from_windows(
        [doc_windows(doc, mode, size, overlap, max_width) for doc in docs]
    )


def row_entities(
    rows: Rows, entities: Sequence[Sequence[Span3]], name: str
) -> List[List[Span3]]:
    """Each row's share of per-document given ``entities``, in row offsets; entities
    in no row (across a sentence boundary) are counted in a warning: they stay
    entities, in no relation.

    rows (Rows): the windows of the documents.
    entities (Sequence[Sequence[Span3]]): each document's given entities.
    name (str): the component's name, in the warning.
    RETURNS (List[List[Span3]]): each row's entities.
    """
    per_row: List[List[Span3]] = [[] for _ in range(len(rows.doc))]
    outside = 0
    for d, ents in enumerate(entities):
        own = rows.for_doc(d)
        windows = numpy.stack([rows.start[own], rows.end[own]], -1)
        hits = spans_in_windows(windows, [(s, e) for s, e, _ in ents])
        outside += len(ents) - len(numpy.unique(hits[:, 1]))
        for w, i in hits.tolist():
            start, end, label = ents[i]
            offset = int(rows.start[own[w]])
            per_row[own[w]].append((start - offset, end - offset, label))
    warn_dropped(name, "given entities cross a window boundary", outside, OUTSIDE)
    return per_row


def outside_windows(
    hits: numpy.ndarray, n_spans: int, pairs: Sequence[Tuple[int, int]]
) -> numpy.ndarray:
    """How many of ``n_spans`` spans lie in no window and how many ``pairs`` of them
    share no window, given the (window, span) ``hits`` of :func:`spans_in_windows`.

    hits (numpy.ndarray): the (window, span) pairs.
    n_spans (int): the spans.
    pairs (Sequence[Tuple[int, int]]): pairs of span indices.
    RETURNS (numpy.ndarray): the two counts.
    """
    windows_of: List[set] = [set() for _ in range(n_spans)]
    for w, g in hits.tolist():
        windows_of[g].add(w)
    lost_pairs = sum(not windows_of[h] & windows_of[t] for h, t in pairs)
    return numpy.asarray([sum(not w for w in windows_of), lost_pairs])


def warn_outside(name: str, entities: int, relations: int) -> None:
    """The one warning of a training step whose gold annotations some window lacks.

    name (str): the component's name.
    entities (int): gold entities in no window.
    relations (int): gold relations whose arguments share no window.
    """
    if entities or relations:
        warnings.warn(
            f"[{name}] {entities:,} gold entities cross a window boundary and "
            f"{relations:,} gold relations (entity pairs) have arguments in no common "
            f"window: {OUTSIDE}; so they are no training candidates either",
            stacklevel=3,
        )


def warn_dropped(name: str, what: str, count: int, why: str) -> None:
    """The one warning of a call that drops ``count`` items (nothing when 0).

    name (str): the component's name.
    what (str): what was dropped.
    count (int): how many.
    why (str): why, and what to do about it.
    """
    if count:
        warnings.warn(f"[{name}] {count:,} {what}: {why}", stacklevel=3)


def spans_in_windows(windows: numpy.ndarray, spans: numpy.ndarray) -> numpy.ndarray:
    """Which of the ``spans`` (m, 2) lie inside which of one document's ``windows`` (n,
    4, sorted by start): (window, span) index pairs, (p, 2). A span crossing every
    window (a sentence boundary) is in none.

    windows (numpy.ndarray): the windows.
    spans (numpy.ndarray): the spans.
    RETURNS (numpy.ndarray): the pairs, sorted by window then span.
    """
    spans = numpy.asarray(spans, dtype="int64").reshape(-1, 2)
    if not len(spans) or not len(windows):
        return numpy.zeros((0, 2), dtype="int64")
    last = numpy.searchsorted(windows[:, 0], spans[:, 0], side="right") - 1
    # a token lies in at most this many consecutive windows
    later = numpy.searchsorted(windows[:, 0], windows[:, 1], side="left")
    depth = int((later - numpy.arange(len(windows))).max())
    found = []
    for back in range(min(depth, len(windows))):
        w = last - back
        inside = w >= 0
        inside[inside] &= spans[inside, 1] <= windows[w[inside], 1]
        found.append(numpy.stack([w[inside], numpy.flatnonzero(inside)], -1))
    pairs = numpy.concatenate(found)
    return pairs[numpy.lexsort((pairs[:, 1], pairs[:, 0]))]
