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
from typing import Any, Callable, Dict, Optional, Union

import ray
import ray.data

from ...files import check_writable
from ..options import ExtractOptions
from ..output_lock import OutputLock
from ..records import prediction_fields
from ..run import STDERR
from .annotate import PipelineSource, annotate
from .input import ORIGIN, TASK_CPUS, plan_blocks, read_blocks
from .job import Job, check_paths, plan_job, user_error
from .output import ERRORS, OrderedOutput, ShardDatasink, discard_if_empty, errors_file
from .storage import is_folder_output, locate

Totals = Dict[str, int]


def _holding_the_output_lock(run: Callable[..., int]) -> Callable[..., int]:
    """``run`` (:func:`extract_on_ray`) with a local OUTPUT checked writable and locked
    (:mod:`spacy_stsn.extraction.output_lock`) for the whole job; an object store has no
    locks."""

    @functools.wraps(run)
    def locked(
        model: Any,
        input_path: Any,
        output_path: Any,
        options: Optional[ExtractOptions] = None,
        **changes: Any,
    ) -> int:
        options = ExtractOptions.of(options, **changes)
        options.check_ray()  # before anything is touched
        output = locate(str(output_path))
        if not output.local:
            return run(model, input_path, output_path, options)
        # before the lock file is made: it would be inside an input folder OUTPUT is in
        sharded = is_folder_output(str(output_path))
        check_paths(locate(str(input_path)), output, sharded)
        check_writable(Path(output.path))
        with OutputLock(Path(output.path), "extract --ray"):
            return run(model, input_path, output_path, options)

    return locked


@_holding_the_output_lock
def extract_on_ray(
    model: PipelineSource,
    input_path: Union[str, Path],
    output_path: Union[str, Path],
    options: Optional[ExtractOptions] = None,
    **changes: Any,
) -> int:
    """The ``extract --ray`` command: ``input_path`` → ``output_path`` (local paths or
    URIs such as ``s3://bucket/key``) on the Ray cluster at ``options.address`` (or a
    local Ray instance started here, or the one this process already joined); returns
    the documents written by this run.

    Args:
        model: a pipeline path or package name readable on every node, or a function
            that returns the pipeline.
        input_path: a text/JSONL/Parquet file or a folder of them.
        output_path: a file, or a folder for shards.
        options: how (:class:`spacy_stsn.extraction.options.ExtractOptions`; the local
            command's ``html``, ``n_process`` and ``gpu_id`` are refused).
        changes: fields of ``options`` given as keywords (``workers=2``).

    A folder ``output_path`` (ending with '/', an existing folder, or a URI without a
    suffix) gets shards written by the workers, ``docs_per_shard`` documents each
    (default 16 batches), and a rerun resumes it; a file gets every document in input
    order, written by the driver (``.parquet``: Parquet), and an existing one is only
    overwritten with ``restart``. ``on_error``: a line that is malformed or whose
    document fails in the pipeline stops the job (``"stop"``, after the lines before it
    in a file OUTPUT) or is written to the errors (``"skip"``). A local OUTPUT is
    locked for the job: a second job onto it is refused, naming the first."""
    options = ExtractOptions.of(options, **changes)
    job = plan_job(model, input_path, output_path, options)
    progress = sys.stderr if options.progress is STDERR else options.progress
    start = time.perf_counter()
    totals = _run(model, job, options, progress is not None)
    if progress is not None:
        seconds = time.perf_counter() - start
        progress.write(_summary(totals, seconds, options.workers, job))
    return totals["documents"]


def _run(model: PipelineSource, job: Job, options: ExtractOptions, log: bool) -> Totals:
    """Read, annotate and write what the job has left to do, on the cluster (joined or
    started here, and then shut down), with Ray Data's settings for it."""
    todo = [f for f in job.files if f.relative not in job.done.files_done]
    started = bool(todo) and not ray.is_initialized()
    if started:
        ray.init(address=options.address, log_to_driver=log)
    context = ray.data.DataContext.get_current()
    saved = (
        context.execution_options.preserve_order,
        context.raise_original_map_exception,
        context.target_max_block_size,
    )
    try:
        # in input order for a file; the actor's own error (not Ray's wrapper); a Ray
        # block per input block, never merged with others nor split
        context.execution_options.preserve_order = not job.sharded
        context.raise_original_map_exception = True
        context.target_max_block_size = None
        return _read_annotate_write(model, job, options, todo)
    except Exception as err:  # a bad line or model reaches the driver in Ray's errors
        if job.sharded:
            discard_if_empty(job.output, job.existed)
        raise user_error(err) from err
    finally:
        (
            context.execution_options.preserve_order,
            context.raise_original_map_exception,
            context.target_max_block_size,
        ) = saved
        if started:
            ray.shutdown()


def _read_annotate_write(
    model: PipelineSource, job: Job, options: ExtractOptions, todo: list
) -> Totals:
    """The Dataset of the blocks left to do through the actor pool into the output."""
    # scan, read and write tasks ask for no CPU: as many at once as actors, no more
    tasks = max(1, options.workers)
    blocks = plan_blocks(todo, job.block_rows, job.done, tasks) if todo else []
    # input fields that the output's would overwrite are errors of their line
    reserved = prediction_fields(options.tags) + ((ORIGIN,) if job.sharded else ())
    ds = None
    if blocks:
        ds = read_blocks(
            blocks,
            options.fmt,
            options.text_key,
            options.on_error,
            reserved,
            options.max_length,
            tasks,
        )
        ds = annotate(
            ds,
            model,
            job.text_column,
            options.workers,
            options.cpus_per_worker,
            options.gpus_per_worker,
            options.batch_size,
            options.tags,
            options.precision,
            rows_per_call=None,  # whole blocks
            max_length=options.max_length,
        )
    out = (job.output, job.text_column, options.text_key, job.out_format)
    if not job.sharded:
        return _write_ordered(ds, OrderedOutput(*out), options.on_error)
    if ds is None:
        return {"documents": 0, "errors": 0, "shards": 0}
    sink = ShardDatasink(*out, options.on_error)
    ds.write_datasink(sink, ray_remote_args={"num_cpus": TASK_CPUS}, concurrency=tasks)
    return sink.totals


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


def _summary(totals: Totals, seconds: float, workers: int, job: Job) -> str:
    """The job's last line: documents, speed, shards, skipped lines."""
    rate = totals["documents"] / max(seconds, 1e-9)
    line = f"{totals['documents']} documents ({rate:.1f} docs/s) with {workers} Ray workers"
    output = job.output
    if job.sharded:
        resumed = sum(len(blocks) for blocks in job.done.blocks.values())
        line += f"; {totals['shards']} shards written, {resumed} done before"
    if totals["errors"]:
        where = output.child(ERRORS).uri if job.sharded else errors_file(output).uri
        line += f"; {totals['errors']} lines skipped, listed in {where}"
    return line + "\n"
