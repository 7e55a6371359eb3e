"""Parameter averaging at the end of a run, paired within the run: does the moving
average of the weights (``use_averages = true``) test better than the last weights?

Each seed trains once with ``use_averages = true`` (CoNLL04, by default SpERT's
protocol: train+dev, no model selection). spaCy saves the averaged weights as
``model-last``; this script also saves the weights the run ended with as
``model-unaveraged``. Averaging never changes a step (``tests/test_optimizer.py``), so
those are the weights the same seed saves with ``use_averages = false``: one run gives
both sides of the comparison, and the difference is free of seed and machine noise.
Both are tested on ``test.spacy``.

Each run is its own process, its ``spacy train`` log beside it; a finished run records
its results next to it and is reused; ``--finished-only`` summarises without training::

    python benchmarks/averaging.py --steps 5765 --seeds 0 1 2 \\
        --set training.optimizer.learn_rate.initial_rate 0.00005 \\
        --set components.stsn.model.learn_rate_scale 10
"""

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Dict, List, Optional

from harness import REPO, Benchmark

from stsn_dev.experiments import (
    add_grid_arguments,
    add_set_argument,
    batch_size,
    dev_curve,
    evaluate,
    parse_overrides,
    record_result,
    recorded_result,
    schedule_overrides,
)
from stsn_dev.summaries import METRICS, curves_table, f1s, markdown_table, summarize

TRAIN_FLAG = "--train-run"
SIDES = {"averaged (model-last)": "model-last", "last weights": "model-unaveraged"}


def train_run(
    config: Path, output: Path, overrides: Dict[str, Any], gpu_id: int
) -> None:
    """``spacy train``'s own steps (load the config, ``init_nlp``, the training loop),
    then save the weights the loop ended with: spaCy applies the averages only inside
    its saves, so the pipeline it returns holds the last weights."""
    from spacy import util
    from spacy.cli._util import setup_gpu
    from spacy.training.initialize import init_nlp
    from spacy.training.loop import train

    setup_gpu(gpu_id)
    cfg = util.load_config(config, overrides=overrides, interpolate=False)
    output.mkdir(parents=True, exist_ok=True)
    nlp = init_nlp(cfg, use_gpu=gpu_id)
    nlp, _ = train(nlp, output, use_gpu=gpu_id, stdout=sys.stdout, stderr=sys.stderr)
    nlp.to_disk(output / SIDES["last weights"])


def run_seed(
    args: Any, overrides: Dict[str, Any], output: Path
) -> Optional[Dict[str, Any]]:
    """Both sides' test F1s of one seed: reused from ``output``'s record when it holds
    a finished run with these overrides, else trained (``None`` with
    ``--finished-only``)."""
    result = recorded_result(output, overrides)
    if result is not None or args.finished_only:
        return result
    log = output.with_suffix(".log")
    output.parent.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, __file__, TRAIN_FLAG, str(args.config), str(output)]
    cmd += [json.dumps(overrides), str(args.gpu_id)]
    with log.open("w") as handle:
        code = subprocess.run(cmd, stdout=handle, stderr=subprocess.STDOUT).returncode
    if code != 0:
        raise RuntimeError(f"training run {output} failed; see {log}")
    test = args.corpus / "test.spacy"
    result = {
        side: f1s(evaluate(str(output / folder), test, args.gpu_id))
        for side, folder in SIDES.items()
    }
    record_result(output, overrides, result)
    return result


def smoke(args: Any, kit: Any) -> None:
    args.corpus, args.encoder = kit.corpus, str(kit.encoder)
    args.train, args.steps, args.seeds = "train.spacy", 2, [0]
    args.runs = Path(tempfile.mkdtemp(prefix="averaging-smoke-runs-"))


def main(argv: Optional[List[str]] = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == [TRAIN_FLAG]:
        train_run(Path(argv[1]), Path(argv[2]), json.loads(argv[3]), int(argv[4]))
        return
    bench = Benchmark(__doc__, __file__)
    add = bench.parser.add_argument
    add("--config", type=Path, default=REPO / "configs" / "conll04.cfg")
    add(
        "--corpus",
        type=Path,
        default=REPO / "corpus" / "conll04",
        help="TRAIN, dev.spacy (the dev curve only) and test.spacy",
    )
    add("--train", default="train_dev.spacy", help="SpERT's protocol: train+dev")
    add("--runs", type=Path, default=REPO / "training" / "averaging")
    add_set_argument(
        bench.parser, "a config override of every run (as spacy train's --KEY VALUE)"
    )
    add_grid_arguments(bench.parser, seeds=[0, 1, 2], steps=5765)
    args = bench.parse(argv, smoke)
    if args.only:
        bench.parser.error("--only: this script has no variants to choose among")
    rows: Dict[str, List[Dict[str, Any]]] = {side: [] for side in SIDES}
    rows["difference (averaged - last)"] = []
    for seed in args.seeds:
        overrides = {
            **schedule_overrides(args.steps, args.encoder, seed),
            "paths.train": str(args.corpus / args.train),
            "paths.dev": str(args.corpus / "dev.spacy"),
            **parse_overrides(args.set),
            "training.optimizer.use_averages": True,
        }
        output = args.runs / f"seed{seed}"
        result = run_seed(args, overrides, output)
        if result is None:
            print(f"seed {seed}: not run yet ({output})", flush=True)
            continue
        curve = dev_curve(output.with_suffix(".log"))
        for side in SIDES:
            rows[side].append({**result[side], "seed": seed, "dev_curve": curve})
        averaged, last = (result[side] for side in SIDES)
        rows["difference (averaged - last)"].append(
            {**{m: averaged[m] - last[m] for m in averaged}, "seed": seed}
        )
    rows = {name: runs for name, runs in rows.items() if runs}
    title = (
        f"{args.corpus.name} test, the last model of each run averaged or not, trained "
        f"on {args.train}, {args.steps} steps of "
        f"{batch_size(args.config, parse_overrides(args.set))} sentences, encoder "
        f"{args.encoder}, seeds {args.seeds}, overrides {dict(args.set)}"
    )
    summary = summarize(rows)
    per_seed = ["Per seed:", "", "| run | seed | " + " | ".join(METRICS) + " |"]
    per_seed.append("|---|---|" + "---|" * len(METRICS))
    per_seed += [
        f"| {name} | {run['seed']} | "
        + " | ".join(f"{run[m]:.1f}" for m in METRICS)
        + " |"
        for name, runs in rows.items()
        for run in runs
    ]
    curves = {"averaged (dev)": rows.get(next(iter(SIDES)), [])}
    text = "\n".join(
        [markdown_table(summary, title), "\n".join(per_seed), "", curves_table(curves)]
    )
    bench.finish({"summary": summary, "runs": rows}, text.rstrip())


if __name__ == "__main__":
    main()
