r"""Training speed of a trained pipeline by precision: seconds per step of spaCy's own
loop step (``nlp.update(sgd=False)``, every component's ``finish_update``,
``step_schedules``) with the pipeline's own optimizer and dropout (its ``[training]``),
on batches of ``--batch`` training documents, extrapolated to one epoch, with peak
memory.

The precisions (``spacy_stsn.ml.precision``: float32, bfloat16, auto) run back to back,
one worker process each; weights and optimizer state stay float32 in every one of them.
``--release-every N [N ...]`` also varies how often a reduced-precision CPU step hands
freed memory back (:mod:`spacy_stsn.ml.runtime`; 0 = never), reporting the resident
memory at the end, which grows step by step without it.

``--profile`` instead takes the steps in one process, the precisions in turn from one
step to the next, and splits each step into the encoder's forward and backward passes,
the head's, the optimizer phase and what is left (spaCy, targets, losses, conversions),
with each part's FLOPs counted from the shapes (hence its arithmetic rate) and the top
torch operators of one step per precision.

    python benchmarks/speed_training.py MODEL corpus/conll04/train.spacy \
        --torch-threads 1
    python benchmarks/speed_training.py MODEL corpus/conll04/train.spacy \
        --torch-threads 1 --profile --steps 20
"""

import math
import random
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

from harness import CONTENTION_NOTE, Benchmark, fmt, markdown_table, synchronizer
from measure import median, memory, reset_peak_rss, rss_mib, time_call
from profiling import ShimSplit, operators_table, top_operators

from spacy_stsn.ml.precision import PRECISIONS


def training_batches(nlp: Any, job: Dict[str, Any]) -> Tuple[List[List[Any]], int]:
    """``warmup + steps`` batches of ``batch`` training examples (shuffled with seed 0,
    cycled if needed), and the number of training documents."""
    from spacy.training import Corpus

    examples = list(Corpus(job["corpus"], gold_preproc=True)(nlp))
    n_train = len(examples)
    random.Random(0).shuffle(examples)
    size = job["batch"]
    needed = (job["warmup"] + job["steps"]) * size
    pool = (examples * math.ceil(needed / n_train))[:needed]
    return [pool[i : i + size] for i in range(0, needed, size)], n_train


def train_step(
    nlp: Any,
    optimizer: Any,
    batch: List[Any],
    dropout: float,
    sync: Callable[[], None],
    losses: Optional[Dict[str, float]] = None,
) -> float:
    """One step as spaCy's loop takes it
    (``spacy.training.loop.train_while_improving``): forward and backward, then the
    optimizer phase; returns the optimizer phase's seconds."""
    nlp.update(batch, drop=dropout, sgd=False, losses={} if losses is None else losses)
    sync()
    elapsed, _ = time_call(lambda: [optimizer_phase(nlp, optimizer), sync()])
    return elapsed


def optimizer_phase(nlp: Any, optimizer: Any) -> None:
    for _, proc in nlp.pipeline:
        if getattr(proc, "is_trainable", False) and proc.model not in (
            True,
            False,
            None,
        ):
            proc.finish_update(optimizer)
    optimizer.step_schedules()


def training_worker(job: Dict[str, Any]) -> Dict[str, Any]:
    """Time ``steps`` training steps after ``warmup`` steps at ``precision``."""
    import spacy
    from spacy.util import registry

    from spacy_stsn.ml import runtime as heap
    from spacy_stsn.ml.precision import overrides

    sync = synchronizer(job)
    if job.get("release_every") is not None:
        heap.EVERY = job["release_every"]
    nlp = spacy.load(job["model"], config=overrides(job["precision"]))
    rss_loaded = rss_mib()
    training = nlp.config["training"]
    optimizer = registry.resolve({"optimizer": training["optimizer"]})["optimizer"]
    dropout = float(training.get("dropout", 0.1))
    batches, n_train = training_batches(nlp, job)
    reset_peak_rss()  # after loading, before the first update: optimizer state counts
    times: List[float] = []
    losses: Dict[str, float] = {}
    for i, batch in enumerate(batches):
        elapsed, _ = time_call(
            lambda batch=batch: train_step(nlp, optimizer, batch, dropout, sync, losses)
        )
        if i >= job["warmup"]:
            times.append(elapsed)
    mean = sum(times) / len(times)
    steps_per_epoch = math.ceil(n_train / job["batch"])
    return {
        "precision": job["precision"],
        "release_every": job.get("release_every"),
        "rss_end_mib": rss_mib(),
        "batch": job["batch"],
        "warmup_steps": job["warmup"],
        "step_times_s": times,
        "mean_step_s": mean,
        "median_step_s": median(times),
        "n_train_docs": n_train,
        "steps_per_epoch": steps_per_epoch,
        "epoch_s_estimate": mean * steps_per_epoch,
        "docs_per_s": job["batch"] / mean,
        "mean_loss": sum(losses.values()) / len(batches),
        "dropout": dropout,
        "optimizer": {
            k: v for k, v in training["optimizer"].items() if not isinstance(v, dict)
        },
        **memory(rss_loaded),
    }


PARTS = {"transformer": "encoder", "stsn": "head"}
SPLIT = ["encoder forward", "encoder backward", "head forward", "head backward"]


def profile_worker(job: Dict[str, Any]) -> Dict[str, Any]:
    """Steps at every precision of the job in turn, split into parts (:class:`ShimSplit`
    plus the optimizer phase), one step's FLOPs per part, one step's top operators per
    precision."""
    import spacy
    from spacy.util import registry

    from spacy_stsn.ml.precision import set_model_precision

    sync = synchronizer(job)
    nlp = spacy.load(job["model"])
    training = nlp.config["training"]
    optimizer = registry.resolve({"optimizer": training["optimizer"]})["optimizer"]
    dropout = float(training.get("dropout", 0.1))
    precisions = job["precisions"]
    n, timed = len(precisions), (job["warmup"] + job["steps"]) * len(precisions)
    # the timed steps, then one counted step and one profiled step per precision
    batches, _ = training_batches(nlp, {**job, "warmup": 0, "steps": timed + 2 * n})
    split = ShimSplit(nlp, PARTS)

    def step(i: int) -> Dict[str, float]:
        for _, proc in nlp.pipeline:
            set_model_precision(proc.model, precisions[i % n])
        total, opt = time_call(
            lambda: train_step(nlp, optimizer, batches[i], dropout, sync)
        )
        return {**split.take(), "optimizer": opt, "total": total}

    times: Dict[str, List[Dict[str, float]]] = {p: [] for p in precisions}
    for i in range(timed):
        parts = step(i)
        if i >= job["warmup"] * n:
            times[precisions[i % n]].append(parts)
    split.counting = True
    # the first precision's turn (FLOPs do not depend on it)
    flops = {k: v for k, v in step(timed).items() if k in SPLIT}
    split.counting = False
    operators = {
        precisions[i % n]: top_operators(lambda i=i: step(i), job["top"])
        for i in range(timed + n, timed + 2 * n)
    }
    keys = SPLIT + ["optimizer", "total"]
    return {
        "batch": job["batch"],
        "precisions": precisions,
        "median_s": {
            p: {k: median([t.get(k, 0.0) for t in ts]) for k in keys}
            for p, ts in times.items()
        },
        "flops": flops,
        "operators": operators,
    }


def profile_markdown(args: Any, result: Dict[str, Any]) -> str:
    """One row per part, a column pair (s/step, GFLOP/s) per precision."""
    med = result["median_s"]
    precisions = result["precisions"]
    rows = []
    for key in SPLIT + ["optimizer", "rest (spaCy, targets, losses)", "total"]:
        row = [key]
        for p in precisions:
            t = med[p].get(key)
            if t is None:  # the rest: the step minus its measured parts
                t = med[p]["total"] - sum(med[p][k] for k in SPLIT + ["optimizer"])
            rate = result["flops"].get(key, 0.0) / t / 1e9 if t > 0 else None
            row += [fmt(t, 3), fmt(rate, 2) if key in SPLIT else ""]
        if len(precisions) > 1:
            a, b = med[precisions[0]], med[precisions[1]]
            row.append(fmt(a.get(key, 0) / b[key], 2) if key in b and b[key] else "")
        rows.append(row)
    header = ["part"]
    for p in precisions:
        header += [f"{p} s/step", f"{p} GFLOP/s"]
    if len(precisions) > 1:
        header.append(f"{precisions[1]} speed-up")
    parts = [
        f"One training step split into parts (batches of {result['batch']}, the "
        f"precisions in turn from step to step in one process, median of "
        f"{args.steps} steps each after {args.warmup} warm-up steps, "
        f"{result.get('device')}, {result.get('torch_threads')} torch threads; "
        "GFLOP/s: the part's FLOPs counted from the shapes over its time):",
        "",
        markdown_table(header, rows),
    ]
    for p, ops in result["operators"].items():
        parts += ["", f"Top operators of one step, {p}:", "", operators_table(ops)]
    return "\n".join(parts)


def markdown(args: Any, runs: List[Dict[str, Any]]) -> str:
    base = next(
        (r for r in runs if r.get("precision") == "float32" and "error" not in r), None
    )
    rows = []
    for run in runs:
        if "error" in run:
            rows.append([run["job"]["precision"], "failed: " + run["error"]])
            continue
        speedup = base["median_step_s"] / run["median_step_s"] if base else None
        rows.append(
            [
                run["precision"],
                "default" if run["release_every"] is None else run["release_every"],
                fmt(run["mean_step_s"], 3),
                fmt(run["median_step_s"], 3),
                fmt(speedup, 2),
                fmt(run["docs_per_s"]),
                fmt(run["epoch_s_estimate"], 0),
                fmt(run["mean_loss"], 2),
                fmt(run["rss_after_load_mib"], 0),
                fmt(run["peak_rss_mib"], 0),
                fmt(run["rss_end_mib"], 0),
                fmt(run.get("other_busy_cores"), 2),
            ]
        )
    first = next((r for r in runs if "error" not in r), {})
    header = [
        "precision",
        "release every",
        "mean s/step",
        "median s/step",
        "x float32 (median)",
        "docs/s",
        "est. s/epoch",
        "mean loss",
        "RSS after load MiB",
        "peak RSS MiB",
        "RSS at the end MiB",
        "others' cores",
    ]
    return "\n".join(
        [
            f"Training on `{args.train_corpus}` ({first.get('n_train_docs')} docs), "
            f"batches of {args.batch}, dropout {first.get('dropout')}, the pipeline's "
            f"optimizer, {args.steps} steps timed after {args.warmup} warm-up steps, "
            f"{first.get('device')}, {first.get('torch_threads')} torch threads:",
            "",
            markdown_table(header, rows),
            "",
            CONTENTION_NOTE,
        ]
    )


def smoke(args: Any, kit: Any) -> None:
    args.steps, args.warmup, args.torch_threads = 2, 1, 1
    args.release_every = [None, 1]
    args.also_profile = True


def main(argv: Optional[List[str]] = None) -> None:
    workers = {"training": training_worker, "profile": profile_worker}
    bench = Benchmark(__doc__, __file__, workers, device=True)
    add = bench.parser.add_argument
    bench.input("model", "model", "trained pipeline directory")
    bench.input("train_corpus", "train", ".spacy training corpus")
    add("--precisions", nargs="+", choices=PRECISIONS, default=["float32", "bfloat16"])
    add("--steps", type=int, default=50, help="timed steps")
    add("--warmup", type=int, default=5, help="untimed steps first")
    add("--batch", type=int, default=4, help="docs per step (the configs' batcher)")
    add(
        "--release-every",
        type=int,
        nargs="+",
        default=[None],
        help="backward passes between returns of freed memory (spacy_stsn.ml.runtime; 0: "
        "never); default: the package's",
    )
    add("--profile", action="store_true", help="split steps into parts (one process)")
    add("--top", type=int, default=15, help="--profile: rows of the operator tables")
    args = bench.parse(argv, smoke)
    if args.profile or getattr(args, "also_profile", False):
        job = bench.job(
            "profile",
            model=args.model,
            corpus=str(Path(args.train_corpus)),
            precisions=args.precisions,
            steps=args.steps,
            warmup=args.warmup,
            batch=args.batch,
            top=args.top,
        )
        result = bench.run(job, "training profile")
        text = "failed" if "error" in result else profile_markdown(args, result)
        if args.profile:
            bench.finish({"profile": result}, text, stem="training_profile")
            return
        print(text)
    runs = []
    for precision in args.precisions:
        for every in args.release_every:
            job = bench.job(
                "training",
                model=args.model,
                corpus=str(Path(args.train_corpus)),
                precision=precision,
                steps=args.steps,
                warmup=args.warmup,
                batch=args.batch,
                release_every=every,
            )
            runs.append(bench.run(job, f"training {precision}, release every {every}"))
    bench.finish({"training": runs}, markdown(args, runs))


if __name__ == "__main__":
    main()
