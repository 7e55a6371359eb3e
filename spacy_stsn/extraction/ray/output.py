"""The output side of ``extract --ray``: records from annotated blocks, the ordered
single file (small jobs, written by the driver), and the sharded folder (any size,
written by the workers, resumable).

A folder OUTPUT gets one shard per block of input, written whole by a Ray Data write
task on the cluster with a :class:`ShardDatasink`: ``REL.NNNNNN.jsonl`` (or
``.parquet``), REL the input file's path inside the input folder and NNNNNN the block's
index within it, with ``.last`` before the suffix for a file's last block. Every record
carries ``_origin`` (input file and line), so order is recoverable without ordering the
job. Lines skipped with ``--on-error skip`` go to ``_errors/SHARD.jsonl`` (file, line,
problem); ``_stsn_extract.json`` describes the job (inputs' sizes and times, model,
options), and a rerun resumes only the job it describes. A shard is written to a hidden
temporary file and then moved: it exists whole or not at all, so a rerun skips exactly
the blocks that are done.
"""

import io
import json
import posixpath
import re
from dataclasses import dataclass
from typing import Any, Dict, Iterable, Iterator, List, Optional, Tuple

import pyarrow as pa
import pyarrow.parquet as pq
from ray.data.block import Block, BlockAccessor
from ray.data.datasource import Datasink
from ray.data.datasource.datasink import WriteResult

from ...files import is_temporary
from ..failures import ERRORS_SUFFIX, error_line
from ..records import output_line
from .input import BLOCK, ERROR, FIELDS, FILE, INTERNAL, LINE, ORIGIN, Progress
from .storage import (
    Location,
    delete_files,
    list_relative,
    make_parent,
    write_atomic,
)

# The annotation columns, typed so that every block has the same schema whatever it
# found (an empty entity list in one block and a full one in the next) and Parquet can
# hold them. Field order = ``doc_to_record``'s.
ENTITY = pa.struct(
    [
        ("text", pa.string()),
        ("label", pa.string()),
        ("start_char", pa.int64()),
        ("end_char", pa.int64()),
        ("start", pa.int64()),
        ("end", pa.int64()),
        ("score", pa.float64()),
    ]
)
RELATION = pa.struct(
    [
        ("head", pa.int64()),
        ("tail", pa.int64()),
        ("label", pa.string()),
        ("score", pa.float64()),
    ]
)
ANNOTATIONS = {
    "entities": pa.list_(ENTITY),
    "relations": pa.list_(RELATION),
    "tokens": pa.list_(pa.string()),
    "tags": pa.list_(pa.string()),
}
# The record's source in sharded output.
ORIGIN_TYPE = pa.struct([("file", pa.string()), ("line", pa.int64())])
JOB = "_stsn_extract.json"
ERRORS = "_errors"
FORMATS = ("jsonl", "parquet")
SHARD = re.compile(r"^(?P<block>.+\.\d{6,}(\.last)?)\.(jsonl|parquet)$")


@dataclass
class Row:
    """One row of an annotated block: a document's record, or a line that was no
    document."""

    text: Optional[str]
    fields: Dict[str, Any]
    annotations: Dict[str, Any]
    file: Optional[str]
    line: Optional[int]
    error: Optional[str]

    def origin(self) -> Dict[str, Any]:
        return {"file": self.file, "line": self.line}


def rows(batch: pa.Table, text_column: str) -> Iterator[Row]:
    """The rows of an annotated block, passthrough fields decoded (JSON fields, or the
    other columns)."""
    names = batch.column_names
    passthrough = [
        n
        for n in names
        if n != text_column and n not in ANNOTATIONS and n not in INTERNAL
    ]
    for row in batch.to_pylist():
        fields = (
            json.loads(row[FIELDS])
            if row.get(FIELDS) is not None
            else {n: row[n] for n in passthrough}
        )
        yield Row(
            row[text_column],
            fields,
            {n: row[n] for n in ANNOTATIONS if n in row},
            row.get(FILE),
            row.get(LINE),
            row.get(ERROR),
        )


def jsonl(documents: Iterable[Row], text_key: str, origin: bool) -> str:
    """The local command's JSON lines (the text under ``text_key``), with each record's
    ``_origin`` in sharded output."""
    return "".join(
        output_line(
            row.text,
            {**row.fields, ORIGIN: row.origin()} if origin else row.fields,
            row.annotations,
            text_key,
        )
        for row in documents
    )


def parquet_table(
    documents: List[Row], text_key: str, name: str, origin: bool
) -> pa.Table:
    """Records as a table: the text (column ``text_key``), the passthrough fields as
    columns (which must then hold one type each), ``_origin`` in sharded output, the
    annotations."""
    columns = {text_key: pa.array([r.text for r in documents], pa.string())}
    for key in dict.fromkeys(key for r in documents for key in r.fields):
        try:
            columns[key] = pa.array([r.fields.get(key) for r in documents])
        except (pa.ArrowInvalid, pa.ArrowTypeError) as err:
            raise ValueError(
                f"{name}: field {key!r} does not hold one type, as a Parquet column must "
                f"({err}); write JSONL instead"
            ) from None
    if origin:
        columns[ORIGIN] = pa.array([r.origin() for r in documents], ORIGIN_TYPE)
    present = [n for n in ANNOTATIONS if documents and n in documents[0].annotations]
    for n in present or ["entities", "relations"]:
        columns[n] = pa.array([r.annotations[n] for r in documents], ANNOTATIONS[n])
    return pa.table(columns)


def error_lines(errors: Iterable[Row]) -> str:
    return "".join(error_line(r.file, r.line, r.error) for r in errors)


class ShardDatasink(Datasink):
    """Ray Data's writer interface, one shard per input block, named from its input file
    and block: the write tasks (on the cluster, never the driver) turn the rows into
    records and write them whole (write then move). With ``on_error="stop"`` a block
    holding a malformed line is not written, and once every task has finished the job
    fails with the ``FILE:LINE`` error of the first such line in input order (not of
    whichever task failed first: the same error on every run); with ``"skip"`` the line
    goes to the block's errors shard."""

    def __init__(
        self,
        output: Location,
        text_column: str,
        text_key: str,
        fmt: str,
        on_error: str,
    ) -> None:
        self.output, self.text_column, self.text_key = output, text_column, text_key
        self.fmt, self.on_error = fmt, on_error
        self.totals = {"documents": 0, "errors": 0, "shards": 0}

    def write(self, blocks: Iterable[Block], ctx: Any) -> Dict[str, Any]:
        written: Dict[str, Any] = {"documents": 0, "errors": 0, "shards": 0}
        stops = []  # (file, line, error) of the first bad line of each stopped block
        for block in blocks:
            table = BlockAccessor.for_block(block).to_arrow()
            for shard, part in _by_block(table):
                documents, errors = [], []
                for row in rows(part, self.text_column):
                    (errors if row.error is not None else documents).append(row)
                if errors and self.on_error == "stop":
                    stops.append((errors[0].file, errors[0].line, errors[0].error))
                    continue
                if errors:
                    errors_shard = posixpath.join(ERRORS, f"{shard}.jsonl")
                    write_atomic(
                        self.output.child(errors_shard),
                        error_lines(errors).encode("utf8"),
                    )
                name = f"{shard}.{self.fmt}"
                if self.fmt == "parquet":
                    buffer = io.BytesIO()
                    pq.write_table(
                        parquet_table(documents, self.text_key, name, True), buffer
                    )
                    data = buffer.getvalue()
                else:
                    data = jsonl(documents, self.text_key, origin=True).encode("utf8")
                write_atomic(self.output.child(name), data)
                written["documents"] += len(documents)
                written["errors"] += len(errors)
                written["shards"] += 1
        return {**written, "stops": stops}

    def on_write_complete(self, write_result: WriteResult) -> None:
        stops = []
        for result in write_result.write_returns:
            for key, value in (result or {}).items():
                if key == "stops":
                    stops.extend(value)
                else:
                    self.totals[key] += value
        if stops:
            raise ValueError(min(stops, key=lambda s: (s[0] or "", s[1] or 0))[2])


def _by_block(table: pa.Table) -> Iterator[Tuple[str, pa.Table]]:
    """The rows of each block (one per Ray block here; contiguous in any case)."""
    for start, end in runs(table.column(BLOCK).to_pylist()):
        yield table.column(BLOCK)[start].as_py(), table.slice(start, end - start)


def runs(values: List[Any]) -> Iterator[Tuple[int, int]]:
    """(start, end) of each run of equal consecutive ``values``."""
    start = 0
    for end in range(1, len(values) + 1):
        if end == len(values) or values[end] != values[start]:
            yield start, end
            start = end


def prepare_folder(
    output: Location, job: Dict[str, Any], restart: bool, fmt: str
) -> Progress:
    """Check the folder OUTPUT against ``job`` and return what is done: an empty or
    missing folder starts the job; a folder of this job resumes it (or starts over with
    ``restart``, deleting only its own files); a folder of another job, or with files
    this command did not write, is refused."""
    files = list_relative(output) or []
    ours = [f for f in files if _ours(f)]
    foreign = [f for f in files if not _ours(f)]
    if foreign:
        raise ValueError(
            f"{output.uri}: the folder holds files that are not this command's shards "
            f"({', '.join(foreign[:3])}{' ...' if len(foreign) > 3 else ''}); "
            f"give an empty or new folder"
        )
    shards = [f for f in ours if SHARD.match(f) and not f.startswith(ERRORS + "/")]
    if restart:
        delete_files(output, ours)
        shards, ours = [], []
    stale = [f for f in ours if is_temporary(f)]  # from writers that were killed
    delete_files(output, stale)
    if shards:
        previous = _read_job(output)
        if previous != job:
            raise ValueError(
                f"{output.uri}: holds the shards of another job "
                f"({_difference(previous, job)}); pass --restart to start over"
            )
        wrong_format = [f for f in shards if not f.endswith(f".{fmt}")]
        if wrong_format:
            raise ValueError(
                f"{output.uri}: holds shards in another format ({wrong_format[0]})"
            )
    write_atomic(
        output.child(JOB), json.dumps(job, indent=1, sort_keys=True).encode("utf8")
    )
    return Progress.of(SHARD.match(f)["block"] for f in shards)


def discard_if_empty(output: Location, existed: bool) -> None:
    """After a job failed: if the folder OUTPUT holds no shard, remove what
    :func:`prepare_folder` wrote (the job file, and the folder if it made it), so that a
    failed start leaves no empty output."""
    files = list_relative(output) or []
    if all(f == JOB or is_temporary(f) for f in files):
        delete_files(output, files)
        if not existed and output.local:  # (an object store has no empty folder)
            output.fs.delete_dir(output.path)


def _ours(relative: str) -> bool:
    """A file this command writes into a folder OUTPUT."""
    return (
        relative == JOB
        or relative.startswith(ERRORS + "/")
        or is_temporary(relative)
        or SHARD.match(relative) is not None
    )


def _read_job(output: Location) -> Optional[Dict[str, Any]]:
    try:
        with output.fs.open_input_stream(output.child(JOB).path) as f:
            return json.loads(f.read().decode("utf8"))
    except (FileNotFoundError, ValueError):
        return None


def _difference(previous: Optional[Dict[str, Any]], job: Dict[str, Any]) -> str:
    if previous is None:
        return f"no readable {JOB}"
    keys = sorted(k for k in set(previous) | set(job) if previous.get(k) != job.get(k))
    if "inputs" in keys:
        old, new = previous.get("inputs", {}), job["inputs"]
        changed = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
        return f"input files added, removed or changed since: {', '.join(changed[:3])}"
    return "; ".join(f"{k} was {previous.get(k)!r}, now {job.get(k)!r}" for k in keys)


class OrderedOutput:
    """The single ordered OUTPUT file (the small-job mode): the driver writes each block
    as it arrives in input order, JSONL or (``.parquet``) Parquet with the columns of
    the first block. The file is created at the first block, so a job that fails before
    any (a model that does not load) leaves none."""

    def __init__(
        self, output: Location, text_column: str, text_key: str, fmt: str
    ) -> None:
        self.output, self.text_column, self.text_key = output, text_column, text_key
        self.fmt = fmt
        self.stream, self.writer, self.errors = None, None, None
        self.written, self.skipped = 0, 0

    def write(self, batch: pa.Table, on_error: str) -> None:
        """Write a block's documents; at a malformed line, stop (``"stop"``: raise its
        error after the lines before it) or (``"skip"``) write it to the errors file
        OUTPUT.errors.jsonl."""
        block = list(rows(batch, self.text_column))
        stop = next(
            (
                i
                for i, r in enumerate(block)
                if r.error is not None and on_error == "stop"
            ),
            None,
        )
        documents = [r for r in block[:stop] if r.error is None]
        if documents:
            self._write(documents)
        if stop is not None:
            raise ValueError(block[stop].error)
        errors = [r for r in block if r.error is not None]
        if errors:
            if self.errors is None:
                self.errors = self._open(errors_file(self.output))
            self.errors.write(error_lines(errors).encode("utf8"))
            self.errors.flush()
            self.skipped += len(errors)

    def _open(self, location: Location) -> Any:
        make_parent(location)
        return location.fs.open_output_stream(location.path)

    def _write(self, documents: List[Row]) -> None:
        if self.stream is None:
            self.stream = self._open(self.output)
        if self.fmt == "parquet":
            table = parquet_table(
                documents, self.text_key, self.output.uri, origin=False
            )
            if self.writer is None:
                self.writer = pq.ParquetWriter(self.stream, table.schema)
            self.writer.write_table(self._fit(table))
        else:
            self.stream.write(
                jsonl(documents, self.text_key, origin=False).encode("utf8")
            )
            self.stream.flush()
        self.written += len(documents)

    def _fit(self, table: pa.Table) -> pa.Table:
        schema = self.writer.schema
        if table.schema.equals(schema):
            return table
        try:
            if set(table.column_names) != set(schema.names):
                raise ValueError(f"columns {table.column_names}")
            return table.select(schema.names).cast(schema)
        except (ValueError, pa.ArrowInvalid, pa.ArrowNotImplementedError) as err:
            raise ValueError(
                f"{self.output.uri}: a block does not fit the columns of the first one, "
                f"{schema} ({err}); write JSONL instead"
            ) from None

    def close(self, completed: bool) -> None:
        """Close the files; a completed job with no documents still gets its (empty)
        OUTPUT."""
        if completed and self.stream is None:
            self.stream = self._open(self.output)
            if self.fmt == "parquet":
                types = [(self.text_key, pa.string())] + [
                    (n, ANNOTATIONS[n]) for n in ("entities", "relations")
                ]
                pq.write_table(pa.schema(types).empty_table(), self.stream)
        if self.writer is not None:
            self.writer.close()
        for stream in (self.stream, self.errors):
            if stream is not None:
                stream.close()


def errors_file(output: Location) -> Location:
    """OUTPUT.errors.jsonl: the lines an ordered job skipped."""
    return Location(output.uri + ERRORS_SUFFIX, output.fs, output.path + ERRORS_SUFFIX)
