"""Accuracy benchmark: STSN (3 layers, bi-interaction) against the span-only baseline (``n_layers = 0``, the
paper's "w/o Label", a SpERT-like model) on CoNLL04 test, same budget for every run, over several seeds.

Two protocols:

* ``select`` (default): train on train, keep the best model on dev (``spacy train``'s model-best), test it;
* ``spert``: train on train+dev and test the last model, as the SpERT reference run of this project did.

Nothing is tuned on test. Prints a table (mean ± std of NER, RE, RE+ micro and macro F1) and writes
``benchmarks/results/accuracy_{select,spert}.{json,md}``. Finished runs are reused (rerunning resumes a grid);
``--finished-only`` summarises what has finished without training::

    python benchmarks/accuracy.py --steps 2000 --seeds 0 1 2
    python benchmarks/accuracy.py --protocol spert --steps 5765 --seeds 0   # 20 epochs of train+dev (1,153 / 4)
"""

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(
    0, str(ROOT / "scripts")
)  # the grid runner is a project script, not part of the package

from experiments import add_grid_arguments, provenance, run_grid, write_summary  # noqa: E402

VARIANTS = {
    "STSN (3 layers, bi)": {"components.stsn.model.n_layers": 3},
    "baseline (n_layers = 0)": {"components.stsn.model.n_layers": 0},
}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--config", type=Path, default=ROOT / "configs" / "conll04.cfg")
    parser.add_argument(
        "--corpus",
        type=Path,
        default=ROOT / "corpus" / "conll04",
        help="train.spacy, dev.spacy, train_dev.spacy and test.spacy (spacy project run convert)",
    )
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument("--protocol", choices=("select", "spert"), default="select")
    add_grid_arguments(parser, seeds=[0, 1, 2])
    args = parser.parse_args()
    train = "train.spacy" if args.protocol == "select" else "train_dev.spacy"
    use = "model-best" if args.protocol == "select" else "model-last"
    rows = run_grid(
        args.config,
        args.corpus,
        VARIANTS,
        args.seeds,
        args.steps,
        args.encoder,
        ROOT / "training" / "accuracy" / args.protocol,
        train=train,
        use=use,
        gpu_id=args.gpu_id,
        only=args.only,
        finished_only=args.finished_only,
    )
    title = (
        f"CoNLL04 test, protocol {args.protocol}, {args.steps} steps of 4 sentences, encoder {args.encoder}, "
        f"seeds {args.seeds}"
    )
    print(
        write_summary(
            args.output, f"accuracy_{args.protocol}", rows, title, provenance(args)
        )
    )


if __name__ == "__main__":
    main()
