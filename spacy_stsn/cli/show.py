"""``spacy stsn show``: gold and predicted entities and relations of a few
documents."""

from pathlib import Path

import typer

from ..evaluation.evaluate import show
from ._app import command


@command("show")
def show_cli(
    model: str = typer.Argument(
        ...,
        metavar="MODEL",
        help="A pipeline folder or an installed package",
        show_default=False,
    ),
    corpus: Path = typer.Argument(
        ..., help="A .spacy corpus", metavar="CORPUS", show_default=False
    ),
    n: int = typer.Option(5, "-n", help="How many documents"),
    gpu_id: int = typer.Option(-1, "--gpu-id", help="The GPU to run on; -1: the CPU"),
) -> None:
    """Print gold and predicted entities and relations of a few documents."""
    print(show(model, corpus, n, gpu_id))
