"""The paper's ablations on CoNLL04 (Table 4: 0-6 attention layers; Table 5: the
interaction switches).

Every run has the same budget; the best model on dev is evaluated on test.

    python scripts/ablate.py configs/conll04.cfg corpus/conll04 metrics/ablations
    --steps 2000 --seeds 0
"""

import argparse
from pathlib import Path

from stsn_dev.experiments import add_grid_arguments, provenance, run_grid
from stsn_dev.summaries import check_outputs, summary_files, write_summary

VARIANTS = {
    **{f"{n} layers": {"components.stsn.model.n_layers": n} for n in range(1, 7)},
    "w/o Label (0 layers)": {"components.stsn.model.n_layers": 0},
    "w/o Bi-Interaction (ner_to_re)": {
        "components.stsn.model.interaction": "ner_to_re"
    },
    "w/o Bi-Interaction (re_to_ner)": {
        "components.stsn.model.interaction": "re_to_ner"
    },
    "w/o Interaction (none)": {"components.stsn.model.interaction": "none"},
}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("config", type=Path)
    parser.add_argument(
        "corpus", type=Path, help="folder with train.spacy, dev.spacy and test.spacy"
    )
    parser.add_argument("output", type=Path)
    add_grid_arguments(parser, seeds=[0])
    args = parser.parse_args()
    runs = Path("training") / "ablations"
    check_outputs(*summary_files(args.output, "ablations"), runs)
    rows = run_grid(
        args.config,
        args.corpus,
        VARIANTS,
        args.seeds,
        args.steps,
        args.encoder,
        runs,
        gpu_id=args.gpu_id,
        only=args.only,
        finished_only=args.finished_only,
    )
    print(
        write_summary(
            args.output,
            "ablations",
            rows,
            f"CoNLL04 test, ablations ({args.steps} steps each)",
            provenance(args),
        )
    )


if __name__ == "__main__":
    main()
