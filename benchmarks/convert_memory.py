"""Peak memory and time of ``python -m spacy_stsn convert`` on large SpERT JSON files.

Each size is a JSON list of CoNLL04's training sentences repeated (each copy with its own ``orig_id``) to at
least N MiB, converted by the command line in its own process; its peak resident set size is the kernel's
``ru_maxrss`` of that process (``os.wait4``), so nothing the parent did counts. The printed ``documents``
are checked against the number written; ``--smoke`` also reads the output back (a folder of parts there).

    python benchmarks/convert_memory.py --sizes 20 200 --output benchmarks/results/convert_memory.json
    python benchmarks/convert_memory.py --smoke --output /tmp/convert_memory.json
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_common import machine_info, markdown_table, write_json  # noqa: E402

DATA = (
    Path(
        os.environ.get(
            "STSN_DATA_DIR", Path(__file__).resolve().parents[2] / "shared" / "data"
        )
    )
    / "conll04"
    / "conll04_train.json"
)
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
    """A JSON list of ``records`` repeated until the file holds ``mib`` MiB; returns its documents."""
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
    """Run the command line on ``source`` in a fresh process: its peak RSS (MiB, ``os.wait4``), seconds and
    printed statistics."""
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
    """Documents of the output as ``spacy train`` finds them (spaCy's walk_corpus), read in this process."""
    from spacy.vocab import Vocab

    from spacy_stsn.convert import read_docbin

    return sum(1 for _ in read_docbin(output, Vocab()))


def run(
    sizes: Sequence[float], part_tokens: Optional[int], check: bool
) -> List[Dict[str, Any]]:
    records = json.loads(DATA.read_text(encoding="utf8")) if DATA.exists() else FALLBACK
    rows = []
    with tempfile.TemporaryDirectory(prefix="convert_memory_") as tmp:
        for mib in sizes:
            source, output = Path(tmp) / "input.json", Path(tmp) / "output.spacy"
            documents = write_input(records, source, mib)
            result = measure(source, output, part_tokens)
            stats = result.pop("stats")
            if stats["documents"] != documents:
                raise RuntimeError(
                    f"{documents} documents written, {stats['documents']} converted"
                )
            if check and read_back(output) != documents:
                raise RuntimeError(f"{output} does not read back {documents} documents")
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


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes", type=float, nargs="+", default=[20, 200], help="input sizes in MiB"
    )
    parser.add_argument(
        "--part-tokens",
        type=int,
        default=None,
        help="convert's --part-tokens (default: its own)",
    )
    parser.add_argument("--output", type=Path, default=None, help="JSON results")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="a 0.2 MiB input in parts of 2,000 tokens, read back (seconds)",
    )
    args = parser.parse_args(argv)
    sizes, part_tokens = (
        ([0.2], 2_000) if args.smoke else (args.sizes, args.part_tokens)
    )
    rows = run(sizes, part_tokens, check=args.smoke)
    print(
        markdown_table(
            [
                "input MiB",
                "documents",
                "tokens",
                ".spacy files",
                "peak RSS MiB",
                "seconds",
            ],
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
    )
    if args.output is not None:
        write_json(
            args.output,
            {
                "command": "python -m spacy_stsn convert INPUT OUTPUT"
                + (f" --part-tokens {part_tokens}" if part_tokens else ""),
                "input": str(DATA) if DATA.exists() else "built-in sentence",
                "smoke": args.smoke,
                "rows": rows,
                "machine": machine_info(),
            },
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
