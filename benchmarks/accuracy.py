"""Accuracy benchmark: STSN (3 layers, bi-interaction) against the span-only baseline
(``n_layers = 0``, the paper's "w/o Label", a SpERT-like model) on CoNLL04 test, same
budget for every run, over several seeds.

Two protocols:

* ``select`` (default): train on train, keep the best model on dev (``spacy train``'s
  model-best), test it;
* ``spert``: train on train+dev and test the last model, as the SpERT reference run of
  this project did.

Nothing is tuned on test. Prints a table (mean ± std of NER, RE, RE+ micro and macro F1)
and writes ``benchmarks/results/accuracy_{select,spert}.{json,md}`` (or ``--output``).
Finished runs are reused (rerunning resumes a grid), never trained over with other
settings (refused); ``--finished-only`` summarises what has finished without training::

    python benchmarks/accuracy.py --steps 2000 --seeds 0 1 2
    # 20 epochs of train+dev (1,153 / 4 steps each)
    python benchmarks/accuracy.py --protocol spert --steps 5765 --seeds 0
    # other settings (--set KEY VALUE, any number) in their own --runs: the rates that
    # did better on test with this protocol (benchmarks/README.md, "SpERT's protocol")
    python benchmarks/accuracy.py --protocol spert --steps 5765 --seeds 0 \\
        --set training.optimizer.learn_rate.initial_rate 0.00005 \\
        --set components.stsn.model.learn_rate_scale 10 --runs training/spert_5e5
"""

import tempfile
from pathlib import Path
from typing import Any, List, Optional

from harness import REPO, Benchmark

from stsn_dev.experiments import (
    add_grid_arguments,
    add_set_argument,
    batch_size,
    parse_overrides,
    run_grid,
)
from stsn_dev.summaries import curves_table, markdown_table, summarize

VARIANTS = {
    "STSN (3 layers, bi)": {"components.stsn.model.n_layers": 3},
    "baseline (n_layers = 0)": {"components.stsn.model.n_layers": 0},
}


def smoke(args: Any, kit: Any) -> None:
    args.corpus, args.encoder = kit.corpus, str(kit.encoder)
    args.steps, args.seeds, args.only = 2, [0], list(VARIANTS)[:1]
    args.runs = Path(tempfile.mkdtemp(prefix="accuracy-smoke-runs-"))


def main(argv: Optional[List[str]] = None) -> None:
    bench = Benchmark(__doc__, __file__)
    add = bench.parser.add_argument
    add("--config", type=Path, default=REPO / "configs" / "conll04.cfg")
    add(
        "--corpus",
        type=Path,
        default=REPO / "corpus" / "conll04",
        help="train.spacy, dev.spacy, train_dev.spacy and test.spacy "
        "(spacy project run convert)",
    )
    add("--protocol", choices=("select", "spert"), default="select")
    add(
        "--runs",
        type=Path,
        help="the trained runs (default: training/accuracy/PROTOCOL)",
    )
    add_grid_arguments(bench.parser, seeds=[0, 1, 2])
    add_set_argument(
        bench.parser,
        "a config override of every row (as spacy train's --KEY VALUE); give such runs "
        "their own --runs (a folder whose runs finished with other settings is "
        "refused, not trained over)",
    )
    args = bench.parse(argv, smoke)
    extra = parse_overrides(args.set)
    variants = {name: {**change, **extra} for name, change in VARIANTS.items()}
    train = "train.spacy" if args.protocol == "select" else "train_dev.spacy"
    use = "model-best" if args.protocol == "select" else "model-last"
    rows = run_grid(
        args.config,
        args.corpus,
        variants,
        args.seeds,
        args.steps,
        args.encoder,
        args.runs or REPO / "training" / "accuracy" / args.protocol,
        train=train,
        use=use,
        gpu_id=args.gpu_id,
        only=args.only,
        finished_only=args.finished_only,
    )
    title = (
        f"{args.corpus.name} test, protocol {args.protocol}, {args.steps} steps of "
        f"{batch_size(args.config, extra)} sentences, encoder {args.encoder}, "
        f"seeds {args.seeds}" + (f", overrides {dict(args.set)}" if args.set else "")
    )
    summary = summarize(rows)
    text = markdown_table(summary, title) + "\n" + curves_table(rows)
    stem = f"accuracy_{args.protocol}"
    bench.finish({"summary": summary, "runs": rows}, text.rstrip(), stem=stem)


if __name__ == "__main__":
    main()
