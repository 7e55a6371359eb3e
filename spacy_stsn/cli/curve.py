"""``spacy stsn curve``: redraw a training run's dev curve."""

from pathlib import Path

import typer

from ..training.curve import redraw
from ._app import command


@command("curve")
def curve_cli(
    directory: Path = typer.Argument(
        ..., metavar="DIRECTORY", help="spacy train's --output", show_default=False
    ),
) -> None:
    """Redraw a training run's dev curve (DIR/curve.png from DIR/curve.jsonl, which
    spacy_stsn.ProgressLogger.v1 writes) and name it."""
    print(redraw(directory))
