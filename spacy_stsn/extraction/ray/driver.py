"""Corpus-scale extraction on a Ray cluster with Ray Data batch inference (``extract
--ray``).

Ray Data does the scheduling: one read task per block of input
(:mod:`spacy_stsn.extraction.ray.input`: a fixed number of lines or Parquet rows, cut by
the input alone), a pool of actors (``map_batches`` with a callable class) that each
load the pipeline once and annotate a block per call, with the CPUs or GPUs asked for
per actor, and the output (:mod:`spacy_stsn.extraction.ray.output`). Ray restarts an
actor that dies and retries its task, and a block's output is written only when its task
has finished, so a killed actor loses and duplicates nothing. Every spaCy batch holds
the same documents as the local command's (blocks are whole multiples of
``batch_size``).

Two outputs: a file, written by the driver in input order, identical line for line to
the local command's (the small-job mode); or a folder of shards written by the workers,
one per block, which a rerun resumes. A malformed line stops the job with the local
command's ``FILE:LINE`` error, or (``on_error="skip"``) is listed with it among the
errors and the job goes on.

Only imported when used: importing ``spacy_stsn`` or running the local ``extract`` never
imports Ray.
"""

import functools
import sys
import time
from pathlib import Path
from typing import IO, Any, Callable, Dict, List, Optional, Union

import pyarrow as pa
import ray
import ray.data
import spacy
from spacy.language import Language

from ...about import __version__
from ...files import check_writable
from ...pipeline.loading import load_pipeline, stsn_component
from ..extract import doc_to_record, prediction_fields
from ..failures import check_on_error, failure_message, pipe_each
from ..output_lock import OutputLock
from ..outputs import model_identity, refuse_overwriting_inputs
from ..run import STDERR
from .input import (
    BLOCK,
    ERROR,
    FILE,
    LINE,
    ORIGIN,
    TASK_CPUS,
    Progress,
    plan_blocks,
    read_blocks,
)
from .output import (
    ANNOTATIONS,
    ERRORS,
    FORMATS,
    OrderedOutput,
    ShardDatasink,
    discard_if_empty,
    errors_file,
    prepare_folder,
    runs,
)
from .storage import InputFile, Location, inside, is_folder_output, list_inputs, locate

# Documents per block = spaCy batches per block x batch size: the unit of work of an
# actor task, of a retry and of an output write. In the ordered file, 4 x 64 documents
# (seconds on a CPU) keep every actor busy until the end; a shard is 16 x 64 documents
# by default, fewer and larger files, and a killed worker redoes at most one.
BATCHES_PER_BLOCK = 4
BATCHES_PER_SHARD = 16
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
    return _annotate(
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


def _annotate(
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


def _text_column(source: Location, files: List[InputFile], text_key: str) -> str:
    """The text column of the read blocks: ``text`` for text/JSONL, ``text_key`` for
    Parquet."""
    parquet = [f.relative.endswith(".parquet") for f in files]
    if any(parquet) and not all(parquet):
        raise ValueError(
            f"{source.uri}: a folder of either Parquet or text/JSONL files, not both"
        )
    return text_key if all(parquet) else "text"


def check_model(model: PipelineSource) -> None:
    """A pipeline path that cannot be a pipeline with an stsn component fails here,
    before Ray starts and before any output is created, with an error naming the
    path."""
    if callable(model) or spacy.util.is_package(model):
        return
    path = Path(model)
    if not path.exists():
        raise ValueError(
            f"{model}: no such pipeline folder (nor an installed pipeline package)"
        )
    try:
        config = spacy.util.load_config(path / "config.cfg")
    except (
        Exception
    ) as err:  # a missing file (OSError) or thinc's ConfigValidationError
        raise ValueError(f"{model}: could not load the pipeline: {err}") from None
    components = config.get("components", {})
    if not any(c.get("factory") == "stsn" for c in components.values()):
        raise ValueError(
            f"{model}: the pipeline {list(components)} has no stsn component"
        )


def _holding_the_output_lock(run: Callable[..., int]) -> Callable[..., int]:
    """``run`` (:func:`extract_on_ray`) with a local OUTPUT checked writable and locked
    (:mod:`spacy_stsn.extraction.output_lock`) for the whole job; an object store has no
    locks."""

    @functools.wraps(run)
    def locked(model: Any, input_path: Any, output_path: Any, **options: Any) -> int:
        output = locate(str(output_path))
        if not output.local:
            return run(model, input_path, output_path, **options)
        # before the lock file is made: it would be inside an input folder OUTPUT is in
        sharded = is_folder_output(str(output_path))
        _check_paths(locate(str(input_path)), output, sharded)
        check_writable(Path(output.path))
        with OutputLock(Path(output.path), "extract --ray"):
            return run(model, input_path, output_path, **options)

    return locked


@_holding_the_output_lock
def extract_on_ray(
    model: PipelineSource,
    input_path: Union[str, Path],
    output_path: Union[str, Path],
    *,
    address: Optional[str] = None,
    workers: int = 1,
    cpus_per_worker: float = 1,
    gpus_per_worker: float = 0,
    fmt: str = "auto",
    text_key: str = "text",
    batch_size: int = 64,
    tags: bool = False,
    precision: Optional[str] = None,
    on_error: str = "stop",
    restart: bool = False,
    output_format: Optional[str] = None,
    docs_per_shard: Optional[int] = None,
    max_length: Optional[int] = None,
    progress: Optional[IO[str]] = STDERR,
) -> int:
    """The ``extract --ray`` command: ``input_path`` → ``output_path`` (local paths or
    URIs such as ``s3://bucket/key``) on the Ray cluster at ``address`` (or a local Ray
    instance started here, or the one this process already joined); returns the
    documents written by this run.

    A folder ``output_path`` (ending with '/', an existing folder, or a URI without a
    suffix) gets shards written by the workers, ``docs_per_shard`` documents each
    (default 16 batches), and a rerun resumes it; a file gets every document in input
    order, written by the driver (``.parquet``: Parquet), and an existing one is only
    overwritten with ``restart``. ``on_error``: a line that is malformed or whose
    document fails in the pipeline stops the job (``"stop"``, after the lines before it
    in a file OUTPUT) or is written to the errors (``"skip"``). A local OUTPUT is
    locked for the job: a second job onto it is refused, naming the first."""
    check_on_error(on_error)
    source, output = locate(str(input_path)), locate(str(output_path))
    files = list_inputs(source)
    sharded = is_folder_output(str(output_path))
    out_format = _output_format(output, output_format, sharded)
    _check_paths(source, output, sharded)
    check_model(model)
    block_rows = docs_per_shard or batch_size * (
        BATCHES_PER_SHARD if sharded else BATCHES_PER_BLOCK
    )
    if block_rows % batch_size:
        raise ValueError(
            f"docs per shard ({block_rows}): a multiple of the batch size ({batch_size})"
        )
    text_column = _text_column(source, files, text_key)
    if sharded:
        job = {
            "spacy_stsn": __version__,
            "model": _model_name(model),
            "input": source.key,
            "inputs": {f.relative: [f.size, f.mtime_ns] for f in files},
            "format": fmt,
            "text_key": text_key,
            "batch_size": batch_size,
            "docs_per_shard": block_rows,
            "tags": tags,
            "precision": precision,
            "max_length": max_length,
        }
        existed = output.exists()
        done = prepare_folder(output, job, restart, out_format)
    elif output.exists() and not restart:
        raise ValueError(
            f"{output.uri} exists: --ray writes a file OUTPUT from scratch; pass --restart to "
            f"overwrite it, or give a folder OUTPUT (ending with '/') for resumable shards"
        )
    else:
        done = Progress()
    if progress is STDERR:
        progress = sys.stderr
    totals = {"documents": 0, "errors": 0, "shards": 0}
    start = time.perf_counter()
    todo = [f for f in files if f.relative not in done.files_done]
    started = bool(todo) and not ray.is_initialized()
    if started:
        ray.init(address=address, log_to_driver=progress is not None)
    context = ray.data.DataContext.get_current()
    saved = (
        context.execution_options.preserve_order,
        context.raise_original_map_exception,
        context.target_max_block_size,
    )
    try:
        # in input order for a file; the actor's own error (not Ray's wrapper); a Ray
        # block per input block, never merged with others nor split
        context.execution_options.preserve_order = not sharded
        context.raise_original_map_exception = True
        context.target_max_block_size = None
        # scan, read and write tasks ask for no CPU: as many at once as actors, no more
        tasks = max(1, workers)
        blocks = plan_blocks(todo, block_rows, done, tasks) if todo else []
        # input fields that the output's would overwrite are errors of their line
        reserved = prediction_fields(tags) + ((ORIGIN,) if sharded else ())
        ds = None
        if blocks:
            ds = read_blocks(
                blocks, fmt, text_key, on_error, reserved, max_length, tasks
            )
        if ds is not None:
            ds = _annotate(
                ds,
                model,
                text_column,
                workers,
                cpus_per_worker,
                gpus_per_worker,
                batch_size,
                tags,
                precision,
                rows_per_call=None,  # whole blocks
                max_length=max_length,
            )
        if sharded and ds is not None:
            sink = ShardDatasink(output, text_column, text_key, out_format, on_error)
            ds.write_datasink(
                sink, ray_remote_args={"num_cpus": TASK_CPUS}, concurrency=tasks
            )
            totals = sink.totals
        elif not sharded:
            sink = OrderedOutput(output, text_column, text_key, out_format)
            totals = _write_ordered(ds, sink, on_error)
    except Exception as err:  # a bad line or model reaches the driver in Ray's errors
        if sharded:
            discard_if_empty(output, existed)
        raise _user_error(err) from err
    finally:
        (
            context.execution_options.preserve_order,
            context.raise_original_map_exception,
            context.target_max_block_size,
        ) = saved
        if started:
            ray.shutdown()
    if progress is not None:
        seconds = time.perf_counter() - start
        progress.write(_summary(totals, seconds, workers, output, sharded, done))
    return totals["documents"]


def _write_ordered(
    ds: Optional["ray.data.Dataset"], sink: OrderedOutput, on_error: str
) -> Dict[str, int]:
    """The file OUTPUT: the driver writes the blocks in input order
    (``preserve_order``)."""
    completed = False
    try:
        batches = (
            []
            if ds is None
            else ds.iter_batches(batch_size=None, batch_format="pyarrow")
        )
        for batch in batches:
            sink.write(batch, on_error)
        completed = True
    finally:
        sink.close(completed)
    return {"documents": sink.written, "errors": sink.skipped, "shards": 0}


def _summary(
    totals: Dict[str, int],
    seconds: float,
    workers: int,
    output: Location,
    sharded: bool,
    done: Progress,
) -> str:
    rate = totals["documents"] / max(seconds, 1e-9)
    line = f"{totals['documents']} documents ({rate:.1f} docs/s) with {workers} Ray workers"
    if sharded:
        resumed = sum(len(blocks) for blocks in done.blocks.values())
        line += f"; {totals['shards']} shards written, {resumed} done before"
    if totals["errors"]:
        where = output.child(ERRORS).uri if sharded else errors_file(output).uri
        line += f"; {totals['errors']} lines skipped, listed in {where}"
    return line + "\n"


def _output_format(output: Location, requested: Optional[str], sharded: bool) -> str:
    """JSONL, or Parquet (asked for, or a ``.parquet`` file OUTPUT)."""
    suffix = "parquet" if output.path.endswith(".parquet") and not sharded else "jsonl"
    if requested in (None, suffix) or (sharded and requested in FORMATS):
        return requested or suffix
    if requested not in FORMATS:
        raise ValueError(f"--ray writes {' or '.join(FORMATS)}, not {requested}")
    raise ValueError(f"{output.uri}: a {suffix} file name for {requested} output")


def _check_paths(source: Location, output: Location, sharded: bool) -> None:
    """Nothing is written over the input: OUTPUT (and, for a file, its errors file) is
    not the input, not inside the input folder, and no folder that holds the input (for
    local paths, the local command's check, links resolved)."""
    targets = [output] if sharded else [output, errors_file(output)]
    for target in targets:
        if target.local and source.local:
            refuse_overwriting_inputs(Path(target.path), [Path(source.path)])
        elif inside(target, source) or inside(source, target):
            raise ValueError(
                f"{target.uri}: refusing to write the output there, it is the input "
                f"{source.uri}, inside it or a folder that holds it; choose another output path"
            )


def _model_name(model: PipelineSource) -> str:
    if callable(model):
        return getattr(model, "__qualname__", type(model).__qualname__)
    return model_identity(model)


def _user_error(err: BaseException) -> BaseException:
    """The error that a read task, actor or write task raised (a bad input line, a model
    that does not load), unwrapped from Ray's task errors and with the first line of its
    message only (Ray appends its retry report)."""
    inner = err
    while True:
        cause = getattr(inner, "cause", None)
        cause = cause if isinstance(cause, BaseException) else inner.__cause__
        if cause is None:
            break
        inner = cause
    if type(inner) in (ValueError, FileNotFoundError):
        return type(inner)(str(inner).splitlines()[0])
    return err
