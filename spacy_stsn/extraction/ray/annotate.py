"""The annotating side of Ray extraction: a pool of actors (``map_batches`` with a
callable class) that each load the pipeline once and annotate a block of documents per
call, adding the local command's record fields as columns; :func:`extract_dataset`, the
same on any Ray Dataset (the Python API).

Only imported when used: importing ``spacy_stsn`` never imports Ray.
"""

from typing import Any, Callable, Dict, List, Optional, Union

import pyarrow as pa
import ray
import ray.data
import spacy
from spacy.language import Language

from ...pipeline.loading import load_pipeline, stsn_component
from ..failures import failure_message, pipe_each
from ..records import doc_to_record
from .input import BLOCK, ERROR, FILE, LINE
from .output import ANNOTATIONS, runs

PipelineSource = Union[str, Callable[[], Language]]


class Extractor:
    """The ``map_batches`` callable class: one pipeline per actor, a block of documents
    per call.

    A pipeline that does not load fails the first block with the loader's error (naming
    the path), not the actor's creation (which Ray reports as a dead actor, without the
    cause). Rows of the command's reader that carry an error, or whose text is longer
    than ``nlp.max_length``, get no annotations; the others are annotated by
    ``nlp.pipe`` in batches of ``batch_size`` counted from the start of their block."""

    def __init__(
        self,
        model: PipelineSource,
        text_column: str,
        batch_size: int,
        tags: bool,
        precision: Optional[str],
        gpu: bool,
        max_length: Optional[int] = None,
    ) -> None:
        self.text_column, self.batch_size, self.tags = text_column, batch_size, tags
        self.failure: Optional[ValueError] = None
        try:
            if callable(model):
                if gpu:
                    spacy.require_gpu(0)
                self.nlp = model()
                name = getattr(model, "__name__", repr(model))
                self.spans_key = stsn_component(self.nlp, name).spans_key
            # Ray gives each actor its own GPUs as device 0.. (CUDA_VISIBLE_DEVICES)
            else:
                self.nlp, stsn = load_pipeline(model, 0 if gpu else -1, precision)
                self.spans_key = stsn.spans_key
        except ValueError as err:
            self.failure = err
            return
        if max_length is not None:
            self.nlp.max_length = max_length

    def __call__(self, batch: pa.Table) -> pa.Table:
        if self.failure is not None:
            raise self.failure
        texts = batch.column(self.text_column).to_pylist()
        if ERROR in batch.column_names:
            errors = self._row_errors(batch, texts)
            shards = batch.column(BLOCK).to_pylist()
        else:  # a Dataset of the Python API: no reader's columns
            bad = next((t for t in texts if not isinstance(t, str)), "")
            if not isinstance(bad, str):
                raise ValueError(
                    f"column {self.text_column!r}: expected strings, found {bad!r}"
                )
            errors, shards = [None] * len(texts), [None] * len(texts)
        records: List[Optional[Dict[str, Any]]] = [None] * len(texts)
        for start, end in runs(shards):
            todo = [(texts[i], i) for i in range(start, end) if errors[i] is None]
            for i, outcome in pipe_each(self.nlp, todo, self.batch_size):
                if not isinstance(outcome, BaseException):
                    records[i] = doc_to_record(outcome, self.spans_key, self.tags)
                elif ERROR not in batch.column_names:  # the Python API's Dataset
                    raise outcome
                else:  # a document that fails alone: its line's error
                    where = f"{batch.column(FILE)[i].as_py()}:{batch.column(LINE)[i].as_py()}"
                    errors[i] = failure_message(where, outcome)
        names = ["entities", "relations"] + (["tokens", "tags"] if self.tags else [])
        # the input's own annotation columns are replaced, as the local command does
        batch = batch.drop_columns([n for n in names if n in batch.column_names])
        for name in names:
            values = [None if r is None else r[name] for r in records]
            batch = batch.append_column(
                pa.field(name, ANNOTATIONS[name]),
                pa.array(values, type=ANNOTATIONS[name]),
            )
        if ERROR in batch.column_names:
            index = batch.column_names.index(ERROR)
            batch = batch.set_column(index, ERROR, pa.array(errors, pa.string()))
        return batch

    def _row_errors(self, batch: pa.Table, texts: List[Any]) -> List[Optional[str]]:
        """The reader's errors, and the model's: a text that is no string or is too long
        for the pipeline."""
        errors = batch.column(ERROR).to_pylist()
        files, lines = batch.column(FILE).to_pylist(), batch.column(LINE).to_pylist()
        limit = self.nlp.max_length
        for i, text in enumerate(texts):
            if errors[i] is not None:
                continue
            where = f"{files[i]}:{lines[i]}"
            if not isinstance(text, str):
                errors[i] = (
                    f"{where}: expected a string {self.text_column!r}, found {text!r}"
                )
            elif len(text) > limit:  # the local command's words (extract.number_lines)
                errors[i] = (
                    f"{where}: the text has {len(text):,} characters, more than the "
                    f"pipeline's max_length of {limit:,} (spaCy's E088); raise it with "
                    "--max-length N if the machine has the memory for such a document"
                )
        return errors


def extract_dataset(
    ds: "ray.data.Dataset",
    model: PipelineSource,
    *,
    text_column: str = "text",
    workers: int = 1,
    cpus_per_worker: float = 1,
    gpus_per_worker: float = 0,
    batch_size: int = 64,
    tags: bool = False,
    precision: Optional[str] = None,
) -> "ray.data.Dataset":
    """``ds`` with ``entities`` and ``relations`` columns added (and ``tokens`` /
    ``tags`` with ``tags``), as the local ``extract`` writes them, by a pool of
    ``workers`` actors that each load ``model`` (a pipeline path or package name
    readable on every node, or a function that returns the pipeline) once.

    Lazy, like any Ray Dataset. Set
    ``DataContext.get_current().execution_options.preserve_order = True`` before
    consuming it for the rows in input order; a document's annotations depend on the
    documents batched with it only in the last float bits of the scores."""
    return annotate(
        ds,
        model,
        text_column,
        workers,
        cpus_per_worker,
        gpus_per_worker,
        batch_size,
        tags,
        precision,
        rows_per_call=batch_size,
    )


def annotate(
    ds: "ray.data.Dataset",
    model: PipelineSource,
    text_column: str,
    workers: int,
    cpus_per_worker: float,
    gpus_per_worker: float,
    batch_size: int,
    tags: bool,
    precision: Optional[str],
    rows_per_call: Optional[int],
    max_length: Optional[int] = None,
) -> "ray.data.Dataset":
    """The actor pool's map; ``rows_per_call=None`` hands each call whole blocks (the
    command's)."""
    return ds.map_batches(
        Extractor,
        fn_constructor_kwargs={
            "model": model,
            "text_column": text_column,
            "batch_size": batch_size,
            "tags": tags,
            "precision": precision,
            "gpu": gpus_per_worker > 0,
            "max_length": max_length,
        },
        batch_size=rows_per_call,
        batch_format="pyarrow",
        compute=ray.data.ActorPoolStrategy(size=workers),
        num_cpus=cpus_per_worker,
        num_gpus=gpus_per_worker,
    )
