"""How time and memory of ``nlp(doc)`` grow with the length of one document, for
transformer + stsn and for the transformer alone, so the STSN head's own growth is
visible (its stacked attention layers are block-local past ``attention_window`` tokens,
and it scores every span of up to ``max_span_width`` tokens).

Each (length, components) pair runs in its own subprocess, so the peak RSS is that run's
alone. The document cycles through the real sentences of a corpus (CoNLL04 test by
default) until it has the wanted number of tokens.

    # results/scaling.{json,md,png}
    python benchmarks/scaling.py training/conll04/model-best
"""

import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from harness import REPO, Benchmark, fmt, markdown_table, most_contention
from measure import (
    corpus_words,
    median,
    memory,
    n_wordpieces,
    reset_peak_rss,
    rss_mib,
    time_call,
)

MODES = {"transformer+stsn": None, "transformer": ["transformer"]}
DEFAULT_LENGTHS = (20, 100, 500, 2000, 10000)


def long_document(
    sentences: List[Tuple[List[str], List[bool]]], n_tokens: int
) -> Tuple[List[str], List[bool]]:
    """The first ``n_tokens`` tokens of the corpus's sentences read in order, cycling if
    needed, so the text has real sentence structure and entity density rather than one
    repeated word."""
    words: List[str] = []
    spaces: List[bool] = []
    while len(words) < n_tokens:
        for w, s in sentences:
            words.extend(w)
            spaces.extend(s[:-1] + [True])  # a space between sentences
            if len(words) >= n_tokens:
                break
    return words[:n_tokens], spaces[:n_tokens]


def n_candidate_spans(n_tokens: int, max_width: int) -> int:
    """Spans of width 1..max_width that the span decoder classifies: sum over w of (n -
    w + 1)."""
    return sum(max(0, n_tokens - w + 1) for w in range(1, max_width + 1))


def worker(job: Dict[str, Any]) -> Dict[str, Any]:
    """Time ``nlp(doc)`` on one long document (median of up to ``repeats`` runs) and
    record the peak RSS."""
    import spacy
    from spacy.tokens import Doc

    import spacy_stsn  # noqa: F401
    from spacy_stsn.ml.model import torch_module

    sentences = corpus_words(Path(job["corpus"]))
    words, spaces = long_document(sentences, job["length"])
    nlp = spacy.load(job["model"])
    nlp.max_length = max(nlp.max_length, 10 * sum(len(w) + 1 for w in words))
    stsn = nlp.get_pipe("stsn")
    max_width = stsn.model.attrs["max_span_width"]
    max_pair_entities = torch_module(stsn.model).max_pair_entities
    enable = MODES[job["mode"]]
    if enable:
        nlp.select_pipes(enable=enable)
    # warm-up on one short sentence
    nlp(Doc(nlp.vocab, words=sentences[0][0], spaces=sentences[0][1]))
    rss_loaded = rss_mib()
    reset_peak_rss()
    times: List[float] = []
    doc = None
    for _ in range(job["repeats"]):
        fresh = Doc(nlp.vocab, words=words, spaces=spaces)
        elapsed, doc = time_call(lambda fresh=fresh: nlp(fresh))
        times.append(elapsed)
        # long documents: fewer repeats rather than a run of hours
        if sum(times) > job["max_seconds"]:
            break
    result = {
        "length": job["length"],
        "mode": job["mode"],
        "times_s": times,
        "median_s": median(times),
        "n_wordpieces": n_wordpieces(doc),
        "n_candidate_spans": n_candidate_spans(len(doc), max_width),
        **memory(rss_loaded),
    }
    if not enable:
        n_entities = len(doc.spans["stsn"]) if "stsn" in doc.spans else 0
        paired = min(n_entities, max_pair_entities)
        result.update(
            n_entities=n_entities,
            n_pairs=paired * (paired - 1),
            n_relations=len(doc._.relations),
        )
    return result


def markdown(args: Any, runs: List[Dict[str, Any]]) -> str:
    by_key = {(r["job"]["length"], r["job"]["mode"]): r for r in runs}
    rows = []
    for length in args.lengths:
        full, trf = (
            by_key[(length, "transformer+stsn")],
            by_key[(length, "transformer")],
        )
        if "error" in full or "error" in trf:
            bad = full if "error" in full else trf
            rows.append([length, f"{bad['job']['mode']} failed: {bad['error']}"])
            continue
        head = full["median_s"] - trf["median_s"]
        rows.append(
            [
                f"{length:,}",
                f"{full['n_wordpieces']:,}",
                f"{full['n_candidate_spans']:,}",
                f"{full['n_entities']:,} / {full['n_pairs']:,}",
                fmt(trf["median_s"], 3),
                fmt(full["median_s"], 3),
                fmt(head, 3),
                fmt(trf["peak_rss_mib"], 0),
                fmt(full["peak_rss_mib"], 0),
                fmt(trf["peak_rss_mib"] - trf["rss_after_load_mib"], 0),
                fmt(full["peak_rss_mib"] - full["rss_after_load_mib"], 0),
                fmt(most_contention(trf, full), 2),
            ]
        )
    header = [
        "tokens",
        "word pieces",
        "candidate spans",
        "entities / pairs",
        "trf s",
        "trf+stsn s",
        "head s",
        "trf peak MiB",
        "trf+stsn peak MiB",
        "trf extra MiB",
        "trf+stsn extra MiB",
        "others' cores",
    ]
    note = (
        "One document per row; time is the median of the `nlp(doc)` runs (up to "
        f"{args.repeats}, fewer once they pass {args.max_seconds} s); peak = peak "
        "RSS during the runs (model included); extra = peak minus RSS after loading "
        "and a one-sentence warm-up; head s = trf+stsn s - trf s; others' cores = the "
        "most CPU other processes used during either run (near 0: a quiet machine)."
    )
    return note + "\n\n" + markdown_table(header, rows) + "\n"


def plot(
    runs: List[Dict[str, Any]], model: str, machine: Dict[str, Any], path: Path
) -> None:
    """Log-log time and extra memory against tokens, with slope-1 (linear) and slope-2
    reference lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = [r for r in runs if "error" not in r]
    series: Dict[str, Dict[str, List[float]]] = {}
    for mode in MODES:
        ok = sorted((r for r in runs if r["mode"] == mode), key=lambda r: r["length"])
        series[mode] = {
            "x": [r["length"] for r in ok],
            "time": [r["median_s"] for r in ok],
            "memory": [
                max(r["peak_rss_mib"] - r["rss_after_load_mib"], 0.1) for r in ok
            ],
        }
    full, trf = series["transformer+stsn"], series["transformer"]
    common = sorted(set(full["x"]) & set(trf["x"]))
    head_x = [
        x
        for x in common
        if full["time"][full["x"].index(x)] > trf["time"][trf["x"].index(x)]
    ]
    head_t = [
        full["time"][full["x"].index(x)] - trf["time"][trf["x"].index(x)]
        for x in head_x
    ]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    panels = (
        ("time", "seconds per nlp(doc)", axes[0]),
        ("memory", "peak RSS - RSS after load (MiB)", axes[1]),
    )
    for key, label, ax in panels:
        for mode, style in (("transformer+stsn", "o-"), ("transformer", "s-")):
            if series[mode]["x"]:
                ax.plot(series[mode]["x"], series[mode][key], style, label=mode)
        if key == "time" and head_x:
            ax.plot(head_x, head_t, "^--", label="stsn head (difference)")
        ref = full if full["x"] else trf
        if ref["x"]:
            # anchored at the longest document, where the asymptotic slope shows
            x0, y0 = ref["x"][-1], ref[key][-1]
            xs = [ref["x"][0], ref["x"][-1]]
            ax.plot(
                xs,
                [y0 * x / x0 for x in xs],
                ":",
                color="gray",
                label="slope 1 (linear)",
            )
            ax.plot(
                xs,
                [y0 * (x / x0) ** 2 for x in xs],
                "-.",
                color="lightgray",
                label="slope 2 (quadratic)",
            )
            ax.set_ylim(
                min(min(s[key]) for s in series.values() if s["x"]) / 2,
                max(max(s[key]) for s in series.values() if s["x"]) * 2,
            )
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("tokens in the document")
        ax.set_ylabel(label)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(
        f"{model} (commit {machine['git_commit']}"
        + (", uncommitted changes" if machine["git_dirty"] else "")
        + ")",
        fontsize=9,
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def smoke(args: Any, kit: Any) -> None:
    args.corpus = str(kit.test)
    args.lengths, args.repeats = [20, 60], 1


def main(argv: Optional[List[str]] = None) -> None:
    bench = Benchmark(__doc__, __file__, {"scaling": worker})
    add = bench.parser.add_argument
    bench.input("model", "model", "trained pipeline directory (transformer + stsn)")
    add(
        "--corpus",
        default=str(REPO / "corpus" / "conll04" / "test.spacy"),
        help="DocBin whose sentences are cycled to build the documents",
    )
    add("--lengths", type=int, nargs="+", default=list(DEFAULT_LENGTHS))
    add("--repeats", type=int, default=3, help="timed nlp(doc) calls per length")
    add(
        "--max-seconds",
        type=float,
        default=60.0,
        help="stop repeating a length once its timed calls add up to this",
    )
    args = bench.parse(argv, smoke)
    runs = []
    for length in args.lengths:
        for mode in MODES:
            job = bench.job(
                "scaling",
                model=args.model,
                corpus=args.corpus,
                length=length,
                mode=mode,
                repeats=args.repeats,
                max_seconds=args.max_seconds,
            )
            run = bench.run(job, f"{length} tokens, {mode}")
            runs.append(run)
            if "error" not in run:
                print(
                    f"  {length:>6} tokens  {mode:<17} {run['median_s']:.3f} s, "
                    f"peak {run['peak_rss_mib']:.0f} MiB",
                    file=sys.stderr,
                    flush=True,
                )
    result = {"runs": runs}
    bench.finish(
        result,
        markdown(args, runs),
        also=lambda out: plot(runs, args.model, bench.machine, out.with_suffix(".png")),
    )


if __name__ == "__main__":
    main()
