"""Peak memory and time of ``python -m spacy_stsn convert`` on large SpERT JSON files.

Each size is a JSON list of CoNLL04's training sentences repeated (each copy with its
own ``orig_id``) to at least N MiB, converted by the command line in its own process;
its peak resident set size is the kernel's ``ru_maxrss`` of that process (``os.wait4``),
so nothing the parent did counts. The printed ``documents`` are checked against the
number written; ``--smoke`` also reads the output back (a folder of parts there).

    python benchmarks/convert_memory.py --sizes 20 200  # results/convert_memory.*
    python benchmarks/convert_memory.py --smoke --output /tmp/convert_memory.json
"""

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from harness import Benchmark, data_dir, markdown_table

DATA = data_dir() / "conll04" / "conll04_train.json"
MIB = 1 << 20
# without the data (a checkout without shared/), --smoke repeats this sentence
FALLBACK = [
    {
        "tokens": ["John", "Smith", "lives", "in", "Rome", "."],
        "entities": [
            {"type": "Peop", "start": 0, "end": 2},
            {"type": "Loc", "start": 4, "end": 5},
        ],
        "relations": [{"type": "Live_In", "head": 0, "tail": 1}],
        "orig_id": 0,
    }
]


def write_input(records: List[Dict[str, Any]], path: Path, mib: float) -> int:
    """A JSON list of ``records`` repeated until the file holds ``mib`` MiB; returns its
    documents."""
    n = 0
    with path.open("w", encoding="utf8") as handle:
        handle.write("[\n")
        while handle.tell() < mib * MIB:
            record = records[n % len(records)]
            copy = dict(record, orig_id=f"{n // len(records)}-{record.get('orig_id')}")
            handle.write((",\n" if n else "") + json.dumps(copy))
            n += 1
        handle.write("\n]\n")
    return n


def measure(source: Path, output: Path, part_tokens: Optional[int]) -> Dict[str, Any]:
    """Run the command line on ``source`` in a fresh process: its peak RSS (MiB,
    ``os.wait4``), seconds and printed statistics."""
    command = [sys.executable, "-m", "spacy_stsn", "convert", str(source), str(output)]
    if part_tokens is not None:
        command += ["--part-tokens", str(part_tokens)]
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        process = subprocess.Popen(command, stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0), err.seek(0)
        stdout, stderr = out.read(), err.read()
    if process.returncode != 0:
        raise RuntimeError(f"convert failed ({process.returncode}): {stderr.strip()}")
    stats = json.loads(stdout.split(": ", 1)[1])
    return {
        "peak_rss_mib": usage.ru_maxrss / 1024,  # KiB on Linux
        "seconds": seconds,
        "stats": stats,
    }


def read_back(output: Path) -> int:
    """Documents of the output as ``spacy train`` finds them (spaCy's walk_corpus), read
    in this process."""
    from spacy.vocab import Vocab

    from spacy_stsn.formats.docbin import read_docbin

    return sum(1 for _ in read_docbin(output, Vocab()))


def run(
    bench: Benchmark, sizes: Sequence[float], part_tokens: Optional[int], check: bool
) -> List[Dict[str, Any]]:
    """One row per input size; a size that fails is recorded as the bench's failure."""
    records = json.loads(DATA.read_text(encoding="utf8")) if DATA.exists() else FALLBACK
    rows = []
    with tempfile.TemporaryDirectory(prefix="convert_memory_") as tmp:
        for mib in sizes:
            source, output = Path(tmp) / "input.json", Path(tmp) / "output.spacy"
            documents = write_input(records, source, mib)
            try:
                result = measure(source, output, part_tokens)
            except RuntimeError as err:
                bench.fail(f"{mib} MiB", str(err))
                continue
            stats = result.pop("stats")
            if stats["documents"] != documents:
                converted = stats["documents"]
                bench.fail(
                    f"{mib} MiB", f"{documents} documents, {converted} converted"
                )
            if check and read_back(output) != documents:
                bench.fail(
                    f"{mib} MiB", f"{output} does not read back {documents} docs"
                )
            rows.append(
                {
                    "input_mib": round(source.stat().st_size / MIB, 1),
                    "documents": documents,
                    "tokens": stats["tokens"],
                    "spacy_files": stats.get("spacy_files", 1),
                    **result,
                }
            )
            source.unlink()
    return rows


def main(argv: Optional[List[str]] = None) -> None:
    bench = Benchmark(__doc__, __file__)
    add = bench.parser.add_argument
    add("--sizes", type=float, nargs="+", default=[20, 200], help="input sizes in MiB")
    add("--part-tokens", type=int, help="convert's --part-tokens (default: its own)")
    args = bench.parse(argv)
    sizes, part_tokens = args.sizes, args.part_tokens
    if args.smoke:  # a 0.2 MiB input in parts of 2,000 tokens, read back (seconds)
        sizes, part_tokens = [0.2], 2_000
    rows = run(bench, sizes, part_tokens, check=args.smoke)
    header = ["input MiB", "documents", "tokens", ".spacy files", "peak RSS MiB", "s"]
    table = markdown_table(
        header,
        [
            [
                row["input_mib"],
                f"{row['documents']:,}",
                f"{row['tokens']:,}",
                row["spacy_files"],
                f"{row['peak_rss_mib']:,.0f}",
                f"{row['seconds']:.1f}",
            ]
            for row in rows
        ],
    )
    command = "python -m spacy_stsn convert INPUT OUTPUT"
    if part_tokens:
        command += f" --part-tokens {part_tokens}"
    source = str(DATA) if DATA.exists() else "built-in sentence"
    bench.finish({"command": command, "input": source, "rows": rows}, table)


if __name__ == "__main__":
    main()
