"""Corpus-scale extraction on a Ray cluster with Ray Data batch inference (``extract --ray``).

Ray Data does the scheduling: a pool of actors (``map_batches`` with a callable class) loads the pipeline once
per actor and maps blocks of documents through it, with the CPUs or GPUs asked for per actor. Ray restarts an
actor that dies and retries its task, and a block's output reaches the driver only when its task has finished,
so a killed actor loses and duplicates nothing. The command line reads text and JSONL files with the parser
and ``FILE:LINE`` errors of the local ``extract`` (``spacy_stsn.extract.parse_lines``), cut into blocks whose
sizes are multiples of ``batch_size``, so every spaCy batch holds the same documents as the local command's
and the output is identical to it, line for line in input order (the driver writes the blocks in order).

Only imported when used: importing ``spacy_stsn`` or running the local ``extract`` never imports Ray.
"""

import io
import json
import os
import sys
import time
from itertools import islice
from pathlib import Path
from typing import IO, Any, Callable, Dict, Iterator, List, Optional, Tuple, Union

import pyarrow as pa
import pyarrow.parquet as pq
import ray
import ray.data
from ray.data.datasource import FileBasedDatasource
from spacy.language import Language

from .extract import doc_to_record, input_format, output_line, parse_lines
from .loading import load_pipeline, stsn_component

# The annotation columns, typed so that every block has the same schema whatever it found (an empty entity
# list in one block and a full one in the next) and Parquet can hold them. Field order = ``doc_to_record``'s.
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
# Text and JSONL lines carry their passthrough fields as one JSON object in this column: JSON values need
# not share a type from line to line, Arrow columns must.
FIELDS = "_fields"
# Reading and parsing is light next to the model: read tasks ask for no CPU, so that actors holding every CPU
# of the cluster (--workers = CPUs) do not starve the reads that feed them (Ray Data would wait forever).
READ_CPUS = 0
# Documents per block = spaCy batches per block x batch size: the unit of work of an actor task, of a retry
# and of an output write. 4 x 64 documents take seconds on a CPU: small enough to keep every actor busy
# until the end.
BATCHES_PER_BLOCK = 4
PipelineSource = Union[str, Callable[[], Language]]


class Extractor:
    """The ``map_batches`` callable class: one pipeline per actor, a block of documents per call."""

    def __init__(
        self,
        model: PipelineSource,
        text_column: str,
        batch_size: int,
        tags: bool,
        precision: Optional[str],
        gpu: bool,
    ) -> None:
        if callable(model):
            if gpu:
                import spacy

                spacy.require_gpu(0)
            self.nlp = model()
            self.spans_key = stsn_component(
                self.nlp, getattr(model, "__name__", repr(model))
            ).spans_key
        else:  # Ray gives each actor its own GPUs as device 0.. (CUDA_VISIBLE_DEVICES)
            self.nlp, stsn = load_pipeline(model, 0 if gpu else -1, precision)
            self.spans_key = stsn.spans_key
        self.text_column, self.batch_size, self.tags = text_column, batch_size, tags

    def __call__(self, batch: pa.Table) -> pa.Table:
        texts = batch.column(self.text_column).to_pylist()
        if not all(isinstance(text, str) for text in texts):
            raise ValueError(
                f"column {self.text_column!r}: expected strings, found "
                f"{next(repr(t) for t in texts if not isinstance(t, str))}"
            )
        records = [
            doc_to_record(doc, self.spans_key, self.tags)
            for doc in self.nlp.pipe(texts, batch_size=self.batch_size)
        ]
        names = ["entities", "relations"] + (["tokens", "tags"] if self.tags else [])
        batch = batch.drop_columns(
            [name for name in names if name in batch.column_names]
        )  # as the local one
        for name in names:
            batch = batch.append_column(
                pa.field(name, ANNOTATIONS[name]),
                pa.array([r[name] for r in records], type=ANNOTATIONS[name]),
            )
        return batch


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
    """``ds`` with ``entities`` and ``relations`` columns added (and ``tokens`` / ``tags`` with ``tags``), as
    the local ``extract`` writes them, by a pool of ``workers`` actors that each load ``model`` (a pipeline
    path or package name readable on every node, or a function that returns the pipeline) once.

    Lazy, like any Ray Dataset. Set ``DataContext.get_current().execution_options.preserve_order = True``
    before consuming it for the rows in input order; a document's annotations depend on the documents batched
    with it only in the last float bits of the scores."""
    return ds.map_batches(
        Extractor,
        fn_constructor_kwargs={
            "model": model,
            "text_column": text_column,
            "batch_size": batch_size,
            "tags": tags,
            "precision": precision,
            "gpu": gpus_per_worker > 0,
        },
        batch_size=batch_size,
        batch_format="pyarrow",
        compute=ray.data.ActorPoolStrategy(size=workers),
        num_cpus=cpus_per_worker,
        num_gpus=gpus_per_worker,
    )


class LinesDatasource(FileBasedDatasource):
    """Text or JSONL files, parsed by the local command's parser, in blocks of ``block_rows`` documents."""

    def __init__(
        self,
        paths: List[str],
        names: Dict[str, str],
        fmt: str,
        text_key: str,
        block_rows: int,
    ):
        super().__init__(paths)
        self.names, self.fmt, self.text_key, self.block_rows = (
            names,
            fmt,
            text_key,
            block_rows,
        )

    def _read_stream(self, f: "pa.NativeFile", path: str) -> Iterator[pa.Table]:
        name = self.names.get(os.path.normpath(path), path)
        fmt = input_format(Path(path), self.fmt)
        # universal newlines, as ``Path.open`` in the local command: the same line breaks, the same lines
        lines = parse_lines(
            io.TextIOWrapper(f, encoding="utf8"), name, fmt, self.text_key
        )
        while True:
            rows = list(islice(lines, self.block_rows))
            if not rows:
                return
            yield pa.table(
                {
                    "text": [text for text, _ in rows],
                    FIELDS: [json.dumps(meta, ensure_ascii=False) for _, meta in rows],
                }
            )


class ParquetDatasource(FileBasedDatasource):
    """Parquet files in blocks of ``block_rows`` rows, all columns kept; the text column must hold strings.
    (Ray's ``read_parquet`` lists its files in a task of its own, which needs a CPU that actors may hold.)"""

    def __init__(
        self, paths: List[str], names: Dict[str, str], text_key: str, block_rows: int
    ):
        super().__init__(paths)
        self.names, self.text_key, self.block_rows = names, text_key, block_rows

    def _open_input_source(
        self, filesystem: Any, path: str, **open_args: Any
    ) -> "pa.NativeFile":
        return filesystem.open_input_file(
            path
        )  # Parquet needs random access (its footer comes first)

    def _read_stream(self, f: "pa.NativeFile", path: str) -> Iterator[pa.Table]:
        name = self.names.get(os.path.normpath(path), path)
        parquet = pq.ParquetFile(f)
        schema = parquet.schema_arrow
        field = schema.field(self.text_key) if self.text_key in schema.names else None
        if field is None or not (
            pa.types.is_string(field.type) or pa.types.is_large_string(field.type)
        ):
            raise ValueError(
                f"{name}: expected a string column {self.text_key!r}, found {schema.names}"
            )
        for batch in parquet.iter_batches(batch_size=self.block_rows):
            yield pa.Table.from_batches([batch])


def list_inputs(path: Path) -> List[Path]:
    """``path`` itself, or the files of the folder ``path`` (recursively, sorted, hidden ones left out)."""
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file or folder")
    if path.is_file():
        return [path]
    files = sorted(
        p
        for p in path.rglob("*")
        if p.is_file()
        and not any(part[0] in "._" for part in p.relative_to(path).parts)
    )
    if not files:
        raise ValueError(f"{path}: the folder holds no input files")
    return files


def read_corpus(
    input_path: Path, fmt: str = "auto", text_key: str = "text", batch_size: int = 64
) -> Tuple["ray.data.Dataset", str]:
    """A Dataset of ``input_path`` (a text, JSONL or Parquet file, or a folder of them), its text column."""
    files = list_inputs(input_path)
    names = {os.path.normpath(str(p.resolve())): str(p) for p in files}
    # Blocks of whole multiples of batch_size: each spaCy batch is then the local command's batch.
    block_rows = batch_size * BATCHES_PER_BLOCK
    parquet = [p.suffix == ".parquet" for p in files]
    if all(parquet):
        source, text_column = (
            ParquetDatasource(list(names), names, text_key, block_rows),
            text_key,
        )
    elif any(parquet):
        raise ValueError(
            f"{input_path}: a folder of either Parquet or text/JSONL files, not both"
        )
    else:
        source, text_column = (
            LinesDatasource(list(names), names, fmt, text_key, block_rows),
            "text",
        )
    # one read task per file, its blocks not split further (which would cut them off the batch grid)
    ds = ray.data.read_datasource(
        source, num_cpus=READ_CPUS, override_num_blocks=len(files)
    )
    return ds, text_column


def _rows(
    batch: pa.Table, text_column: str
) -> Iterator[Tuple[str, Dict[str, Any], Dict[str, Any]]]:
    """(text, passthrough fields, annotations) per row of an output block."""
    passthrough = [
        n for n in batch.column_names if n != text_column and n not in ANNOTATIONS
    ]
    for row in batch.to_pylist():
        fields = (
            json.loads(row[FIELDS])
            if FIELDS in row
            else {n: row[n] for n in passthrough}
        )
        yield row[text_column], fields, {n: row[n] for n in ANNOTATIONS if n in row}


def _output_table(batch: pa.Table, text_column: str, path: Path) -> pa.Table:
    """An output block as a table: ``text``, the passthrough fields (JSON fields expanded into columns, which
    must then hold one type each), the annotations."""
    annotations = [n for n in ANNOTATIONS if n in batch.column_names]
    if FIELDS in batch.column_names:
        rows = [
            {"text": text, **json.loads(fields)}
            for text, fields in zip(
                batch.column(text_column).to_pylist(), batch.column(FIELDS).to_pylist()
            )
        ]
        columns = {}
        for key in dict.fromkeys(key for row in rows for key in row):
            try:
                columns[key] = pa.array([row.get(key) for row in rows])
            except (pa.ArrowInvalid, pa.ArrowTypeError) as err:
                raise ValueError(
                    f"{path}: field {key!r} does not hold one type, as a Parquet column must "
                    f"({err}); write JSONL instead"
                ) from None
        front = pa.table(columns)
    else:
        passthrough = [
            n for n in batch.column_names if n != text_column and n not in ANNOTATIONS
        ]
        front = batch.select([text_column] + passthrough).rename_columns(
            ["text"] + passthrough
        )
    for name in annotations:
        front = front.append_column(batch.schema.field(name), batch.column(name))
    return front


class ParquetOutput:
    """One Parquet file, with the columns of the first block; every later block must have the same."""

    def __init__(self, path: Path) -> None:
        self.path, self.writer = path, None

    def write(self, table: pa.Table) -> None:
        if self.writer is None:
            self.writer = pq.ParquetWriter(str(self.path), table.schema)
        schema = self.writer.schema
        if not table.schema.equals(schema):
            try:
                if set(table.column_names) != set(schema.names):
                    raise ValueError(f"columns {table.column_names}")
                table = table.select(schema.names).cast(schema)
            except (ValueError, pa.ArrowInvalid, pa.ArrowNotImplementedError) as err:
                raise ValueError(
                    f"{self.path}: a block does not fit the columns of the first one, {schema} "
                    f"({err}); write JSONL instead"
                ) from None
        self.writer.write_table(table)

    def close(self) -> None:
        if (
            self.writer is None
        ):  # no documents: an empty table with the annotation columns
            types = [
                ("text", pa.string()),
                ("entities", ANNOTATIONS["entities"]),
                ("relations", ANNOTATIONS["relations"]),
            ]
            pq.write_table(pa.schema(types).empty_table(), str(self.path))
        else:
            self.writer.close()


def write_output(ds: "ray.data.Dataset", text_column: str, output_path: Path) -> int:
    """Write the blocks in order (``preserve_order``) as JSONL, or Parquet for a ``.parquet`` path."""
    output_path.parent.mkdir(parents=True, exist_ok=True)
    parquet = output_path.suffix == ".parquet"
    written = 0
    sink = (
        ParquetOutput(output_path)
        if parquet
        else output_path.open("w", encoding="utf8")
    )
    try:
        for batch in ds.iter_batches(batch_size=None, batch_format="pyarrow"):
            if parquet:
                sink.write(_output_table(batch, text_column, output_path))
            else:
                sink.write(
                    "".join(output_line(*row) for row in _rows(batch, text_column))
                )
                sink.flush()
            written += batch.num_rows
    finally:
        sink.close()
    return written


def extract_on_ray(
    model: PipelineSource,
    input_path: Path,
    output_path: Path,
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
    progress: Optional[IO[str]] = sys.stderr,
) -> int:
    """The ``extract --ray`` command: ``input_path`` → ``output_path`` on the Ray cluster at ``address`` (or a
    local Ray instance started here, or the one this process already joined); returns the documents written.

    Writes ``output_path`` from scratch (no resuming: Ray retries what a dead worker was doing)."""
    started = not ray.is_initialized()
    if started:
        ray.init(address=address, log_to_driver=progress is not None)
    try:
        ray.data.DataContext.get_current().execution_options.preserve_order = True
        start = time.perf_counter()
        ds, text_column = read_corpus(input_path, fmt, text_key, batch_size)
        ds = extract_dataset(
            ds,
            model,
            text_column=text_column,
            workers=workers,
            cpus_per_worker=cpus_per_worker,
            gpus_per_worker=gpus_per_worker,
            batch_size=batch_size,
            tags=tags,
            precision=precision,
        )
        try:
            written = write_output(ds, text_column, output_path)
        except Exception as err:  # a bad input line or model reaches the driver wrapped in Ray's errors
            raise _user_error(err) from err
        if progress is not None:
            rate = written / max(time.perf_counter() - start, 1e-9)
            progress.write(
                f"{written} documents ({rate:.1f} docs/s) with {workers} Ray workers\n"
            )
        return written
    finally:
        if started:
            ray.shutdown()


def _user_error(err: BaseException) -> BaseException:
    """The error that a read task or actor raised (a bad input line, a model that does not load), unwrapped
    from Ray's task errors and with the first line of its message only (Ray appends its retry report)."""
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
