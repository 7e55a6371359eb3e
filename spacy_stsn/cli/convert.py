"""``spacy stsn convert``: SpERT JSON or a brat folder to ``.spacy``."""

import json
from pathlib import Path
from typing import Literal, Optional

import typer

from ..pipeline.annotations import DEFAULT_SPANS_KEY
from ._app import check_outputs, command


@command("convert")
def convert_cli(
    input_path: Path = typer.Argument(
        ...,
        help="A SpERT JSON file, or a folder of brat .txt + .ann files",
        metavar="INPUT",
        show_default=False,
    ),
    output_path: Path = typer.Argument(
        ...,
        help="The .spacy file (or folder of parts)",
        metavar="OUTPUT",
        show_default=False,
    ),
    fmt: Literal["auto", "spert", "brat"] = typer.Option(
        "auto", "--format", help="auto: brat for a folder, else SpERT"
    ),
    types: Optional[Path] = typer.Option(
        None,
        "--types",
        help="Reject unknown labels: a SpERT types file, or (brat) an annotation.conf",
    ),
    lang: str = typer.Option(
        "en", "--lang", help="brat: tokenise with a blank pipeline of this language"
    ),
    model: Optional[str] = typer.Option(
        None, "--model", help="brat: tokenise with this pipeline's tokenizer"
    ),
    spans_key: str = typer.Option(
        DEFAULT_SPANS_KEY, "--spans-key", help="The span group the entities go to"
    ),
    part_tokens: Optional[int] = typer.Option(
        None,
        "--part-tokens",
        help="Past this many tokens (default 500,000) OUTPUT is a folder of .spacy parts of at most this size, which spacy train reads as one corpus",
    ),
) -> None:
    """SpERT JSON or a brat folder -> .spacy (relations, span groups)."""
    check_outputs([output_path], inputs=[input_path, types])
    if fmt == "brat" or (fmt == "auto" and input_path.is_dir()):
        from ..formats.brat import convert_brat

        stats = convert_brat(
            input_path, output_path, types, lang, model, spans_key, part_tokens
        )
    else:
        from ..formats.spert import convert_file

        stats = convert_file(input_path, output_path, types, spans_key, part_tokens)
    print(f"{input_path} -> {output_path}: {json.dumps(stats)}")
