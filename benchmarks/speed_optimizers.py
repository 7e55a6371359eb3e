r"""Thinc's ``Adam.v1`` against ``spacy_stsn.AdamW.v1`` (torch's fused AdamW after one
global-norm clip): two pipelines built from the same config with the same seed (the same
initial weights), trained by steps of spaCy's own loop (``speed_training.train_step``)
interleaved on the same batches (A B, then B A), so the machine's drift hits both alike;
then a cProfile of the optimizer phase (``finish_update`` + ``step_schedules``) of a few
more steps of each. ``--averages`` adds a third pipeline, ``spacy_stsn.AdamW.v1`` with
``use_averages = true`` (the moving average of every weight, updated each step).

    python benchmarks/speed_optimizers.py corpus/conll04/train.spacy \
        --config configs/conll04.cfg \
        --steps 30 --warmup 3 --profile-steps 5 --torch-threads 1 [--averages]
"""

import cProfile
import pstats
from pathlib import Path
from typing import Any, Dict, List, Optional

from harness import CONTENTION_NOTE, Benchmark, fmt, markdown_table, synchronizer
from measure import median, peak_rss_mib, time_call
from speed_training import optimizer_phase, train_step, training_batches

OPTIMIZERS = ("Adam.v1", "spacy_stsn.AdamW.v1")  # thinc's (per tensor); torch's AdamW
AVERAGED = "spacy_stsn.AdamW.v1 + use_averages"
# functions of the optimizer phase whose calls per step show the per-tensor work:
# cProfile's (file, name)
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
    "ParameterAverages.update": [("averaging.py", "update")],
}


def variants(averages: bool) -> List[Dict[str, Any]]:
    """The pipelines to compare: a name and its optimizer overrides."""
    found = [
        {"name": name, "overrides": {"training.optimizer.@optimizers": name}}
        for name in OPTIMIZERS
    ]
    if averages:
        overrides = {**found[1]["overrides"], "training.optimizer.use_averages": True}
        found.append({"name": AVERAGED, "overrides": overrides})
    return found


def optimizers_worker(job: Dict[str, Any]) -> Dict[str, Any]:
    """Both optimizers on the same pipeline and batches, steps interleaved."""
    from spacy.training.initialize import init_nlp
    from spacy.util import load_config, registry

    import spacy_stsn  # noqa: F401

    sync = synchronizer(job)
    overrides = {"paths.train": job["corpus"], "paths.dev": job["corpus"]}
    overrides.update(job["overrides"])
    runs = []
    for variant in variants(job["averages"]):
        name = variant["name"]
        config = load_config(
            job["config"],
            overrides={**overrides, **variant["overrides"]},
            interpolate=False,
        )
        nlp = init_nlp(config)  # the config's seed: both start from the same weights
        optimizer_config = config.interpolate()["training"]["optimizer"]
        optimizer = registry.resolve({"o": optimizer_config})["o"]
        runs.append({"name": name, "nlp": nlp, "optimizer": optimizer, "times": []})
        runs[-1].update(optimizer_times=[], losses=[], profile=cProfile.Profile())
    dropout = float(config["training"]["dropout"])
    steps = {**job, "steps": job["steps"] + job["profile_steps"]}
    batches, n_train = training_batches(runs[0]["nlp"], steps)
    profile_from = job["warmup"] + job["steps"]
    for i, batch in enumerate(batches):
        for run in runs if i % 2 == 0 else runs[::-1]:
            nlp, optimizer = run["nlp"], run["optimizer"]
            if i >= profile_from:  # the optimizer phase alone, under cProfile
                nlp.update(batch, drop=dropout, sgd=False)
                sync()
                run["profile"].runcall(optimizer_phase, nlp, optimizer)
                sync()
                continue
            losses: Dict[str, float] = {}
            elapsed, optimizer_s = time_call(
                lambda nlp=nlp, optimizer=optimizer, batch=batch, losses=losses: (
                    train_step(nlp, optimizer, batch, dropout, sync, losses)
                )
            )
            if i >= job["warmup"]:
                run["times"].append(elapsed)
                run["optimizer_times"].append(optimizer_s)
                run["losses"].append(sum(losses.values()))
    results = [
        {
            "optimizer": run["name"],
            "step_times_s": run["times"],
            "median_step_s": median(run["times"]),
            "mean_step_s": sum(run["times"]) / len(run["times"]),
            "median_optimizer_phase_s": median(run["optimizer_times"]),
            "mean_loss": sum(run["losses"]) / len(run["losses"]),
            "profile": profile_summary(run["profile"], job["profile_steps"], 8),
        }
        for run in runs
    ]
    thinc, torch_adamw = results[:2]
    found = {
        "overrides": overrides,
        "n_train_docs": n_train,
        "dropout": dropout,
        "runs": results,
        **ratios(thinc, torch_adamw),
        "rss_peak_both_mib": peak_rss_mib(),
    }
    if len(results) == 3:  # the averaging's cost: against the same optimizer without
        found["averages"] = ratios(torch_adamw, results[2])
    return found


def ratios(a: Dict[str, Any], b: Dict[str, Any]) -> Dict[str, float]:
    """b's step time over a's: of the medians, and the median of the per-batch ratios
    (the same batches, measured back to back)."""
    pairs = zip(a["step_times_s"], b["step_times_s"])
    return {
        "median_ratio": b["median_step_s"] / a["median_step_s"],
        "median_paired_ratio": median([y / x for x, y in pairs]),
    }


def profile_summary(profile: cProfile.Profile, steps: int, top: int) -> Dict[str, Any]:
    """Per step: the optimizer phase's time, the calls of :data:`PROFILE_COUNTS`, and
    the top functions by self time (cProfile of the optimizer phase only)."""
    if steps == 0:
        return {}
    # {(file, line, name): (primitive calls, calls, self s, cumulative s, callers)}
    stats = pstats.Stats(profile).stats
    counts = {}
    for label, functions in PROFILE_COUNTS.items():
        match = [
            entry
            for key, entry in stats.items()
            if any(key[0].endswith(file) and key[2] == name for file, name in functions)
        ]
        counts[label] = {
            "calls_per_step": sum(e[1] for e in match) / steps,
            "cumulative_s_per_step": sum(e[3] for e in match) / steps,
        }
    ranked = sorted(stats.items(), key=lambda item: item[1][2], reverse=True)[:top]
    return {
        "steps": steps,
        "phase_s_per_step": sum(entry[2] for entry in stats.values()) / steps,
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


def markdown(args: Any, result: Dict[str, Any]) -> str:
    if "error" in result:
        return f"Optimizers: failed: {result['error']}"
    runs = result["runs"]
    header = [
        "optimizer",
        "median s/step",
        "mean s/step",
        "median optimizer phase s",
        "mean loss per step",
    ]
    rows = [
        [f"`{r['optimizer']}`"]
        + [fmt(r[k], 3) for k in ("median_step_s", "mean_step_s")]
        + [fmt(r["median_optimizer_phase_s"], 3), fmt(r["mean_loss"], 2)]
        for r in runs
    ]
    threads = f"{result.get('torch_threads')} torch threads"
    parts = [
        f"Training steps of `{args.config}` on {result['device']} "
        f"({result.get('gpu') or threads}), batches of {args.batch} docs, dropout "
        f"{result['dropout']}, {args.steps} steps of each optimizer timed after "
        f"{args.warmup} warm-up steps, interleaved on the same batches (others' cores "
        f"{fmt(result.get('other_busy_cores'), 2)}):",
        "",
        markdown_table(header, rows),
        "",
        f"`spacy_stsn.AdamW.v1` / `Adam.v1`: ratio of medians "
        f"**{result['median_ratio']:.3f}**, median of the per-batch ratios "
        f"**{result['median_paired_ratio']:.3f}** (below 1: faster).",
    ]
    if "averages" in result:
        parts += [
            "",
            f"`{AVERAGED}` / `spacy_stsn.AdamW.v1` (the cost of averaging): ratio of "
            f"medians **{result['averages']['median_ratio']:.3f}**, median of the "
            f"per-batch ratios **{result['averages']['median_paired_ratio']:.3f}**.",
        ]
    profiles = [r["profile"] for r in runs]
    if all(profiles):
        names = [f"`{r['optimizer']}`" for r in runs]
        phase = ["optimizer phase s (under cProfile)"]
        phase += [fmt(p["phase_s_per_step"], 3) for p in profiles]
        counts = [
            [label]
            + [
                f"{p['counts'][label]['calls_per_step']:.0f} calls, "
                f"{p['counts'][label]['cumulative_s_per_step']:.3f} s"
                for p in profiles
            ]
            for label in PROFILE_COUNTS
        ]
        parts += [
            "",
            f"cProfile of the optimizer phase alone ({args.profile_steps} more steps "
            "of each), per step:",
            "",
            markdown_table(["", *names], [phase] + counts),
        ]
        for name, profile in zip(names, profiles):
            top = [
                [f"`{t['function']}`", f"{t['calls_per_step']:.0f}"]
                + [fmt(t["self_s_per_step"], 4)]
                for t in profile["top_self"]
            ]
            parts += ["", f"Top functions by self time in the optimizer phase, {name}:"]
            parts += [
                "",
                markdown_table(["function", "calls/step", "self s/step"], top),
            ]
    return "\n".join(parts + ["", CONTENTION_NOTE])


def smoke(args: Any, kit: Any) -> None:
    args.config = str(kit.model / "config.cfg")
    args.steps, args.warmup, args.profile_steps, args.torch_threads = 2, 1, 1, 1
    args.averages = True


def main(argv: Optional[List[str]] = None) -> None:
    bench = Benchmark(__doc__, __file__, {"optimizers": optimizers_worker}, device=True)
    add = bench.parser.add_argument
    bench.input("train_corpus", "train", ".spacy training corpus")
    add("--config", default="configs/conll04.cfg", help="the pipeline to train")
    add("--encoder", help="the config's paths.encoder (default: the config's)")
    add("--steps", type=int, default=30, help="timed steps of each optimizer")
    add("--warmup", type=int, default=3, help="untimed steps first")
    add("--batch", type=int, default=4, help="docs per step")
    add("--profile-steps", type=int, default=5, help="more steps under cProfile")
    add(
        "--averages",
        action="store_true",
        help="also spacy_stsn.AdamW.v1 with use_averages = true",
    )
    args = bench.parse(argv, smoke)
    job = bench.job(
        "optimizers",
        config=args.config,
        corpus=args.train_corpus,
        steps=args.steps,
        warmup=args.warmup,
        batch=args.batch,
        profile_steps=args.profile_steps,
        averages=args.averages,
        overrides={"paths.encoder": args.encoder} if args.encoder else {},
    )
    result = bench.run(job, "optimizers")
    bench.finish({"optimizers": result}, markdown(args, result))


if __name__ == "__main__":
    main()
