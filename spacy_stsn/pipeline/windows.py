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
decides the entities that start there and the token's tag. A relation is kept when both
its arguments are kept entities, with the best score of the windows that found it.
"""

import warnings
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy
from spacy.tokens import Doc

from .decoding import DocPrediction, decode_batch
from ..ml.labels import Labels, Span3

WINDOW_MODES = ("auto", "tokens", "document")
# why what lies in no window takes part in no relation
OUTSIDE = (
    "they take part in no relation candidate (relations are looked for within windows: "
    "the sentences, or the windows and window_size settings of the stsn component)"
)


def check_windows(size: int, overlap: int, max_width: int) -> None:
    """``ValueError`` unless token windows of ``size`` tokens overlapping by
    ``overlap`` can hold every span of up to ``max_width`` tokens."""
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
    tokens it owns [own_start, own_end); one window when the range fits."""
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
    """Token offsets where the sentences start, and the document's length."""
    if "sents" in doc.user_hooks:
        starts = [sent.start for sent in doc.sents]
    else:
        starts = numpy.flatnonzero(doc.to_array("SENT_START") == 1)
    return numpy.unique(numpy.concatenate([[0], starts, [len(doc)]]).astype("int64"))


def doc_windows(
    doc: Doc, mode: str, size: int, overlap: int, max_width: int
) -> numpy.ndarray:
    """The windows (n, 4) of ``doc`` under ``mode`` (see the module docstring): start,
    end, and the tokens owned, [own_start, own_end)."""
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
    the corpus, which a sentencizer or senter reproduces at inference)."""
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
        """From each document's :func:`doc_windows`, in document order."""
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
        """The rows of document ``doc``, in order (rows are grouped by document)."""
        lo, hi = numpy.searchsorted(self.doc, [doc, doc + 1])
        return numpy.arange(lo, hi)


def batch_rows(
    docs: Sequence[Doc], mode: str, size: int, overlap: int, max_width: int
) -> Rows:
    """The :class:`Rows` of a batch of non-empty documents (:func:`doc_windows`)."""
    return Rows.from_windows(
        [doc_windows(doc, mode, size, overlap, max_width) for doc in docs]
    )


def row_entities(
    rows: Rows, entities: Sequence[Sequence[Span3]], name: str
) -> List[List[Span3]]:
    """Each row's share of per-document given ``entities``, in row offsets; entities
    in no row (across a sentence boundary) are counted in a warning: they stay
    entities, in no relation."""
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
    share no window, given the (window, span) ``hits`` of :func:`spans_in_windows`."""
    windows_of: List[set] = [set() for _ in range(n_spans)]
    for w, g in hits.tolist():
        windows_of[g].add(w)
    lost_pairs = sum(not windows_of[h] & windows_of[t] for h, t in pairs)
    return numpy.asarray([sum(not w for w in windows_of), lost_pairs])


def warn_outside(name: str, entities: int, relations: int) -> None:
    """The one warning of a training step whose gold annotations some window lacks."""
    if entities or relations:
        warnings.warn(
            f"[{name}] {entities:,} gold entities cross a window boundary and "
            f"{relations:,} gold relations (entity pairs) have arguments in no common "
            f"window: {OUTSIDE}; so they are no training candidates either",
            stacklevel=3,
        )


def unpaired_entities(is_entity: numpy.ndarray, max_pair_entities: int) -> int:
    """Kept entities beyond the ``max_pair_entities`` of their row (B, S mask): they
    are entities, but in no relation candidate."""
    return int(numpy.maximum(is_entity.sum(-1) - max_pair_entities, 0).sum())


def warn_dropped(name: str, what: str, count: int, why: str) -> None:
    """The one warning of a call that drops ``count`` items (nothing when 0)."""
    if count:
        warnings.warn(f"[{name}] {count:,} {what}: {why}", stacklevel=3)


def spans_in_windows(windows: numpy.ndarray, spans: numpy.ndarray) -> numpy.ndarray:
    """Which of the ``spans`` (m, 2) lie inside which of one document's ``windows`` (n,
    4, sorted by start): (window, span) index pairs, (p, 2). A span crossing every
    window (a sentence boundary) is in none."""
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


def decode_rows(
    prediction: Any,
    labels: Labels,
    thresholds: numpy.ndarray,
    to_numpy: Callable[[Any], numpy.ndarray],
    max_pair_entities: int,
) -> Tuple[List[DocPrediction], int]:
    """Decode the chunks of a prediction (``spacy_stsn.pipeline.component.Prediction``)
    row by row, in row offsets, and count the entities ``max_pair_entities`` left
    unpaired."""
    rows, given = prediction.rows, prediction.row_given
    per_row: List[Any] = [None] * len(rows.doc)
    unpaired = 0
    for index, outputs in prediction.chunks:
        outputs = type(outputs)(*(to_numpy(o) for o in outputs))
        if given is None:
            unpaired += unpaired_entities(outputs.is_entity, max_pair_entities)
        decoded = decode_batch(
            outputs,
            labels,
            rows.lengths[index],
            thresholds,
            None if given is None else [given[i] for i in index],
        )
        for i, pred in zip(index.tolist(), decoded):
            per_row[i] = pred
    return per_row, unpaired


def merge_rows(
    rows: Rows,
    predictions: Sequence[DocPrediction],
    n_docs: int,
    given: Optional[Sequence[Sequence[Span3]]] = None,
) -> List[DocPrediction]:
    """Each document's prediction from its rows' (``predictions[i]`` in row i's
    offsets): a document that is one row keeps it as it is; otherwise see the module
    docstring. With ``given`` entities, those are the document's entities."""
    merged = []
    for d in range(n_docs):
        own = rows.for_doc(d)
        if len(own) == 1 and rows.start[own[0]] == 0:
            merged.append(predictions[own[0]])
            continue
        merged.append(
            _merge_doc(
                [predictions[r] for r in own],
                [(rows.start[r], rows.own_start[r], rows.own_end[r]) for r in own],
                None if given is None else given[d],
            )
        )
    return merged


def _merge_doc(
    parts: Sequence[DocPrediction],
    where: Sequence[Tuple[int, int, int]],
    given: Optional[Sequence[Span3]],
) -> DocPrediction:
    entities: Dict[Span3, float] = {}
    tags: Optional[List[str]] = None if parts[0].tags is None else []
    for part, (start, lo, hi) in zip(parts, where):
        for (s, e, label), score in zip(part.entities, part.scores):
            if lo <= s + start < hi:
                entities[(int(s + start), int(e + start), label)] = score
        if tags is not None:
            tags.extend(part.tags[lo - start : hi - start])
    if given is not None:
        entities = {(s, e, label): 1.0 for s, e, label in given}
    best: Dict[Tuple, Tuple] = {}
    for part, (start, _, _) in zip(parts, where):
        for head, head_label, tail, tail_label, label, score in part.relations:
            head = (int(head[0] + start), int(head[1] + start))
            tail = (int(tail[0] + start), int(tail[1] + start))
            if (*head, head_label) not in entities or (
                *tail,
                tail_label,
            ) not in entities:
                continue
            key = (head, tail, label)
            if key not in best or score > best[key][-1]:
                best[key] = (head, head_label, tail, tail_label, label, score)
    ordered = sorted((*span, score) for span, score in entities.items())
    return DocPrediction(
        [(s, e, label) for s, e, label, _ in ordered],
        [score for *_, score in ordered],
        list(best.values()),
        tags,
    )
