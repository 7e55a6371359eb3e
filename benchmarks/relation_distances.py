"""How far apart are the arguments of annotated relations, in tokens? The measurement
behind the stsn component's ``window_size`` and ``window_overlap`` defaults.

For every relation of the SpERT JSON files, its *extent* (first argument's start to last
argument's end, the tokens a window must hold for the pair to be a candidate); for every
sentence, its length (a sentence-level document must fit one window for the paper's
setting to stay as it was); and, with the sentences of a file joined into one text
without sentence boundaries, the share of relations whose arguments share a token window
of ``size`` tokens overlapping by ``overlap`` (the windows of
``spacy_stsn.pipeline.windows.token_windows``), with the work that costs (tokens per
token: size / (size - overlap)).

    # results/relation_distances.{json,md}
    python benchmarks/relation_distances.py
"""

import json
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy
from harness import Benchmark, fmt, markdown_table
from measure import data_dir

from spacy_stsn.pipeline.windows import spans_in_windows, token_windows

DATASETS = {
    "conll04": ["conll04_train.json", "conll04_dev.json", "conll04_test.json"],
    "ade": ["ade_full.json"],
}
PERCENTILES = (50, 90, 95, 99, 99.9, 100)
WINDOWS = ((64, 32), (128, 16), (128, 32), (128, 64), (256, 32), (256, 64))
MAX_SPAN_WIDTH = 10


def load(folder: Path, names: Sequence[str], limit: Optional[int]) -> List[Dict]:
    records = [r for name in names for r in json.loads((folder / name).read_text())]
    return records[:limit] if limit else records


def extents(records: Sequence[Dict]) -> Tuple[numpy.ndarray, numpy.ndarray]:
    """Each relation's [first start, last end) in the joined text (records one after
    the other), and each sentence's length."""
    spans, offset = [], 0
    for record in records:
        entities = record["entities"]
        for rel in record["relations"]:
            head, tail = entities[rel["head"]], entities[rel["tail"]]
            start = min(head["start"], tail["start"])
            spans.append((offset + start, offset + max(head["end"], tail["end"])))
        offset += len(record["tokens"])
    lengths = numpy.asarray([len(r["tokens"]) for r in records])
    return numpy.asarray(spans, dtype="int64").reshape(-1, 2), lengths


def covered(spans: numpy.ndarray, n_tokens: int, size: int, overlap: int) -> float:
    """Share of the relation ``spans`` that lie inside one token window of the joined
    text."""
    windows = token_windows(0, n_tokens, size, overlap, MAX_SPAN_WIDTH)
    inside = numpy.unique(spans_in_windows(windows, spans)[:, 1])
    return len(inside) / max(len(spans), 1)


def measure(name: str, records: Sequence[Dict]) -> Dict[str, Any]:
    spans, lengths = extents(records)
    extent = spans[:, 1] - spans[:, 0]
    return {
        "dataset": name,
        "sentences": len(records),
        "relations": len(spans),
        "sentence_length": {
            str(p): float(numpy.percentile(lengths, p)) for p in PERCENTILES
        },
        "extent": {str(p): float(numpy.percentile(extent, p)) for p in PERCENTILES},
        "always_in_a_window": {
            str(o): float((extent <= o + 1).mean())
            for o in sorted({o for _, o in WINDOWS})
        },
        "joined_covered": {
            f"{s}/{o}": covered(spans, int(lengths.sum()), s, o) for s, o in WINDOWS
        },
    }


def markdown(results: List[Dict[str, Any]]) -> str:
    header = ["dataset", "sentences", "relations", "what"] + [
        f"p{p}" for p in PERCENTILES
    ]
    rows = []
    for r in results:
        for what in ("sentence_length", "extent"):
            rows.append(
                [r["dataset"], r["sentences"], r["relations"], what]
                + [fmt(r[what][str(p)], 1) for p in PERCENTILES]
            )
    table = markdown_table(header, rows)
    cover_header = ["dataset"] + [
        f"extent <= {o} + 1" for o in results[0]["always_in_a_window"]
    ]
    cover_rows = [
        [r["dataset"]] + [f"{100 * v:.2f} %" for v in r["always_in_a_window"].values()]
        for r in results
    ]
    joined_header = ["dataset"] + [f"{s}/{o} (x{s / (s - o):.2f})" for s, o in WINDOWS]
    joined_rows = [
        [r["dataset"]] + [f"{100 * v:.2f} %" for v in r["joined_covered"].values()]
        for r in results
    ]
    return (
        "Extent = tokens from the first argument's start to the last one's end.\n\n"
        + table
        + "\n\nRelations whose arguments share a window whatever the windows' positions "
        "(extent at most overlap + 1):\n\n"
        + markdown_table(cover_header, cover_rows)
        + "\n\nSentences joined without boundaries, token windows size/overlap (x: "
        "tokens the head processes per token of text): relations inside a window:\n\n"
        + markdown_table(joined_header, joined_rows)
        + "\n"
    )


def smoke(args: Any, kit: Any) -> None:
    args.limit = 50


def main(argv: Optional[List[str]] = None) -> None:
    bench = Benchmark(__doc__, __file__)
    bench.parser.add_argument(
        "--data", type=Path, default=None, help="SpERT data folder (default: shared)"
    )
    bench.parser.add_argument(
        "--limit", type=int, default=0, help="first N sentences per dataset (0: all)"
    )
    args = bench.parse(argv, smoke)
    folder = args.data or data_dir()
    results = [
        measure(name, load(folder / name, files, args.limit))
        for name, files in DATASETS.items()
    ]
    bench.finish({"datasets": results}, markdown(results))


if __name__ == "__main__":
    main()
