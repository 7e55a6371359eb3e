"""The plan of an ``extract --ray`` job, checked before Ray starts or anything is
written: where it reads and writes, in which format, in blocks of how many documents,
and what a folder OUTPUT already holds; and the errors a job reports.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional

import spacy

from ...about import __version__
from ..options import ExtractOptions
from ..outputs import model_identity, refuse_overwriting_inputs
from .annotate import PipelineSource
from .input import Progress
from .output import FORMATS, errors_file, prepare_folder
from .storage import InputFile, Location, inside, is_folder_output, list_inputs, locate

# Documents per block = spaCy batches per block x batch size: the unit of work of an
# actor task, of a retry and of an output write. In the ordered file, 4 x 64 documents
# (seconds on a CPU) keep every actor busy until the end; a shard is 16 x 64 documents
# by default, fewer and larger files, and a killed worker redoes at most one.
BATCHES_PER_BLOCK = 4
BATCHES_PER_SHARD = 16


@dataclass
class Job:
    """What a job reads and writes.

    Args:
        source: the input (a file or a folder, local or a URI).
        files: the input's files.
        output: the output.
        sharded: whether the output is a folder of shards (else one file).
        out_format: ``jsonl`` or ``parquet``.
        block_rows: documents per block (per shard of a folder output).
        text_column: the text column of the read blocks.
        done: what a folder output holds already.
        existed: whether the folder output was there before the job.
    """

    source: Location
    files: List[InputFile]
    output: Location
    sharded: bool
    out_format: str
    block_rows: int
    text_column: str
    done: Progress
    existed: bool = False


def plan_job(
    model: PipelineSource, input_path: Any, output_path: Any, options: ExtractOptions
) -> Job:
    """The job, every check done that can be done before Ray starts; a folder output is
    prepared (its job file written, or a rerun's checked against it)."""
    source, output = locate(str(input_path)), locate(str(output_path))
    files = list_inputs(source)
    sharded = is_folder_output(str(output_path))
    out_format = output_format(output, options.output_format, sharded)
    check_paths(source, output, sharded)
    check_model(model)
    batch_size = options.batch_size
    block_rows = options.docs_per_shard or batch_size * (
        BATCHES_PER_SHARD if sharded else BATCHES_PER_BLOCK
    )
    if block_rows % batch_size:
        raise ValueError(
            f"docs per shard ({block_rows}): a multiple of the batch size ({batch_size})"
        )
    column = text_column(source, files, options.text_key)
    job = Job(
        source, files, output, sharded, out_format, block_rows, column, Progress()
    )
    if sharded:
        record = _job_record(model, job, options)
        job.existed = output.exists()
        job.done = prepare_folder(output, record, options.restart, out_format)
    elif output.exists() and not options.restart:
        raise ValueError(
            f"{output.uri} exists: --ray writes a file OUTPUT from scratch; pass --restart to "
            f"overwrite it, or give a folder OUTPUT (ending with '/') for resumable shards"
        )
    return job


def _job_record(
    model: PipelineSource, job: Job, options: ExtractOptions
) -> Dict[str, Any]:
    """What a folder output's job file records, which a rerun must match."""
    return {
        "spacy_stsn": __version__,
        "model": model_name(model),
        "input": job.source.key,
        "inputs": {f.relative: [f.size, f.mtime_ns] for f in job.files},
        "format": options.fmt,
        "text_key": options.text_key,
        "batch_size": options.batch_size,
        "docs_per_shard": job.block_rows,
        "tags": options.tags,
        "precision": options.precision,
        "max_length": options.max_length,
    }


def text_column(source: Location, files: List[InputFile], text_key: str) -> str:
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


def output_format(output: Location, requested: Optional[str], sharded: bool) -> str:
    """JSONL, or Parquet (asked for, or a ``.parquet`` file OUTPUT)."""
    suffix = "parquet" if output.path.endswith(".parquet") and not sharded else "jsonl"
    if requested in (None, suffix) or (sharded and requested in FORMATS):
        return requested or suffix
    if requested not in FORMATS:
        raise ValueError(f"--ray writes {' or '.join(FORMATS)}, not {requested}")
    raise ValueError(f"{output.uri}: a {suffix} file name for {requested} output")


def check_paths(source: Location, output: Location, sharded: bool) -> None:
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


def model_name(model: PipelineSource) -> str:
    if callable(model):
        return getattr(model, "__qualname__", type(model).__qualname__)
    return model_identity(model)


def user_error(err: BaseException) -> BaseException:
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
