"""The model side of the service: one pipeline, and batches of requests in, the records
``extract`` writes out, a request failing in the model failing alone.

An :class:`Annotator` belongs to one thread (the local server's inference thread, or a
Ray Serve replica's): two threads calling ``nlp.pipe`` on one pipeline change its
predictions.
"""

from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Union

from spacy.tokens import Doc

from ..extraction.records import doc_to_record
from ..extraction.visualize import render
from ..pipeline.loading import load_pipeline, stsn_component
from .options import PipelineSource

Record = Dict[str, Any]
# a sentence of each kind of token the pipeline meets, run once before the server says
# it is ready (the first call allocates what later ones reuse)
WARM_UP = ["John Smith works for Acme Corp. in Boston , Mass. , since 1990 .", ""]


class ModelError(Exception):
    """A request that failed inside the model (the server answers 500 with this
    message)."""


@dataclass
class Task:
    """One request's documents: its texts, and whether to render them with displaCy."""

    texts: List[str]
    html: bool = False


class Annotator:
    """A pipeline that annotates batches of :class:`Task`\\ s.

    source: the pipeline (a path, a package, or a function that returns it).
    precision: float32 | bfloat16 | auto, or None for the pipeline's own (for a
        path or package: a function's pipeline is used as it returns it).
    tags: also answer tokens and tags (``extract --tags``).
    max_length: the pipeline's ``nlp.max_length`` (the server refuses longer texts
        before they get here).
    gpu_id: the GPU to load on (-1: CPU).
    """

    def __init__(
        self,
        source: PipelineSource,
        precision: Optional[str] = None,
        tags: bool = False,
        max_length: Optional[int] = None,
        gpu_id: int = -1,
    ) -> None:
        if callable(source):
            self.nlp = source()
            name = getattr(source, "__qualname__", type(source).__qualname__)
            self.spans_key = stsn_component(self.nlp, name).spans_key
        else:
            self.nlp, stsn = load_pipeline(source, gpu_id, precision)
            self.spans_key = stsn.spans_key
        if max_length is not None:
            self.nlp.max_length = max_length
        self.tags = tags

    def warm_up(self) -> None:
        """Run the pipeline once, so that the first request does not pay for the first
        call."""
        for result in self.annotate([Task(WARM_UP)]):
            if isinstance(result, Exception):
                raise result

    def annotate(self, tasks: Sequence[Task]) -> List[Union[List[Record], ModelError]]:
        """The records of every task's texts, from one ``nlp.pipe`` call over all of
        them; if that call fails, each task again on its own, so that the one that
        fails gets its :class:`ModelError` and the others their records."""
        texts = [text for task in tasks for text in task.texts]
        try:
            docs = list(self.nlp.pipe(texts, batch_size=max(len(texts), 1)))
        except Exception as err:  # noqa: BLE001  (any failure of the model)
            if len(tasks) == 1:
                return [model_error(err)]
            return [self.annotate([task])[0] for task in tasks]
        results: List[Union[List[Record], ModelError]] = []
        start = 0
        for task in tasks:
            end = start + len(task.texts)
            try:
                results.append([self.record(d, task.html) for d in docs[start:end]])
            except Exception as err:  # noqa: BLE001  (this task's records failed)
                results.append(model_error(err))
            start = end
        return results

    def record(self, doc: Doc, html: bool = False) -> Record:
        """``extract``'s record of ``doc``
        (:func:`spacy_stsn.extraction.extract.doc_to_record`), with its displaCy markup
        under ``html`` when asked."""
        record = doc_to_record(doc, self.spans_key, self.tags)
        if html:
            record["html"] = render([doc], page=False, spans_key=self.spans_key)
        return record


def model_error(err: Exception) -> ModelError:
    """The :class:`ModelError` of a request that failed with ``err``."""
    return ModelError(f"the model failed on this request: {type(err).__name__}: {err}")
