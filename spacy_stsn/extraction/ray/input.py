"""The input side of ``extract --ray``: text, JSONL and Parquet files cut into blocks of
a fixed number of documents, one Ray read task per block.

A block is the unit of the whole job: one read task reads it, one actor call annotates
it, one write (a shard, or a part of the ordered file) holds it, one retry redoes it.
Its bounds come from the input alone: every ``block_rows`` lines of a text or JSONL file
(their byte offsets found by a scan task per file, which looks at nothing but newlines),
every ``block_rows`` rows of a Parquet file (from its footer). So a rerun cuts the same
blocks and can skip those already written, and the spaCy batches inside a block are the
local command's.

Each row of a block carries its input file, line and block name, and the problem of a
line that is no document (a malformed JSON line, invalid UTF-8): such a row has no text,
and the output decides what to do with it (``--on-error``).
"""

import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence, Set, Tuple

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import ray
import ray.data
from ray.data.block import BlockMetadata
from ray.data.datasource import Datasource, ReadTask

from ..inputs import input_format, number_lines
from .storage import InputFile

# Text and JSONL lines carry their passthrough fields as one JSON object in this column:
# JSON values need not share a type from line to line, Arrow columns must.
FIELDS = "_fields"
# Where a row comes from: the input file as named to the user, its line (its row for
# Parquet), its block, and the problem of a row that is no document.
FILE, LINE, BLOCK, ERROR = "_stsn_file", "_stsn_line", "_stsn_block", "_stsn_error"
INTERNAL = (FIELDS, FILE, LINE, BLOCK, ERROR)
# The field of each record of sharded output that names its source; an input field of
# that name is refused.
ORIGIN = "_origin"
# Scanning and reading is light next to the model: these tasks ask for no CPU, so that
# actors holding every CPU of the cluster (--workers = CPUs) do not starve the tasks
# that feed them (Ray Data would wait forever).
TASK_CPUS = 0
SCAN_CHUNK = 16 << 20
NAME = re.compile(r"^(?P<file>.+)\.(?P<index>\d{6,})(?P<last>\.last)?$")


@dataclass(frozen=True)
class Block:
    """Lines (or Parquet rows) ``first``.. of ``file``, stored in ``[start, end)``
    (bytes, or rows)."""

    file: InputFile
    index: int
    start: int
    end: int
    first: int
    last: bool

    @property
    def name(self) -> str:
        """The block's name, from its input file and index (``.last``: the file's last
        block)."""
        return f"{self.file.relative}.{self.index:06d}{'.last' if self.last else ''}"


@dataclass
class Progress:
    """The blocks already written, per input file (relative path), and the files whose
    every block is."""

    blocks: Dict[str, Set[int]] = field(default_factory=dict)
    files_done: Set[str] = field(default_factory=set)

    @classmethod
    def of(cls, names: Iterable[str]) -> "Progress":
        """From the names of the written blocks: a file is done when its last block and
        all before it are."""
        blocks: Dict[str, Set[int]] = {}
        last: Dict[str, int] = {}
        for name in names:
            match = NAME.match(name)
            blocks.setdefault(match["file"], set()).add(int(match["index"]))
            if match["last"]:
                last[match["file"]] = int(match["index"])
        done = {f for f, n in last.items() if blocks[f] >= set(range(n + 1))}
        return cls(blocks, done)

    def done(self, block: Block) -> bool:
        return block.index in self.blocks.get(block.file.relative, ())


def plan_blocks(
    files: List[InputFile], rows: int, done: Progress, tasks: int = 1
) -> List[Block]:
    """The blocks of ``rows`` documents of the files that are not done, in input order,
    less those done. The bounds are found on the cluster by at most ``tasks`` tasks at
    once, each scanning a share of the files (the driver reads no input)."""
    todo = [f for f in files if f.relative not in done.files_done]
    scan = ray.remote(num_cpus=TASK_CPUS)(_scan)
    shares = [todo[i :: max(1, tasks)] for i in range(min(len(todo), max(1, tasks)))]
    found: Dict[str, List[Tuple[int, int]]] = {}
    for share, bounds in zip(shares, ray.get([scan.remote(s, rows) for s in shares])):
        found.update(zip((f.relative for f in share), bounds))
    blocks = [
        Block(f, i, start, end, i * rows + 1, i == len(found[f.relative]) - 1)
        for f in todo
        for i, (start, end) in enumerate(found[f.relative])
    ]
    return [b for b in blocks if not done.done(b)]


def _scan(files: List[InputFile], rows: int) -> List[List[Tuple[int, int]]]:
    return [_bounds(f, rows) for f in files]


def _bounds(file: InputFile, rows: int) -> List[Tuple[int, int]]:
    """[start, end) of each block of ``rows`` documents: rows of a Parquet file, else
    the byte offsets of every ``rows``-th line (lines end at b"\\n", as in the local
    command)."""
    location = file.location
    if file.relative.endswith(".parquet"):
        with location.fs.open_input_file(location.path) as f:
            n = pq.ParquetFile(f).metadata.num_rows
        return [(s, min(s + rows, n)) for s in range(0, n, rows)]
    starts, newlines, size = [0], 0, 0
    with location.fs.open_input_stream(location.path) as f:
        while True:
            chunk = f.read(SCAN_CHUNK)
            if not chunk:
                break
            at = np.flatnonzero(np.frombuffer(chunk, np.uint8) == 10)
            number = newlines + 1 + np.arange(len(at))  # the newlines' numbers
            starts += (size + at[number % rows == 0] + 1).tolist()
            newlines, size = newlines + len(at), size + len(chunk)
    # an empty file, or one that ends with a block's last newline
    if starts[-1] == size:
        starts.pop()
    return list(zip(starts, starts[1:] + [size]))


@dataclass(frozen=True)
class Options:
    """How a read task parses its block (what it pickles, beside the block)."""

    fmt: str
    text_key: str
    on_error: str
    reserved: Tuple[str, ...]
    max_length: Optional[int]


class BlockDatasource(Datasource):
    """One read task per block; each returns one table (``target_max_block_size=None``
    keeps Ray Data from merging or splitting it), in the order of ``blocks``."""

    def __init__(self, blocks: List[Block], options: Options) -> None:
        super().__init__()
        self.blocks, self.options = blocks, options

    def estimate_inmemory_data_size(self) -> Optional[int]:
        return sum(b.end - b.start for b in self.blocks)

    def get_read_tasks(
        self, parallelism: int, *args: Any, **kwargs: Any
    ) -> List[ReadTask]:
        tasks = []
        for block in self.blocks:
            metadata = BlockMetadata(
                num_rows=None,
                size_bytes=block.end - block.start,
                exec_stats=None,
                input_files=[block.file.location.uri],
            )
            tasks.append(ReadTask(_reader(self.options, block), metadata))
        return tasks


def _reader(options: Options, block: Block) -> Any:
    def read() -> Iterable[pa.Table]:
        if block.file.relative.endswith(".parquet"):
            yield _read_parquet(block, options.text_key, options.reserved)
        else:
            yield _read_lines(block, options)

    return read


def _read_lines(block: Block, options: Options) -> pa.Table:
    """The block's lines parsed by the local command's parser
    (:func:`spacy_stsn.extraction.extract.number_lines`); a malformed line becomes a
    row with its error (and ends the block with ``on_error="stop"``: nothing after it
    will be written)."""
    location = block.file.location
    with location.fs.open_input_file(location.path) as f:
        data = f.read_at(block.end - block.start, block.start)
    # lines end at b"\n" (and keep it), as the local command reads them
    numbered = number_lines(
        io.BytesIO(data),
        location.uri,
        input_format(Path(block.file.relative), options.fmt),
        options.text_key,
        first=block.first,
        max_length=options.max_length,
        reserved=options.reserved,
    )
    texts: List[Optional[str]] = []
    fields: List[Optional[str]] = []
    errors: List[Optional[str]] = []
    for _, parsed in numbered:
        bad = isinstance(parsed, ValueError)
        texts.append(None if bad else parsed[0])
        fields.append(None if bad else json.dumps(parsed[1], ensure_ascii=False))
        errors.append(str(parsed) if bad else None)
        if bad and options.on_error == "stop":
            break
    table = pa.table(
        {"text": pa.array(texts, pa.string()), FIELDS: pa.array(fields, pa.string())}
    )
    return _with_source(table, block, errors)


def _read_parquet(block: Block, text_key: str, reserved: Sequence[str]) -> pa.Table:
    """The block's rows of a Parquet file, all columns; the text column must hold
    strings."""
    location = block.file.location
    name = location.uri
    with location.fs.open_input_file(location.path) as f:
        parquet = pq.ParquetFile(f)
        schema = parquet.schema_arrow
        column = schema.field(text_key) if text_key in schema.names else None
        if column is None or not (
            pa.types.is_string(column.type) or pa.types.is_large_string(column.type)
        ):
            raise ValueError(
                f"{name}: expected a string column {text_key!r}, found {schema.names}"
            )
        taken = [n for n in schema.names if n in INTERNAL or n in reserved]
        if taken:
            raise ValueError(
                f"{name}: the column {taken[0]!r} would be overwritten by the output's "
                f"(the fields {', '.join(reserved)}); rename it"
            )
        metadata = parquet.metadata
        groups, offset, first = [], 0, None
        for g in range(metadata.num_row_groups):
            n = metadata.row_group(g).num_rows
            if offset < block.end and offset + n > block.start:
                groups.append(g)
                first = offset if first is None else first
            offset += n
        table = parquet.read_row_groups(groups)
    table = table.slice(block.start - first, block.end - block.start)
    return _with_source(table, block, [None] * table.num_rows)


def _with_source(
    table: pa.Table, block: Block, errors: List[Optional[str]]
) -> pa.Table:
    n = table.num_rows
    return (
        table.append_column(FILE, pa.array([block.file.location.uri] * n, pa.string()))
        .append_column(LINE, pa.array(range(block.first, block.first + n), pa.int64()))
        .append_column(BLOCK, pa.array([block.name] * n, pa.string()))
        .append_column(ERROR, pa.array(errors, pa.string()))
    )


def read_blocks(
    blocks: List[Block],
    fmt: str,
    text_key: str,
    on_error: str,
    reserved: Sequence[str],
    max_length: Optional[int] = None,
    tasks: int = 1,
) -> "ray.data.Dataset":
    """A Dataset of ``blocks``, one Ray block each, in their order, read by at most
    ``tasks`` tasks at once (tasks that ask for no CPU have no other bound: each would
    start a Python worker). Input fields named in ``reserved`` (the output's) and texts
    longer than ``max_length`` are errors of their line."""
    options = Options(fmt, text_key, on_error, tuple(reserved), max_length)
    source = BlockDatasource(blocks, options)
    return ray.data.read_datasource(
        source,
        num_cpus=TASK_CPUS,
        override_num_blocks=len(blocks),
        concurrency=tasks,
    )
