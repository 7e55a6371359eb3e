"""``spacy stsn evaluate``: NER / RE / RE+ metrics of a pipeline on a corpus."""

from pathlib import Path

import typer
from wasabi import msg

from ..evaluation.evaluate import (
    REPORT_FILES,
    evaluate,
    markdown,
    summary_line,
    write_report,
)
from ._app import PRECISION_HELP, Precision, check_outputs, command


@command("evaluate")
def evaluate_cli(
    model: str = typer.Argument(
        ...,
        metavar="MODEL",
        help="A pipeline folder or an installed package",
        show_default=False,
    ),
    corpus: Path = typer.Argument(
        ..., metavar="CORPUS", help="The .spacy corpus to score", show_default=False
    ),
    output: Path = typer.Option(
        ..., "--output", help="Folder for metrics.json/.md/.png", show_default=False
    ),
    gpu_id: int = typer.Option(-1, "--gpu-id", help="The GPU to run on; -1: the CPU"),
    precision: Precision = typer.Option(
        None, "--precision", "--inference-precision", help=PRECISION_HELP
    ),
) -> None:
    """NER/RE/RE+ metrics, per type and by length, of a pipeline."""
    check_outputs(output / name for name in REPORT_FILES)
    result = evaluate(model, corpus, gpu_id, precision)
    write_report(result, output)
    print(markdown(result))
    print(summary_line(result))
    msg.good(f"Saved the report to {output}")
