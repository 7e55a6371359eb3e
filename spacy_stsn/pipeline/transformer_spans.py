"""The transformer's spans, cut where the stsn component's windows are: each sentence
where the doc has sentence boundaries, else strided spans over the whole doc.

spacy-transformers runs its encoder over spans of each doc (its ``get_spans`` setting).
Its ``strided_spans`` cut a long text into windows that straddle sentences, so a token
near a sentence's edge sees the neighbouring sentence, and a span starts mid-sentence
without the encoder's start token: not what the model saw in training on one sentence
per document. ``spacy_stsn.sentence_spans.v1`` gives the encoder each sentence alone
where the doc has sentence boundaries (a senter, sentencizer or parser upstream, or
sentence starts from the input; the rule of :func:`spacy_stsn.pipeline.windows.
sentence_bounds`), so a sentence inside a long text is encoded as it is alone, and the
head's windows (``windows = "auto"``) are the same sentences. A sentence longer than
``window`` tokens, and a doc without sentence boundaries, is cut exactly as
``spacy-transformers.strided_spans.v1`` cuts it, so a one-sentence document (every
CoNLL04 and ADE document) gets the same spans as with that getter, in training too.
"""

from functools import partial
from typing import Callable, Iterable, List

from spacy.tokens import Doc, Span
from spacy_transformers.span_getters import get_strided_spans
from spacy_transformers.util import registry

from .windows import sentence_bounds


def get_sentence_spans(
    docs: Iterable[Doc], window: int, stride: int
) -> List[List[Span]]:
    """The spans of each doc: its sentences, each cut into strided spans when longer
    than ``window``; without sentence boundaries, strided spans over the doc.

    docs (Iterable[Doc]): the batch.
    window (int): the most tokens in one span.
    stride (int): tokens between the starts of consecutive spans of one sentence (less
        than ``window``: they overlap, as in spacy-transformers' strided spans).
    RETURNS (List[List[Span]]): the spans of each doc, in order.
    """
    spans = []
    for doc in docs:
        if doc.has_annotation("SENT_START"):
            bounds = sentence_bounds(doc).tolist()
            parts = [doc[start:end] for start, end in zip(bounds[:-1], bounds[1:])]
        else:
            parts = [doc[:]]
        spans.append(
            [
                span
                for part in parts
                for span in get_strided_spans([part], window, stride)[0]
            ]
        )
    return spans


@registry.span_getters("spacy_stsn.sentence_spans.v1")
def configure_sentence_spans(window: int, stride: int) -> Callable:
    """``get_spans`` for spacy-transformers: :func:`get_sentence_spans`.

    window (int): the most tokens in one span (128 in the shipped configs).
    stride (int): the start of the next span of a long sentence (96: 32 tokens
        overlap).
    RETURNS (Callable): the span getter.
    """
    return partial(get_sentence_spans, window=window, stride=stride)
