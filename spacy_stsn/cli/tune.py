"""``spacy stsn tune``: choose the relation thresholds on dev and write the pipeline
with them."""

import sys
from pathlib import Path
from typing import List, Optional

import typer
from wasabi import msg

from ..evaluation import tuning
from ._app import check_outputs, command, greedy_command


@command("tune", cls=greedy_command("--grid"))
def tune_cli(
    model: Path = typer.Argument(
        ..., help="A pipeline folder", metavar="MODEL", show_default=False
    ),
    dev: Path = typer.Argument(
        ...,
        metavar="DEV",
        help="The .spacy corpus the thresholds are chosen on",
        show_default=False,
    ),
    output: Path = typer.Option(
        ..., "--output", help="The tuned pipeline (may be MODEL)", show_default=False
    ),
    test: Optional[Path] = typer.Option(
        None, "--test", help="Also score this corpus before and after"
    ),
    report: Optional[Path] = typer.Option(
        None, "--report", help="Folder for tuning.json and tuning.md"
    ),
    metric: Optional[str] = typer.Option(
        None,
        "--metric",
        help="A scorer key to maximise, e.g. rel_strict_macro_f (default: the pipeline's [training.score_weights], the selection score of spacy train)",
    ),
    global_only: bool = typer.Option(
        False, "--global-only", help="No per-type thresholds"
    ),
    grid: Optional[List[float]] = typer.Option(
        None,
        "--grid",
        help="The relation thresholds to try, --grid 0.3 0.5 ... (default 0.05 ... 0.95 by 0.05); widen it when the report says the choice sat on an edge",
        show_default=False,
    ),
    gpu_id: int = typer.Option(-1, "--gpu-id", help="The GPU to run on; -1: the CPU"),
) -> None:
    """Choose the relation thresholds (global, per type) and nested_threshold on dev;
    write the pipeline with them."""
    reports = [report / name for name in tuning.REPORT_FILES] if report else []
    check_outputs([output, output / "config.cfg", *reports])
    result = tuning.tune(
        model,
        dev,
        output,
        test,
        grid=grid or tuning.GRID,
        metric=metric,
        per_type=not global_only,
        gpu_id=gpu_id,
    )
    if report is not None:
        tuning.write_report(result, report)
    print(tuning.markdown(result))
    for note in result["at_grid_edge"]:
        print(f"warning: {note}", file=sys.stderr)
    msg.good(f"Saved the tuned pipeline to {output}")
