"""Inference and training speed of a trained ``["transformer", "stsn"]`` pipeline, with peak memory.

Inference: sentences/s and word pieces/s through ``nlp.pipe`` for the transformer alone and for
transformer + stsn; the difference is the STSN head's share of the pipeline time, and the stsn component's
own time is also clocked inside the transformer + stsn passes (a share that drift between the two runs cannot
distort). Training: seconds per
update step of ``nlp.update`` with the pipeline's own optimizer (its ``[training.optimizer]``), extrapolated to
one epoch of the training corpus. Each of the three measurements runs in its own subprocess, so its peak RSS
is its own.

    python benchmarks/speed.py training/conll04/model-best corpus/conll04/test.spacy \
        --train-corpus corpus/conll04/train.spacy
"""
import argparse
import os
import json
import math
import random
import sys
from pathlib import Path
from typing import Any, Dict, List

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_common import (  # noqa: E402
    RESULTS,
    corpus_words,
    fmt,
    lifetime_peak_rss_mib,
    machine_info,
    make_docs,
    markdown_table,
    median,
    n_wordpieces,
    peak_rss_mib,
    report_from_worker,
    reset_peak_rss,
    rss_mib,
    run_quiet,
    time_call,
    warn_if_busy,
    write_json,
)
from profile_inference import StageTimer  # noqa: E402

from spacy_stsn.stsn_torch import PRECISIONS  # noqa: E402

MODES = {"transformer": ["transformer"], "transformer+stsn": None}  # None: every component enabled


# -- workers (each runs in a fresh interpreter) ------------------------------------------------------
def inference_worker(job: Dict[str, Any]) -> Dict[str, Any]:
    """Time ``repeats`` passes of ``nlp.pipe`` over the corpus after a warm-up, for one set of components."""
    import spacy

    import spacy_stsn  # noqa: F401
    from spacy_stsn.loading import PRECISION_KEY

    words = corpus_words(Path(job["corpus"]))
    if job.get("sort_by_length"):  # similar lengths in a batch: less padding in the encoder and the head
        words.sort(key=lambda ws: len(ws[0]))
    precision = job.get("inference_precision")
    nlp = spacy.load(job["model"], config={PRECISION_KEY: precision} if precision else {})
    rss_loaded = rss_mib()
    reset_peak_rss()
    enable = MODES[job["mode"]]
    selection = nlp.select_pipes(enable=enable) if enable else None
    batch_size = job["batch_size"]
    # the stsn component's own time inside each pass: a share measured within the same passes, which the
    # machine's drift between the two subprocesses cannot distort
    timer = StageTimer()
    if enable is None:
        stsn = nlp.get_pipe("stsn")
        for name in ("predict", "set_annotations"):
            setattr(stsn, name, timer.wrap(name, getattr(stsn, name)))
    list(nlp.pipe(make_docs(nlp.vocab, words[: job["warmup_docs"]]), batch_size=batch_size))
    times: List[float] = []
    stsn_times: List[float] = []
    docs: List[Any] = []
    for _ in range(job["repeats"]):
        fresh = make_docs(nlp.vocab, words)
        before = sum(timer.seconds.values())
        elapsed, docs = time_call(lambda: list(nlp.pipe(fresh, batch_size=batch_size)))
        times.append(elapsed)
        stsn_times.append(sum(timer.seconds.values()) - before)
    if selection is not None:
        selection.restore()
    n_docs, n_tokens = len(docs), sum(len(doc) for doc in docs)
    pieces = sum(n_wordpieces(doc) for doc in docs)
    t = median(times)
    result = {
        "mode": job["mode"], "batch_size": batch_size, "repeats": job["repeats"], "times_s": times,
        "median_s": t, "n_docs": n_docs, "n_tokens": n_tokens, "n_wordpieces": pieces,
        "sents_per_s": n_docs / t, "tokens_per_s": n_tokens / t, "wordpieces_per_s": pieces / t,
        "rss_after_load_mib": rss_loaded, "peak_rss_mib": peak_rss_mib(),
        "lifetime_peak_rss_mib": lifetime_peak_rss_mib(),
    }
    if enable is None:
        result["stsn_times_s"] = stsn_times
        result["stsn_share_in_pass"] = median([h / t for h, t in zip(stsn_times, times)])
        result["n_entities"] = sum(len(doc.spans["stsn"]) if "stsn" in doc.spans else 0 for doc in docs)
        result["n_relations"] = sum(len(doc._.relations) for doc in docs)
    return result


def training_worker(job: Dict[str, Any]) -> Dict[str, Any]:
    """Time ``steps`` calls of ``nlp.update`` on batches of ``batch`` training docs, after ``warmup`` steps,
    with the optimizer and dropout of the pipeline's own training config (as ``spacy train`` builds them)."""
    import spacy
    from spacy.training import Corpus
    from spacy.util import registry

    import spacy_stsn  # noqa: F401

    nlp = spacy.load(job["model"])
    rss_loaded = rss_mib()
    training = nlp.config["training"]
    optimizer = registry.resolve({"optimizer": training["optimizer"]})["optimizer"]
    dropout = float(training.get("dropout", 0.1))
    examples = list(Corpus(job["corpus"], gold_preproc=True)(nlp))
    n_train = len(examples)
    random.Random(0).shuffle(examples)
    size = job["batch"]
    needed = (job["warmup"] + job["steps"]) * size
    pool = (examples * math.ceil(needed / n_train))[:needed]
    batches = [pool[i : i + size] for i in range(0, needed, size)]
    reset_peak_rss()  # after loading, before the first update: the optimizer's state is counted
    times: List[float] = []
    for i, batch in enumerate(batches):
        elapsed, _ = time_call(lambda: nlp.update(batch, drop=dropout, sgd=optimizer, losses={}))
        if i >= job["warmup"]:
            times.append(elapsed)
    mean = sum(times) / len(times)
    steps_per_epoch = math.ceil(n_train / size)
    return {
        "batch": size, "warmup_steps": job["warmup"], "timed_steps": len(times), "step_times_s": times,
        "mean_step_s": mean, "median_step_s": median(times), "n_train_docs": n_train,
        "steps_per_epoch": steps_per_epoch, "epoch_s_estimate": mean * steps_per_epoch,
        "docs_per_s": size / mean, "dropout": dropout,
        "optimizer": {k: v for k, v in training["optimizer"].items() if not isinstance(v, dict)},
        "rss_after_load_mib": rss_loaded, "peak_rss_mib": peak_rss_mib(),
        "lifetime_peak_rss_mib": lifetime_peak_rss_mib(),
    }


# -- parent ------------------------------------------------------------------------------------------
def markdown(result: Dict[str, Any]) -> str:
    rows = []
    for run in result["inference"]:
        if "error" in run:
            rows.append([run["job"]["mode"], "failed: " + run["error"]] + [""] * 7)
            continue
        rows.append([
            run["mode"], fmt(run["sents_per_s"]), fmt(run["tokens_per_s"], 0), fmt(run["wordpieces_per_s"], 0),
            fmt(run["median_s"], 2) + " (" + ", ".join(f"{t:.2f}" for t in run["times_s"]) + ")",
            fmt(run["rss_after_load_mib"], 0), fmt(run["peak_rss_mib"], 0), fmt(run.get("other_busy_cores"), 2),
        ])
    inf = result["inference"][0]
    job = result["args"]
    parts = [
        f"Inference on `{job['corpus']}`" + (" (documents sorted by length)" if job["sort_by_length"] else "")
        + f" with `nlp.pipe(batch_size={job['batch_size']})`"
        + (f", stsn `inference_precision` {job['inference_precision']}" if job.get("inference_precision") else "")
        + ", median of "
        f"{job['repeats']} passes after a {job['warmup_docs']}-document warm-up"
        + (f" ({inf['n_docs']} docs, {inf['n_tokens']} tokens, {inf['n_wordpieces']} word pieces):"
           if "error" not in inf else ":"),
        "",
        markdown_table(["components", "sentences/s", "tokens/s", "word pieces/s", "median s/pass (all passes)",
                        "RSS after load MiB", "peak RSS MiB", "others' cores"], rows),
    ]
    if result.get("head_share") is not None:
        parts += ["", f"STSN head's share of the pipeline time: (b - a) / b = **{100 * result['head_share']:.1f} %**"
                  f" ({result['head_s']:.2f} s of {result['full_s']:.2f} s per pass)."]
    full = result["inference"][-1]
    if full.get("stsn_times_s"):
        parts += ["", "Within the transformer+stsn passes, the stsn component's own time (`predict` + "
                  "`set_annotations`): " + ", ".join(f"{h:.2f} s of {t:.2f} s" for h, t in
                                                     zip(full["stsn_times_s"], full["times_s"]))
                  + f"; median share **{100 * full['stsn_share_in_pass']:.1f} %**."]
    train = result.get("training")
    if train is not None:
        if "error" in train:
            parts += ["", f"Training: failed: {train['error']}"]
        else:
            parts += [
                "",
                f"Training on `{job['train_corpus']}`: `nlp.update` on batches of {train['batch']} docs with the "
                f"pipeline's optimizer (dropout {train['dropout']}), {train['timed_steps']} steps timed after "
                f"{train['warmup_steps']} warm-up steps, extrapolated to {train['steps_per_epoch']} steps/epoch "
                f"({train['n_train_docs']} docs):",
                "",
                markdown_table(
                    ["mean s/step", "median s/step", "docs/s", "est. s/epoch", "RSS after load MiB", "peak RSS MiB",
                     "others' cores"],
                    [[fmt(train["mean_step_s"], 3), fmt(train["median_step_s"], 3), fmt(train["docs_per_s"]),
                      fmt(train["epoch_s_estimate"], 0), fmt(train["rss_after_load_mib"], 0),
                      fmt(train["peak_rss_mib"], 0), fmt(train.get("other_busy_cores"), 2)]],
                ),
            ]
    parts += ["", "others' cores: CPU (in cores) that other processes used while the measurement ran; "
              "near 0 means a quiet machine."]
    return "\n".join(parts) + "\n"


def main(argv: List[str] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", nargs="?", help="trained pipeline directory (transformer + stsn)")
    parser.add_argument("corpus", nargs="?", help=".spacy DocBin to run inference on")
    parser.add_argument("--batch-size", type=int, default=32, help="nlp.pipe batch size")
    parser.add_argument("--repeats", type=int, default=3, help="timed passes over the corpus (median)")
    parser.add_argument("--warmup-docs", type=int, default=64, help="documents run once before timing")
    parser.add_argument("--sort-by-length", action="store_true",
                        help="feed the documents to nlp.pipe shortest first (batches of similar lengths)")
    parser.add_argument("--inference-precision", choices=PRECISIONS, default=None,
                        help="override the stsn head's inference precision (default: the pipeline's config)")
    parser.add_argument("--train-corpus", help=".spacy training corpus; omit to skip the training benchmark")
    parser.add_argument("--train-steps", type=int, default=50, help="timed nlp.update steps")
    parser.add_argument("--train-warmup", type=int, default=5, help="untimed nlp.update steps first")
    parser.add_argument("--train-batch", type=int, default=4, help="docs per update (the config's batcher)")
    parser.add_argument("--output", type=Path, default=RESULTS / "speed.json")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds allowed per worker")
    parser.add_argument("--max-wait", type=float, default=900,
                        help="seconds to wait for other processes to leave the CPU before each measurement")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        job = json.loads(args.worker)
        report_from_worker(inference_worker(job) if job["kind"] == "inference" else training_worker(job))
        return
    if not args.model or not args.corpus:
        parser.error("MODEL and CORPUS are required")
    script = Path(__file__).resolve()
    warn_if_busy()
    info = machine_info()
    inference = []
    for mode in MODES:
        job = {"kind": "inference", "model": args.model, "corpus": args.corpus, "mode": mode,
               "batch_size": args.batch_size, "repeats": args.repeats, "warmup_docs": args.warmup_docs,
               "sort_by_length": args.sort_by_length, "inference_precision": args.inference_precision}
        inference.append(run_quiet(script, job, args.timeout, args.max_wait))
    result: Dict[str, Any] = {"machine": info, "args": {k: str(v) for k, v in vars(args).items() if k != "worker"},
                              "inference": inference, "head_share": None, "training": None}
    result["args"].update(batch_size=args.batch_size, repeats=args.repeats, warmup_docs=args.warmup_docs,
                          sort_by_length=args.sort_by_length, inference_precision=args.inference_precision)
    trf, full = inference
    if "error" not in trf and "error" not in full:
        result["full_s"], result["head_s"] = full["median_s"], full["median_s"] - trf["median_s"]
        result["head_share"] = result["head_s"] / full["median_s"]
    if args.train_corpus:
        job = {"kind": "training", "model": args.model, "corpus": args.train_corpus, "steps": args.train_steps,
               "warmup": args.train_warmup, "batch": args.train_batch}
        result["training"] = run_quiet(script, job, args.timeout, args.max_wait)
    result["loadavg_end_1_5_15min"] = list(os.getloadavg())
    write_json(args.output, result)
    print(markdown(result))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
