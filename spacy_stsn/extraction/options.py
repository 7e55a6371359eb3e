"""The options of ``extract`` and ``extract --ray``, validated in one place.

:class:`ExtractOptions` is what :func:`spacy_stsn.extraction.extract.extract` and
:func:`spacy_stsn.extraction.ray.driver.extract_on_ray` take; the command line builds
one from its flags. Nothing here imports Ray or loads a pipeline.
"""

from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any, Optional

from ..ml.precision import check_precision
from .failures import check_on_error
from .run import STDERR

# the input formats (``auto``: JSONL for .jsonl/.json files, else text) and the outputs
# (``brat``: the local command's, ``parquet``: --ray's)
INPUT_FORMATS = ("auto", "text", "jsonl")
OUTPUT_FORMATS = ("jsonl", "brat", "parquet")


@dataclass
class ExtractOptions:
    """How to extract; the fields are the command's flags (``--batch-size`` for
    ``batch_size``).

    Args:
        fmt: the input format, one of :data:`INPUT_FORMATS`.
        text_key: the JSONL field read, and the output field the text is written to.
        batch_size: documents per ``nlp.pipe`` batch (and per flush of the output).
        tags: also write the tokens and their predicted tags (JSONL output only).
        precision: compute in this precision (default: the pipeline's own).
        max_length: replaces ``nlp.max_length``; a longer text is an error of its line.
        on_error: ``"stop"`` at a line that fails, or ``"skip"`` (record it, go on).
        output_format: one of :data:`OUTPUT_FORMATS`; ``None``: JSONL (with Ray, a
            ``.parquet`` file OUTPUT is Parquet).
        restart: overwrite the output instead of resuming it.
        progress: where progress lines go (``None``: nowhere; the default: the
            ``sys.stderr`` of the call).
        n_process: the local command's ``nlp.pipe`` processes.
        gpu_id: the local command's GPU (-1: the CPU).
        html: the local command also renders the first ``html_docs`` documents it
            annotates with displaCy to this file.
        html_docs: how many documents ``html`` shows.
        address: Ray: the cluster to join (default: start a local Ray instance).
        workers: Ray: actors, each with its own copy of the pipeline.
        cpus_per_worker: Ray: CPUs per actor.
        gpus_per_worker: Ray: GPUs per actor.
        docs_per_shard: Ray: documents per shard of a folder OUTPUT (a multiple of
            ``batch_size``; default 16 batches).
    """

    fmt: str = "auto"
    text_key: str = "text"
    batch_size: int = 64
    tags: bool = False
    precision: Optional[str] = None
    max_length: Optional[int] = None
    on_error: str = "stop"
    output_format: Optional[str] = None
    restart: bool = False
    progress: Optional[IO[str]] = STDERR
    # the local command's
    n_process: int = 1
    gpu_id: int = -1
    html: Optional[Path] = None
    html_docs: int = 20
    # Ray's
    address: Optional[str] = None
    workers: int = 1
    cpus_per_worker: float = 1
    gpus_per_worker: float = 0
    docs_per_shard: Optional[int] = None

    def __post_init__(self) -> None:
        check_on_error(self.on_error)
        if self.precision is not None:
            check_precision(self.precision)
        _one_of("format", self.fmt, INPUT_FORMATS)
        if self.output_format is not None:
            _one_of("output format", self.output_format, OUTPUT_FORMATS)
        for name in ("batch_size", "n_process", "workers", "html_docs"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{_flag(name)} must be at least 1")
        for name in ("cpus_per_worker", "gpus_per_worker"):
            if getattr(self, name) < 0:
                raise ValueError(f"--{_flag(name)} must not be negative")
        if self.max_length is not None and self.max_length < 1:
            raise ValueError("--max-length must be at least 1")
        if self.output_format == "brat" and self.tags:
            raise ValueError(
                "tags are written to JSONL output only (brat has no place for them)"
            )

    @property
    def output(self) -> str:
        """The local command's output format (JSONL unless asked otherwise)."""
        return self.output_format or "jsonl"

    def check_local(self) -> None:
        """``ValueError`` for an option only ``--ray`` has."""
        if self.docs_per_shard or self.output_format == "parquet":
            raise ValueError("--docs-per-shard and --output-format parquet are --ray's")

    def check_ray(self) -> None:
        """``ValueError`` for an option only the local command has: the workers never
        hand documents back to render, Ray's actors are its processes, and Ray gives
        each its GPUs."""
        if self.html is not None or self.n_process != 1 or self.gpu_id != -1:
            raise ValueError(
                "--html, --n-process and --gpu-id are the local command's "
                "(--ray: --gpus-per-worker)"
            )

    @classmethod
    def of(
        cls, options: Optional["ExtractOptions"], **changes: Any
    ) -> "ExtractOptions":
        """``options`` (default: the defaults) with ``changes``: the library functions'
        keyword style (``extract(model, source, out, batch_size=4)``)."""
        if options is None:
            return cls(**changes)
        return replace(options, **changes) if changes else options


def _one_of(what: str, value: str, choices: tuple) -> None:
    if value not in choices:
        raise ValueError(f"{what}: one of {choices}, not {value!r}")


def _flag(name: str) -> str:
    return name.replace("_", "-")
