"""Inference and training speed of a trained ``["transformer", "stsn"]`` pipeline, with peak memory.

Inference: sentences/s and word pieces/s through ``nlp.pipe`` for the transformer alone and for
transformer + stsn; the difference is the STSN head's share of the pipeline time, and the stsn component's
own time is also clocked inside the transformer + stsn passes (a share that drift between the two runs cannot
distort). Training: seconds per
step of spaCy's loop (``nlp.update(sgd=False)``, ``finish_update``, ``step_schedules``) with the pipeline's own
optimizer (its ``[training.optimizer]``), extrapolated to one epoch of the training corpus. Each of the three measurements runs in its own subprocess, so its peak RSS
is its own.

Optimizers (``--compare-optimizers``): two pipelines built from the same config with the same seed (the same
initial weights), one with thinc's ``Adam.v1``, one with ``spacy_stsn.AdamW.v1``, trained by steps of spaCy's
own loop (``nlp.update(sgd=False)``, every component's ``finish_update``, ``step_schedules``) interleaved on
the same batches (A B, then B A), so drift of a shared machine hits both alike; then a cProfile of the
optimizer phase (``finish_update`` + ``step_schedules``) of a few more steps of each.

``--batch-sizes 1 32`` measures the inference pair at each batch size (the head's share, in-pass and (b - a) / b,
per batch size); ``--before DIR`` also runs every inference measurement with the ``spacy_stsn`` of another
checkout (the code before a change), back to back with this one's, so a before/after comparison shares the
machine's state.

``--gpu-id N`` runs every measurement on GPU N (``spacy.require_gpu``; clocks stop after
``torch.cuda.synchronize()``).

    python benchmarks/speed.py training/conll04/model-best corpus/conll04/test.spacy \
        --train-corpus corpus/conll04/train.spacy
    python benchmarks/speed.py --compare-optimizers --train-corpus corpus/conll04/train.spacy
    python benchmarks/speed.py MODEL corpus/conll04/test.spacy --batch-sizes 1 32 --before /tmp/base
"""

import argparse
import cProfile
import os
import json
import math
import pstats
import random
import sys
from pathlib import Path
from typing import Any, Callable, Dict, List

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
from measure import StageTimer  # noqa: E402

from spacy_stsn.stsn_torch import PRECISIONS  # noqa: E402

MODES = {
    "transformer": ["transformer"],
    "transformer+stsn": None,
}  # None: every component enabled
OPTIMIZERS = (
    "Adam.v1",
    "spacy_stsn.AdamW.v1",
)  # thinc's (per tensor); torch's AdamW after a global clip


def use_device(job: Dict[str, Any]) -> Callable[[], None]:
    """Put spaCy/thinc/torch on the job's GPU (``gpu_id`` >= 0) and return what makes a clock honest there:
    a device synchronisation (nothing on CPU)."""
    import torch

    if job.get("torch_threads"):
        torch.set_num_threads(job["torch_threads"])
    if job.get("gpu_id", -1) < 0:
        return lambda: None
    import spacy

    spacy.require_gpu(job["gpu_id"])
    return torch.cuda.synchronize


def device_info(job: Dict[str, Any]) -> Dict[str, Any]:
    import torch

    if job.get("gpu_id", -1) < 0:
        return {"device": "cpu", "torch_threads": torch.get_num_threads()}
    return {
        "device": f"cuda:{job['gpu_id']}",
        "gpu": torch.cuda.get_device_name(job["gpu_id"]),
    }


# -- workers (each runs in a fresh interpreter) ------------------------------------------------------
def inference_worker(job: Dict[str, Any]) -> Dict[str, Any]:
    """Time ``repeats`` passes of ``nlp.pipe`` over the corpus after a warm-up, for one set of components."""
    import spacy

    import spacy_stsn
    from spacy_stsn.loading import PRECISION_KEY

    sync = use_device(job)
    words = corpus_words(Path(job["corpus"]))
    if job.get(
        "sort_by_length"
    ):  # similar lengths in a batch: less padding in the encoder and the head
        words.sort(key=lambda ws: len(ws[0]))
    precision = job.get("inference_precision")
    nlp = spacy.load(
        job["model"], config={PRECISION_KEY: precision} if precision else {}
    )
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
    list(
        nlp.pipe(
            make_docs(nlp.vocab, words[: job["warmup_docs"]]), batch_size=batch_size
        )
    )
    times: List[float] = []
    stsn_times: List[float] = []
    docs: List[Any] = []
    for _ in range(job["repeats"]):
        fresh = make_docs(nlp.vocab, words)
        before = sum(timer.seconds.values())
        elapsed, docs = time_call(
            lambda: [list(nlp.pipe(fresh, batch_size=batch_size)), sync()][0]
        )
        times.append(elapsed)
        stsn_times.append(sum(timer.seconds.values()) - before)
    if selection is not None:
        selection.restore()
    n_docs, n_tokens = len(docs), sum(len(doc) for doc in docs)
    pieces = sum(n_wordpieces(doc) for doc in docs)
    t = median(times)
    result = {
        "mode": job["mode"],
        "batch_size": batch_size,
        "repeats": job["repeats"],
        "times_s": times,
        "stsn_code": str(Path(spacy_stsn.__file__).resolve().parents[1]),
        "median_s": t,
        "n_docs": n_docs,
        "n_tokens": n_tokens,
        "n_wordpieces": pieces,
        "sents_per_s": n_docs / t,
        "tokens_per_s": n_tokens / t,
        "wordpieces_per_s": pieces / t,
        "rss_after_load_mib": rss_loaded,
        "peak_rss_mib": peak_rss_mib(),
        "lifetime_peak_rss_mib": lifetime_peak_rss_mib(),
        **device_info(job),
    }
    if enable is None:
        result["stsn_times_s"] = stsn_times
        result["stsn_share_in_pass"] = median(
            [h / t for h, t in zip(stsn_times, times)]
        )
        result["n_entities"] = sum(
            len(doc.spans["stsn"]) if "stsn" in doc.spans else 0 for doc in docs
        )
        result["n_relations"] = sum(len(doc._.relations) for doc in docs)
    return result


def training_worker(job: Dict[str, Any]) -> Dict[str, Any]:
    """Time ``steps`` training steps as spaCy's loop takes them (:func:`train_step`) on batches of ``batch``
    training docs, after ``warmup`` steps, with the optimizer and dropout of the pipeline's own training config
    (as ``spacy train`` builds them)."""
    import spacy
    from spacy.util import registry

    import spacy_stsn  # noqa: F401

    sync = use_device(job)
    nlp = spacy.load(job["model"])
    rss_loaded = rss_mib()
    training = nlp.config["training"]
    optimizer = registry.resolve({"optimizer": training["optimizer"]})["optimizer"]
    dropout = float(training.get("dropout", 0.1))
    batches, n_train = training_batches(nlp, job)
    size = job["batch"]
    reset_peak_rss()  # after loading, before the first update: the optimizer's state is counted
    times: List[float] = []
    for i, batch in enumerate(batches):
        elapsed, _ = time_call(lambda: train_step(nlp, optimizer, batch, dropout, sync))
        if i >= job["warmup"]:
            times.append(elapsed)
    mean = sum(times) / len(times)
    steps_per_epoch = math.ceil(n_train / size)
    return {
        "batch": size,
        "warmup_steps": job["warmup"],
        "timed_steps": len(times),
        "step_times_s": times,
        "mean_step_s": mean,
        "median_step_s": median(times),
        "n_train_docs": n_train,
        "steps_per_epoch": steps_per_epoch,
        "epoch_s_estimate": mean * steps_per_epoch,
        "docs_per_s": size / mean,
        "dropout": dropout,
        "optimizer": {
            k: v for k, v in training["optimizer"].items() if not isinstance(v, dict)
        },
        "rss_after_load_mib": rss_loaded,
        "peak_rss_mib": peak_rss_mib(),
        "lifetime_peak_rss_mib": lifetime_peak_rss_mib(),
        **device_info(job),
    }


def training_batches(nlp: Any, job: Dict[str, Any]):
    """``warmup + steps`` batches of ``batch`` training examples (shuffled with seed 0, cycled if needed)."""
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
    losses: Dict[str, float] = None,
) -> float:
    """One step as spaCy's loop takes it (``spacy.training.loop.train_while_improving``): forward and
    backward, then the optimizer phase; returns the optimizer phase's seconds."""
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


def optimizers_worker(job: Dict[str, Any]) -> Dict[str, Any]:
    """Thinc's ``Adam.v1`` against ``spacy_stsn.AdamW.v1`` on the same pipeline, steps interleaved."""
    from spacy.training.initialize import init_nlp
    from spacy.util import load_config, registry

    import spacy_stsn  # noqa: F401

    sync = use_device(job)
    overrides = {
        "paths.train": job["corpus"],
        "paths.dev": job["corpus"],
        **job.get("overrides", {}),
    }
    runs = []
    for name in OPTIMIZERS:
        config = load_config(
            job["config"],
            overrides={**overrides, "training.optimizer.@optimizers": name},
            interpolate=False,
        )
        nlp = init_nlp(
            config
        )  # the config's seed: both pipelines start from the same weights
        optimizer = registry.resolve(
            {"o": config.interpolate()["training"]["optimizer"]}
        )["o"]
        runs.append(
            {
                "name": name,
                "nlp": nlp,
                "optimizer": optimizer,
                "times": [],
                "optimizer_times": [],
                "losses": [],
            }
        )
    dropout = float(config["training"]["dropout"])
    batches, n_train = training_batches(runs[0]["nlp"], job)
    profile_from = job["warmup"] + job["steps"] - job["profile_steps"]
    for i, batch in enumerate(batches):
        for run in runs if i % 2 == 0 else runs[::-1]:
            if i >= profile_from:  # the optimizer phase alone, under cProfile
                run["nlp"].update(batch, drop=dropout, sgd=False)
                sync()
                profile = run.setdefault("profile", cProfile.Profile())
                profile.runcall(optimizer_phase, run["nlp"], run["optimizer"])
                sync()
                continue
            losses: Dict[str, float] = {}
            elapsed, optimizer_s = time_call(
                lambda: train_step(
                    run["nlp"], run["optimizer"], batch, dropout, sync, losses
                )
            )
            if i >= job["warmup"]:
                run["times"].append(elapsed)
                run["optimizer_times"].append(optimizer_s)
                run["losses"].append(sum(losses.values()))
    results = []
    for run in runs:
        times, opt = run["times"], run["optimizer_times"]
        results.append(
            {
                "optimizer": run["name"],
                "timed_steps": len(times),
                "step_times_s": times,
                "mean_step_s": sum(times) / len(times),
                "median_step_s": median(times),
                "optimizer_phase_s": opt,
                "median_optimizer_phase_s": median(opt),
                "mean_loss": sum(run["losses"]) / len(run["losses"]),
                "profile": profile_summary(
                    run.get("profile"), job["profile_steps"], job["profile_top"]
                ),
            }
        )
    thinc, torch_adamw = results
    return {
        "config": job["config"],
        "overrides": overrides,
        "batch": job["batch"],
        "warmup_steps": job["warmup"],
        "n_train_docs": n_train,
        "dropout": dropout,
        "runs": results,
        "median_ratio": torch_adamw["median_step_s"] / thinc["median_step_s"],
        "median_paired_ratio": median(
            [b / a for a, b in zip(thinc["step_times_s"], torch_adamw["step_times_s"])]
        ),
        "rss_peak_both_mib": peak_rss_mib(),
        **device_info(job),
    }


# functions of the optimizer phase whose calls per step show the per-tensor work: cProfile's (file, name)
PROFILE_COUNTS = {
    "thinc Optimizer.__call__": [("optimizers.py", "__call__")],
    "thinc Adam kernel (ops.adam)": [
        ("numpy_ops.pyx", "adam"),
        ("cupy_ops.py", "adam"),
    ],
    "per-tensor clip (ops.clip_gradient)": [
        ("ops.py", "clip_gradient"),
        ("cupy_ops.py", "clip_gradient"),
    ],
    "torch2xp": [("util.py", "torch2xp")],
    "xp2torch": [("util.py", "xp2torch")],
    "TorchAdamW.__call__ (collect)": [("optimizer.py", "__call__")],
    "TorchAdamW.step": [("optimizer.py", "step")],
    "clip_grad_norm_": [("clip_grad.py", "clip_grad_norm_")],
    "torch's fused AdamW kernel": [("~", "<built-in method torch._fused_adamw_>")],
}


def profile_summary(profile: Any, steps: int, top: int) -> Dict[str, Any]:
    """Per step: the optimizer phase's time, the calls of the functions above, and the top functions by
    self time (cProfile of the optimizer phase only)."""
    if profile is None:
        return {}
    # {(file, line, name): (primitive calls, calls, self s, cumulative s, callers)}
    stats = pstats.Stats(profile).stats
    total = sum(entry[2] for entry in stats.values())
    counts = {}
    for label in PROFILE_COUNTS:
        match = [
            entry
            for key, entry in stats.items()
            if any(
                key[0].endswith(file) and key[2] == name
                for file, name in PROFILE_COUNTS[label]
            )
        ]
        counts[label] = {
            "calls_per_step": sum(e[1] for e in match) / steps,
            "cumulative_s_per_step": sum(e[3] for e in match) / steps,
        }
    ranked = sorted(stats.items(), key=lambda item: item[1][2], reverse=True)[:top]
    return {
        "steps": steps,
        "phase_s_per_step": total / steps,
        "counts": counts,
        "top_self": [
            {
                "function": f"{Path(key[0]).name}:{key[2]}",
                "calls_per_step": entry[1] / steps,
                "self_s_per_step": entry[2] / steps,
            }
            for key, entry in ranked
        ],
    }


# -- parent ------------------------------------------------------------------------------------------
def head_share(pair: List[Dict[str, Any]]) -> Dict[str, Any]:
    """The head's share of the pipeline from a (transformer, transformer+stsn) pair of runs: (b - a) / b."""
    if len(pair) < 2 or any("error" in run for run in pair):
        return {"head_share": None}
    trf, full = pair
    return {
        "full_s": full["median_s"],
        "head_s": full["median_s"] - trf["median_s"],
        "head_share": (full["median_s"] - trf["median_s"]) / full["median_s"],
    }


def shares_markdown(result: Dict[str, Any]) -> List[str]:
    """One row per (code, batch size): both pipelines' times and the head's share, in-pass and (b - a) / b."""
    rows = []
    for run in result["share_runs"]:
        trf, full = run["inference"]
        if "error" in trf or "error" in full:
            rows.append(
                [
                    run["code"],
                    run["batch_size"],
                    "failed: " + (trf.get("error") or full["error"]),
                ]
                + [""] * 6
            )
            continue
        rows.append(
            [
                run["code"],
                run["batch_size"],
                fmt(trf["median_s"], 2),
                fmt(full["median_s"], 2),
                fmt(trf["sents_per_s"]),
                fmt(full["sents_per_s"]),
                f"**{100 * full['stsn_share_in_pass']:.1f} %**",
                f"{100 * run['head_share']:.1f} %",
                fmt(
                    max(
                        trf.get("other_busy_cores") or 0,
                        full.get("other_busy_cores") or 0,
                    ),
                    2,
                ),
            ]
        )
    return [
        "",
        "The head's share per batch size"
        + (" before and after" if result["args"].get("before") != "None" else "")
        + " (in the order run):",
        "",
        markdown_table(
            [
                "code",
                "batch size",
                "transformer s/pass",
                "transformer+stsn s/pass",
                "transformer sentences/s",
                "transformer+stsn sentences/s",
                "stsn in-pass share",
                "(b - a) / b",
                "others' cores",
            ],
            rows,
        ),
    ]


def inference_markdown(result: Dict[str, Any]) -> List[str]:
    rows = []
    for run in result["inference"]:
        if "error" in run:
            rows.append([run["job"]["mode"], "failed: " + run["error"]] + [""] * 7)
            continue
        rows.append(
            [
                run["mode"],
                fmt(run["sents_per_s"]),
                fmt(run["tokens_per_s"], 0),
                fmt(run["wordpieces_per_s"], 0),
                fmt(run["median_s"], 2)
                + " ("
                + ", ".join(f"{t:.2f}" for t in run["times_s"])
                + ")",
                fmt(run["rss_after_load_mib"], 0),
                fmt(run["peak_rss_mib"], 0),
                fmt(run.get("other_busy_cores"), 2),
            ]
        )
    inf = result["inference"][0]
    job = result["args"]
    parts = [
        f"Inference on `{job['corpus']}`"
        + (" (documents sorted by length)" if job["sort_by_length"] else "")
        + f" with `nlp.pipe(batch_size={job['batch_size']})`"
        + (
            f", stsn `inference_precision` {job['inference_precision']}"
            if job.get("inference_precision")
            else ""
        )
        + ", median of "
        f"{job['repeats']} passes after a {job['warmup_docs']}-document warm-up"
        + (
            f" ({inf['n_docs']} docs, {inf['n_tokens']} tokens, {inf['n_wordpieces']} word pieces):"
            if "error" not in inf
            else ":"
        ),
        "",
        markdown_table(
            [
                "components",
                "sentences/s",
                "tokens/s",
                "word pieces/s",
                "median s/pass (all passes)",
                "RSS after load MiB",
                "peak RSS MiB",
                "others' cores",
            ],
            rows,
        ),
    ]
    if result.get("head_share") is not None:
        parts += [
            "",
            f"STSN head's share of the pipeline time: (b - a) / b = **{100 * result['head_share']:.1f} %**"
            f" ({result['head_s']:.2f} s of {result['full_s']:.2f} s per pass).",
        ]
    full = result["inference"][-1]
    if full.get("stsn_times_s"):
        parts += [
            "",
            "Within the transformer+stsn passes, the stsn component's own time (`predict` + "
            "`set_annotations`): "
            + ", ".join(
                f"{h:.2f} s of {t:.2f} s"
                for h, t in zip(full["stsn_times_s"], full["times_s"])
            )
            + f"; median share **{100 * full['stsn_share_in_pass']:.1f} %**.",
        ]
    return parts


def optimizers_markdown(result: Dict[str, Any]) -> List[str]:
    comparison = result["optimizers"]
    if "error" in comparison:
        return ["", f"Optimizers: failed: {comparison['error']}"]
    runs = comparison["runs"]
    parts = [
        "",
        f"Training steps of `{comparison['config']}` on {comparison['device']}"
        + (
            f" ({comparison['gpu']})"
            if "gpu" in comparison
            else f" ({comparison['torch_threads']} torch threads)"
        )
        + f", batches of {comparison['batch']} docs, dropout {comparison['dropout']}, spaCy's loop step "
        f"(`nlp.update(sgd=False)`, `finish_update`, `step_schedules`), {runs[0]['timed_steps']} steps of "
        f"each optimizer timed after {comparison['warmup_steps']} warm-up steps, interleaved on the same "
        f"batches "
        f"(others' cores {fmt(comparison.get('other_busy_cores'), 2)}):",
        "",
        markdown_table(
            [
                "optimizer",
                "median s/step",
                "mean s/step",
                "median optimizer phase s",
                "mean loss per step",
            ],
            [
                [
                    f"`{r['optimizer']}`",
                    fmt(r["median_step_s"], 3),
                    fmt(r["mean_step_s"], 3),
                    fmt(r["median_optimizer_phase_s"], 3),
                    fmt(r["mean_loss"], 2),
                ]
                for r in runs
            ],
        ),
        "",
        f"`spacy_stsn.AdamW.v1` / `Adam.v1`: ratio of medians **{comparison['median_ratio']:.3f}**, "
        f"median of the per-batch ratios **{comparison['median_paired_ratio']:.3f}** (below 1: faster).",
    ]
    profiles = [r["profile"] for r in runs]
    if all(profiles):
        labels = list(profiles[0]["counts"])
        parts += [
            "",
            f"cProfile of the optimizer phase alone ({profiles[0]['steps']} more steps of each), "
            "per step:",
            "",
            markdown_table(
                ["", *(f"`{r['optimizer']}`" for r in runs)],
                [
                    [
                        "optimizer phase s (under cProfile)",
                        *(fmt(p["phase_s_per_step"], 3) for p in profiles),
                    ]
                ]
                + [
                    [
                        label,
                        *(
                            f"{p['counts'][label]['calls_per_step']:.0f} calls, "
                            f"{p['counts'][label]['cumulative_s_per_step']:.3f} s"
                            for p in profiles
                        ),
                    ]
                    for label in labels
                ],
            ),
        ]
        for run in runs:
            parts += [
                "",
                f"Top functions by self time in the optimizer phase, `{run['optimizer']}`:",
                "",
                markdown_table(
                    ["function", "calls/step", "self s/step"],
                    [
                        [
                            f"`{t['function']}`",
                            f"{t['calls_per_step']:.0f}",
                            fmt(t["self_s_per_step"], 4),
                        ]
                        for t in run["profile"]["top_self"]
                    ],
                ),
            ]
    return parts


def markdown(result: Dict[str, Any]) -> str:
    parts = inference_markdown(result) if result["inference"] else []
    if result.get("share_runs"):
        parts += shares_markdown(result)
    if result.get("optimizers") is not None:
        parts += optimizers_markdown(result)
    job = result["args"]
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
                    [
                        "mean s/step",
                        "median s/step",
                        "docs/s",
                        "est. s/epoch",
                        "RSS after load MiB",
                        "peak RSS MiB",
                        "others' cores",
                    ],
                    [
                        [
                            fmt(train["mean_step_s"], 3),
                            fmt(train["median_step_s"], 3),
                            fmt(train["docs_per_s"]),
                            fmt(train["epoch_s_estimate"], 0),
                            fmt(train["rss_after_load_mib"], 0),
                            fmt(train["peak_rss_mib"], 0),
                            fmt(train.get("other_busy_cores"), 2),
                        ]
                    ],
                ),
            ]
    parts += [
        "",
        "others' cores: CPU (in cores) that other processes used while the measurement ran; "
        "near 0 means a quiet machine.",
    ]
    return "\n".join(parts) + "\n"


def main(argv: List[str] = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "model", nargs="?", help="trained pipeline directory (transformer + stsn)"
    )
    parser.add_argument("corpus", nargs="?", help=".spacy DocBin to run inference on")
    parser.add_argument(
        "--batch-size", type=int, default=32, help="nlp.pipe batch size"
    )
    parser.add_argument(
        "--batch-sizes",
        type=int,
        nargs="+",
        help="several nlp.pipe batch sizes, the head's share for each (instead of --batch-size)",
    )
    parser.add_argument(
        "--before",
        type=Path,
        help="a checkout of the code before a change (e.g. `git archive COMMIT | tar -x -C DIR`): "
        "every inference measurement runs with its spacy_stsn too, back to back with this one",
    )
    parser.add_argument(
        "--repeats", type=int, default=3, help="timed passes over the corpus (median)"
    )
    parser.add_argument(
        "--warmup-docs", type=int, default=64, help="documents run once before timing"
    )
    parser.add_argument(
        "--sort-by-length",
        action="store_true",
        help="feed the documents to nlp.pipe shortest first (batches of similar lengths)",
    )
    parser.add_argument(
        "--inference-precision",
        choices=PRECISIONS,
        default=None,
        help="override the stsn head's inference precision (default: the pipeline's config)",
    )
    parser.add_argument(
        "--train-corpus",
        help=".spacy training corpus; omit to skip the training benchmark",
    )
    parser.add_argument(
        "--train-steps", type=int, default=50, help="timed nlp.update steps"
    )
    parser.add_argument(
        "--train-warmup", type=int, default=5, help="untimed nlp.update steps first"
    )
    parser.add_argument(
        "--train-batch",
        type=int,
        default=4,
        help="docs per update (the config's batcher)",
    )
    parser.add_argument(
        "--compare-optimizers",
        action="store_true",
        help="time thinc's Adam.v1 against spacy_stsn.AdamW.v1 on --config "
        "(needs --train-corpus)",
    )
    parser.add_argument(
        "--config",
        default="configs/conll04.cfg",
        help="config of the optimizer comparison",
    )
    parser.add_argument(
        "--encoder", help="paths.encoder of the comparison (default: the config's)"
    )
    parser.add_argument(
        "--profile-steps",
        type=int,
        default=5,
        help="more steps of each optimizer with the optimizer phase under cProfile",
    )
    parser.add_argument(
        "--gpu-id",
        type=int,
        default=-1,
        help="GPU to run on (spacy.require_gpu); -1: CPU",
    )
    parser.add_argument(
        "--torch-threads",
        type=int,
        default=0,
        help="torch.set_num_threads in the workers "
        "(0: torch's default); 1 is steadier when other processes share the cores",
    )
    parser.add_argument(
        "--retries",
        type=int,
        default=2,
        help="measure again (at most this often) when others used over 0.3 cores meanwhile",
    )
    parser.add_argument("--output", type=Path, default=RESULTS / "speed.json")
    parser.add_argument(
        "--timeout", type=float, default=1800, help="seconds allowed per worker"
    )
    parser.add_argument(
        "--max-wait",
        type=float,
        default=900,
        help="seconds to wait for other processes to leave the CPU before each measurement",
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        job = json.loads(args.worker)
        workers = {
            "inference": inference_worker,
            "training": training_worker,
            "optimizers": optimizers_worker,
        }
        report_from_worker(workers[job["kind"]](job))
        return
    if (not args.model or not args.corpus) and not args.compare_optimizers:
        parser.error("MODEL and CORPUS are required (or --compare-optimizers alone)")
    if args.compare_optimizers and not args.train_corpus:
        parser.error("--compare-optimizers needs --train-corpus")
    script = Path(__file__).resolve()
    warn_if_busy()
    info = machine_info()
    batch_sizes = args.batch_sizes or [args.batch_size]
    codes = [str(args.before), None] if args.before else [None]  # None: this checkout
    runs: List[Dict[str, Any]] = []
    for i, batch_size in enumerate(batch_sizes if args.model and args.corpus else ()):
        # before and after back to back, in alternating order (A B, then B A) so drift hits both alike
        for code in codes if i % 2 == 0 else codes[::-1]:
            pair = []
            for mode in MODES:
                job = {
                    "kind": "inference",
                    "model": args.model,
                    "corpus": args.corpus,
                    "mode": mode,
                    "batch_size": batch_size,
                    "repeats": args.repeats,
                    "warmup_docs": args.warmup_docs,
                    "sort_by_length": args.sort_by_length,
                    "inference_precision": args.inference_precision,
                    "gpu_id": args.gpu_id,
                    "torch_threads": args.torch_threads,
                    "code": code,
                }
                pair.append(
                    run_quiet(script, job, args.timeout, args.max_wait, args.retries)
                )
            runs.append(
                {
                    "code": code or "this checkout",
                    "batch_size": batch_size,
                    "inference": pair,
                    **head_share(pair),
                }
            )
    inference = next((r["inference"] for r in runs if r["code"] == "this checkout"), [])
    result: Dict[str, Any] = {
        "machine": info,
        "args": {k: str(v) for k, v in vars(args).items() if k != "worker"},
        "inference": inference,
        "head_share": None,
        "training": None,
        "optimizers": None,
        "share_runs": runs if len(runs) > 1 else None,
    }
    result["args"].update(
        batch_size=batch_sizes[0],
        repeats=args.repeats,
        warmup_docs=args.warmup_docs,
        sort_by_length=args.sort_by_length,
        inference_precision=args.inference_precision,
    )
    if inference:
        result.update(head_share(inference))
    if args.train_corpus and args.model:
        job = {
            "kind": "training",
            "model": args.model,
            "corpus": args.train_corpus,
            "steps": args.train_steps,
            "warmup": args.train_warmup,
            "batch": args.train_batch,
            "gpu_id": args.gpu_id,
            "torch_threads": args.torch_threads,
        }
        result["training"] = run_quiet(
            script, job, args.timeout, args.max_wait, args.retries
        )
    if args.compare_optimizers:
        job = {
            "kind": "optimizers",
            "config": args.config,
            "corpus": args.train_corpus,
            "steps": args.train_steps,
            "warmup": args.train_warmup,
            "batch": args.train_batch,
            "gpu_id": args.gpu_id,
            "torch_threads": args.torch_threads,
            "profile_steps": args.profile_steps,
            "profile_top": 8,
            "overrides": {"paths.encoder": args.encoder} if args.encoder else {},
        }
        job["steps"] += (
            args.profile_steps
        )  # the profiled steps come after the timed ones
        result["optimizers"] = run_quiet(
            script, job, args.timeout, args.max_wait, args.retries
        )
    result["loadavg_end_1_5_15min"] = list(os.getloadavg())
    write_json(args.output, result)
    print(markdown(result))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
