"""ADE 10-fold cross-validation: train on each fold's train file, evaluate on its test
file, report mean ± std.

ADE has no dev set, so no model selection happens: the last model of each run is
evaluated (selecting on the test fold would tune on test). The paper's budget needs a
GPU; on CPU use --folds and --steps to cut it down.

To choose a setting for ADE, --dev-fraction 0.1 trains on 90 % of each fold's train file
and scores the last model on the other 10 % (the same documents for every run); the
test fold is not read. Compare settings so, then run the chosen one without it.

    python scripts/cv_ade.py corpus/ade configs/ade.cfg metrics/ade_cv --steps 2000
    [--n-layers 0] [--features] [--dev-fraction 0.1] [--set KEY VALUE --tag NAME]
"""

import argparse
from pathlib import Path
from typing import Any, Dict, List

from spacy_stsn.evaluation.evaluate import summary_line
from stsn_dev.experiments import (
    add_set_argument,
    parse_overrides,
    provenance,
    run_once,
    schedule_overrides,
    split_dev,
)
from stsn_dev.summaries import check_outputs, f1s, summary_files, write_summary


def build_parser() -> argparse.ArgumentParser:
    """The command line: the corpus, the config and the output folder, the budget, the
    folds, the rows and the overrides."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "corpus",
        type=Path,
        help="folder with fold_K_{train,test}.spacy (scripts/convert_ade.py)",
    )
    parser.add_argument("config", type=Path)
    parser.add_argument("output", type=Path)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument(
        "--folds",
        type=int,
        default=10,
        help="run folds 0..FOLDS-1 of the 10 (fewer: a partial CV)",
    )
    parser.add_argument(
        "--only-folds",
        type=int,
        nargs="+",
        metavar="K",
        help="run these folds (0-9) in place of 0..FOLDS-1: several processes or "
        "machines share one CV, or one fold is added to those that ran",
    )
    parser.add_argument("--encoder", default="all-MiniLM-L6-v2")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--gpu-id", type=int, default=-1)
    parser.add_argument(
        "--n-layers",
        type=int,
        nargs="*",
        default=[3, 0],
        help="one row per value: 3 = STSN, 0 = the span-only baseline",
    )
    parser.add_argument(
        "--features",
        action="store_true",
        help="spaCy's lexical features beside the transformer (spacy_stsn/ml/features.py; "
        "configs/ade.cfg leaves them off, the paper's setting)",
    )
    parser.add_argument(
        "--dev-fraction",
        type=float,
        default=0.0,
        help="> 0: train on the rest of each fold's train file and score on this "
        "fraction of it (a dev set to choose settings on); the test fold is not read",
    )
    add_set_argument(
        parser,
        "a config override for every run (--set training.optimizer.learn_rate."
        "initial_rate 0.0001); name the runs with --tag",
    )
    parser.add_argument(
        "--tag",
        default="",
        help="added to the runs' folder names (runs with other --set values)",
    )
    parser.add_argument(
        "--finished-only",
        action="store_true",
        help="train nothing: summarise the runs that have finished (a partial grid)",
    )
    return parser


def check_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> List[int]:
    """The folds to run; ``parser.error`` (exit 2) for arguments that do not fit."""
    if not 1 <= args.folds <= 10:
        parser.error(f"--folds must be between 1 and 10, not {args.folds}")
    fold_ids = sorted(set(args.only_folds)) if args.only_folds else range(args.folds)
    if any(not 0 <= k <= 9 for k in fold_ids):
        parser.error(f"--only-folds must name folds 0-9, not {args.only_folds}")
    if not 0 <= args.dev_fraction < 1:
        parser.error(f"--dev-fraction must be in [0, 1), not {args.dev_fraction}")
    if args.set and not args.tag:
        parser.error(
            "--set needs a --tag, or its runs would share the folders of others"
        )
    return list(fold_ids)


def run_overrides(args: argparse.Namespace, n_layers: int) -> Dict[str, Any]:
    """The config overrides of one row's runs: the schedule, the layers, the features,
    the ``--set`` values, and one evaluation at the end (the "dev" set selects
    nothing)."""
    overrides = schedule_overrides(args.steps, args.encoder, args.seed)
    overrides["components.stsn.model.n_layers"] = n_layers
    if args.features:
        overrides["components.stsn.model.tok2vec.features"] = True
    overrides.update(parse_overrides(args.set))
    overrides["training.eval_frequency"] = args.steps
    return overrides


def run_folds(args: argparse.Namespace, fold_ids: List[int]) -> Dict[str, List[Any]]:
    """Each row's finished runs (its F1s and fold), training what has not run unless
    ``--finished-only``."""
    suffix = (
        ("_features" if args.features else "")
        + (f"_{args.tag}" if args.tag else "")
        + (f"_dev{round(100 * args.dev_fraction)}" if args.dev_fraction else "")
    )
    # the dev cut of each fold, made once for every row
    cuts = {
        k: split_dev(args.corpus / f"fold_{k}_train.spacy", args.dev_fraction)
        for k in fold_ids
        if args.dev_fraction
    }
    rows: Dict[str, List[Any]] = {}
    for n_layers in args.n_layers:
        name = "STSN" if n_layers else "baseline (n_layers=0)"
        rows[name] = []
        for k in fold_ids:
            train, scored = cuts.get(
                k,
                (
                    args.corpus / f"fold_{k}_train.spacy",
                    args.corpus / f"fold_{k}_test.spacy",
                ),
            )
            run = f"layers{n_layers}{suffix}_fold{k}_seed{args.seed}"
            result = run_once(
                args.config,
                train,
                scored,
                scored,
                Path("training") / "ade_cv" / run,
                run_overrides(args, n_layers),
                use="model-last",
                gpu_id=args.gpu_id,
                finished_only=args.finished_only,
            )
            if result is None:
                print(f"{name} fold {k}: not run yet", flush=True)
                continue
            rows[name].append({**f1s(result), "fold": k})
            print(summary_line(result, f"{name} fold {k}"), flush=True)
    return {name: runs for name, runs in rows.items() if runs}


def title(args: argparse.Namespace, rows: Dict[str, List[Any]]) -> str:
    """The summary's title: which folds finished, and what was scored."""
    done = sorted({run["fold"] for runs in rows.values() for run in runs})
    folds = (
        "10-fold cross-validation"
        if len(done) == 10
        else f"cross-validation, folds {done} of the 10 only"
    )
    if args.dev_fraction:
        folds += (
            f", scored on {args.dev_fraction:.0%} of each fold's train file cut off as"
            " dev (not the test fold)"
        )
    return f"ADE {folds} ({args.steps} steps, last model)"


def main() -> None:
    parser = build_parser()
    args = parser.parse_args()
    fold_ids = check_args(parser, args)
    # the dev cuts are written beside the folds
    cuts_folder = args.corpus if args.dev_fraction else None
    runs = Path("training") / "ade_cv"
    check_outputs(*summary_files(args.output, "cv"), runs, cuts_folder)
    rows = run_folds(args, fold_ids)
    print(write_summary(args.output, "cv", rows, title(args, rows), provenance(args)))


if __name__ == "__main__":
    main()
