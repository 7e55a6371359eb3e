"""``spacy stsn extract``: text or JSONL in, JSONL (brat, Parquet) with entities and
relations out, locally or on a Ray cluster (``--ray``)."""

from pathlib import Path
from typing import Literal, Optional

import typer
from wasabi import msg

from ..extraction.failures import ON_ERROR
from ..extraction.options import INPUT_FORMATS, OUTPUT_FORMATS, ExtractOptions
from ._app import PRECISION_HELP, Precision, command

RAY_PANEL = "Ray"  # the help panel of --ray's options

# the flags, one per option of ExtractOptions (and --ray)
MODEL = typer.Argument(
    ...,
    metavar="MODEL",
    help="A pipeline folder or an installed package",
    show_default=False,
)
INPUT = typer.Argument(
    ...,
    help="Plain text (one document a line) or JSONL ({'text': ...}); --ray: also a folder of them or Parquet, or a URI pyarrow opens (s3://, gs://)",
    metavar="INPUT",
    show_default=False,
)
OUTPUT = typer.Option(
    ...,
    "-o",
    "--output",
    help="JSONL file, or folder for brat; --ray: a file (in input order, .parquet for Parquet) or a folder ending with '/' (shards written by the workers, resumed by a rerun)",
    show_default=False,
)
OUTPUT_FORMAT = typer.Option(
    None,
    "--output-format",
    help="jsonl (the default); brat: OUTPUT/NAME.txt + .ann per document (NAME: the input's id or line); parquet: --ray's (default: by OUTPUT's suffix)",
    show_default=False,
)
FMT = typer.Option(
    "auto", "--format", help="auto: JSONL for .jsonl/.json files, else text"
)
TEXT_KEY = typer.Option(
    "text",
    "--text-key",
    help="The JSONL field to read, and the output field the text is written to",
)
BATCH_SIZE = typer.Option(64, "--batch-size", help="Documents per nlp.pipe batch")
N_PROCESS = typer.Option(1, "--n-process", help="nlp.pipe's processes")
GPU_ID = typer.Option(-1, "--gpu-id", help="The GPU to run on; -1: the CPU")
ON_ERROR_FLAG = typer.Option(
    "stop",
    "--on-error",
    help="A line that is malformed or fails in the pipeline stops the run at its FILE:LINE, every line before it written (stop); or is listed in OUTPUT.errors.jsonl (with --ray and a folder OUTPUT: OUTPUT/_errors/) and the run goes on (skip)",
)
TAGS = typer.Option(False, "--tags", help="Also write tokens and their predicted tags")
RESTART = typer.Option(
    False, "--restart", help="Overwrite OUTPUT instead of resuming it"
)
HTML = typer.Option(
    None,
    "--html",
    help="Also render the first --html-docs documents this run annotates with displaCy to this file",
)
HTML_DOCS = typer.Option(20, "--html-docs", help="How many documents --html shows")
MAX_LENGTH = typer.Option(
    None,
    "--max-length",
    help="The longest text in characters, spaCy's nlp.max_length (default: the pipeline's, 1,000,000); a longer one stops the run at its FILE:LINE",
)
PRECISION = typer.Option(
    None, "--precision", "--inference-precision", help=PRECISION_HELP
)
RAY_FLAG = typer.Option(
    False,
    "--ray",
    help="Extract with a pool of Ray actors (pip install spacy-stsn[ray])",
    rich_help_panel=RAY_PANEL,
)
ADDRESS = typer.Option(
    None,
    "--address",
    help="The cluster to join (default: start a local Ray instance)",
    rich_help_panel=RAY_PANEL,
)
WORKERS = typer.Option(
    1,
    "--workers",
    help="Actors, each with its own copy of the model",
    rich_help_panel=RAY_PANEL,
)
CPUS_PER_WORKER = typer.Option(
    1, "--cpus-per-worker", help="CPUs per actor", rich_help_panel=RAY_PANEL
)
GPUS_PER_WORKER = typer.Option(
    0, "--gpus-per-worker", help="GPUs per actor", rich_help_panel=RAY_PANEL
)
DOCS_PER_SHARD = typer.Option(
    None,
    "--docs-per-shard",
    help="Documents per shard of a folder OUTPUT (a multiple of --batch-size; default 16 batches)",
    rich_help_panel=RAY_PANEL,
)


@command("extract")
def extract_cli(
    model: str = MODEL,
    input_path: str = INPUT,
    output: str = OUTPUT,
    output_format: Optional[Literal[OUTPUT_FORMATS]] = OUTPUT_FORMAT,
    fmt: Literal[INPUT_FORMATS] = FMT,
    text_key: str = TEXT_KEY,
    batch_size: int = BATCH_SIZE,
    n_process: int = N_PROCESS,
    gpu_id: int = GPU_ID,
    on_error: Literal[ON_ERROR] = ON_ERROR_FLAG,
    tags: bool = TAGS,
    restart: bool = RESTART,
    html: Optional[Path] = HTML,
    html_docs: int = HTML_DOCS,
    max_length: Optional[int] = MAX_LENGTH,
    precision: Precision = PRECISION,
    ray: bool = RAY_FLAG,
    address: Optional[str] = ADDRESS,
    workers: int = WORKERS,
    cpus_per_worker: float = CPUS_PER_WORKER,
    gpus_per_worker: float = GPUS_PER_WORKER,
    docs_per_shard: Optional[int] = DOCS_PER_SHARD,
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
