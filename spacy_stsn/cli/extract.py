"""``spacy stsn extract``: text or JSONL in, JSONL (brat, Parquet) with entities and
relations out, locally or on a Ray cluster (``--ray``)."""

from pathlib import Path
from typing import Literal, Optional

import typer
from wasabi import msg

from ..extraction.failures import ON_ERROR
from ..extraction.options import INPUT_FORMATS, OUTPUT_FORMATS, ExtractOptions
from ._app import PRECISION_HELP, Precision, command

RAY = "Ray"  # the help panel of --ray's options


@command("extract")
def extract_cli(
    model: str = typer.Argument(
        ...,
        metavar="MODEL",
        help="A pipeline folder or an installed package",
        show_default=False,
    ),
    # a str: --ray also takes URIs (s3://...), which a Path would mangle
    input_path: str = typer.Argument(
        ...,
        help="Plain text (one document a line) or JSONL ({'text': ...}); --ray: also a folder of them or Parquet, or a URI pyarrow opens (s3://, gs://)",
        metavar="INPUT",
        show_default=False,
    ),
    output: str = typer.Option(
        ...,
        "-o",
        "--output",
        help="JSONL file, or folder for brat; --ray: a file (in input order, .parquet for Parquet) or a folder ending with '/' (shards written by the workers, resumed by a rerun)",
        show_default=False,
    ),
    output_format: Optional[Literal[OUTPUT_FORMATS]] = typer.Option(
        None,
        "--output-format",
        help="jsonl (the default); brat: OUTPUT/NAME.txt + .ann per document (NAME: the input's id or line); parquet: --ray's (default: by OUTPUT's suffix)",
        show_default=False,
    ),
    fmt: Literal[INPUT_FORMATS] = typer.Option(
        "auto", "--format", help="auto: JSONL for .jsonl/.json files, else text"
    ),
    text_key: str = typer.Option(
        "text",
        "--text-key",
        help="The JSONL field to read, and the output field the text is written to",
    ),
    batch_size: int = typer.Option(
        64, "--batch-size", help="Documents per nlp.pipe batch"
    ),
    n_process: int = typer.Option(1, "--n-process", help="nlp.pipe's processes"),
    gpu_id: int = typer.Option(-1, "--gpu-id", help="The GPU to run on; -1: the CPU"),
    on_error: Literal[ON_ERROR] = typer.Option(
        "stop",
        "--on-error",
        help="A line that is malformed or fails in the pipeline stops the run at its FILE:LINE, every line before it written (stop); or is listed in OUTPUT.errors.jsonl (with --ray and a folder OUTPUT: OUTPUT/_errors/) and the run goes on (skip)",
    ),
    tags: bool = typer.Option(
        False, "--tags", help="Also write tokens and their predicted tags"
    ),
    restart: bool = typer.Option(
        False, "--restart", help="Overwrite OUTPUT instead of resuming it"
    ),
    html: Optional[Path] = typer.Option(
        None,
        "--html",
        help="Also render the first --html-docs documents this run annotates with displaCy to this file",
    ),
    html_docs: int = typer.Option(
        20, "--html-docs", help="How many documents --html shows"
    ),
    max_length: Optional[int] = typer.Option(
        None,
        "--max-length",
        help="The longest text in characters, spaCy's nlp.max_length (default: the pipeline's, 1,000,000); a longer one stops the run at its FILE:LINE",
    ),
    precision: Precision = typer.Option(
        None, "--precision", "--inference-precision", help=PRECISION_HELP
    ),
    ray: bool = typer.Option(
        False,
        "--ray",
        help="Extract with a pool of Ray actors (pip install spacy-stsn[ray])",
        rich_help_panel=RAY,
    ),
    address: Optional[str] = typer.Option(
        None,
        "--address",
        help="The cluster to join (default: start a local Ray instance)",
        rich_help_panel=RAY,
    ),
    workers: int = typer.Option(
        1,
        "--workers",
        help="Actors, each with its own copy of the model",
        rich_help_panel=RAY,
    ),
    cpus_per_worker: float = typer.Option(
        1, "--cpus-per-worker", help="CPUs per actor", rich_help_panel=RAY
    ),
    gpus_per_worker: float = typer.Option(
        0, "--gpus-per-worker", help="GPUs per actor", rich_help_panel=RAY
    ),
    docs_per_shard: Optional[int] = typer.Option(
        None,
        "--docs-per-shard",
        help="Documents per shard of a folder OUTPUT (a multiple of --batch-size; default 16 batches)",
        rich_help_panel=RAY,
    ),
) -> None:
    """Text or JSONL in, JSONL with entities and relations out (resumable)."""
    options = ExtractOptions(
        fmt=fmt,
        text_key=text_key,
        batch_size=batch_size,
        tags=tags,
        precision=precision,
        max_length=max_length,
        on_error=on_error,
        output_format=output_format,
        restart=restart,
        n_process=n_process,
        gpu_id=gpu_id,
        html=html,
        html_docs=html_docs,
        address=address,
        workers=workers,
        cpus_per_worker=cpus_per_worker,
        gpus_per_worker=gpus_per_worker,
        docs_per_shard=docs_per_shard,
    )
    if ray:
        from ..extraction.ray.driver import extract_on_ray  # Ray is imported only here

        extract_on_ray(model, input_path, output, options)
        return
    from ..extraction.extract import extract

    extract(model, Path(input_path), Path(output), options)
    if html is not None:
        msg.good(f"wrote {html}")
