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
import platform
import subprocess
from pathlib import Path

from spacy_stsn.experiments import run_grid, write_summary

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = {
    "STSN (3 layers, bi)": {"components.stsn.model.n_layers": 3},
    "baseline (n_layers = 0)": {"components.stsn.model.n_layers": 0},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, default=ROOT / "configs" / "conll04.cfg")
    parser.add_argument("--corpus", type=Path, default=ROOT / "corpus" / "conll04",
                        help="train.spacy, dev.spacy, train_dev.spacy and test.spacy (spacy project run convert)")
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument("--protocol", choices=("select", "spert"), default="select")
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--encoder", default="all-MiniLM-L6-v2")
    parser.add_argument("--gpu-id", type=int, default=-1)
    parser.add_argument("--only", nargs="*", default=None, help="run only these rows (names as in the table)")
    parser.add_argument("--finished-only", action="store_true",
                        help="train nothing: summarise the runs that have finished (a partial grid)")
    args = parser.parse_args()
    train = "train.spacy" if args.protocol == "select" else "train_dev.spacy"
    use = "model-best" if args.protocol == "select" else "model-last"
    rows = run_grid(args.config, args.corpus, VARIANTS, args.seeds, args.steps, args.encoder,
                    ROOT / "training" / "accuracy" / args.protocol, train=train, use=use, gpu_id=args.gpu_id,
                    only=args.only, finished_only=args.finished_only)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    title = (f"CoNLL04 test, protocol {args.protocol}, {args.steps} steps of 4 sentences, encoder {args.encoder}, "
             f"seeds {args.seeds}")
    extra = {"args": {k: str(v) for k, v in vars(args).items()}, "commit": commit.stdout.strip(),
             "machine": platform.platform()}
    print(write_summary(args.output, f"accuracy_{args.protocol}", rows, title, extra))


if __name__ == "__main__":
    main()
