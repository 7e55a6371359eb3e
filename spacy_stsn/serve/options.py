"""The settings of ``serve``, validated in one place.

:class:`ServeOptions` is what :func:`spacy_stsn.serve.serve` takes; each field's
``help`` (and ``choices``) is the flag's of the command line (``spacy stsn serve``,
:mod:`spacy_stsn.cli.serve`), which is made from the fields. Nothing here imports the
web stack.
"""

from dataclasses import MISSING, dataclass, field, fields
from typing import Any, Callable, Mapping, Optional, Union

from spacy.language import Language

from ..ml.precision import PRECISIONS, check_precision

# A pipeline path or package name, or a function that returns the pipeline (tests,
# pipelines built in Python)
PipelineSource = Union[str, Callable[[], Language]]


def _option(default: Any, help: str, **flag: Any) -> Any:
    return field(default=default, metadata={"help": help, **flag})


@dataclass
class ServeOptions:
    """Everything ``serve`` needs to know.

    model: the pipeline (a path, a package name, or a function that returns it).
    The other fields are the command's flags (``--max-batch`` for ``max_batch``); their
    help says what each does.
    """

    model: PipelineSource
    host: str = _option(
        "127.0.0.1",
        "the address to listen on (0.0.0.0: every interface; the default answers this "
        "machine only)",
    )
    port: int = _option(8000, "the port (0: any free one, printed at start)")
    max_batch: int = _option(
        32,
        "micro-batching: at most this many documents per nlp.pipe call, gathered from "
        "concurrent requests (1: one request at a time, no batching)",
    )
    max_wait_ms: float = _option(
        5.0,
        "micro-batching: how long the first request of a batch waits for others to "
        "join it, in milliseconds",
    )
    max_length: int = _option(
        100_000,
        "the longest text in characters; a longer one is refused with 413 (it also "
        "becomes the pipeline's nlp.max_length)",
    )
    max_texts: int = _option(64, "the most texts in one request (more: 413)")
    max_body_bytes: int = _option(
        2 * 1024 * 1024, "the largest request body in bytes (more: 413)"
    )
    max_queue: int = _option(
        1024,
        "the most documents waiting for the model; a request that would queue more is "
        "answered 503 with Retry-After, not left to time out",
    )
    tags: bool = _option(False, "also answer the tokens and their predicted tags")
    precision: Optional[str] = _option(
        None,
        "compute in this precision (default: the pipeline's own); bfloat16 answers can "
        "depend on the requests batched with them, float32 ones do not "
        "(docs/serving.md)",
        choices=PRECISIONS,
    )
    gpu_id: int = _option(-1, "the GPU of the local server (-1: CPU)")
    graceful_timeout: float = _option(
        30.0,
        "at SIGTERM or Ctrl-C: seconds to finish the requests in flight before exiting",
    )
    access_log: bool = _option(False, "log every request (uvicorn's access log)")
    # Ray Serve
    ray: bool = _option(
        False,
        "serve as a Ray Serve application (pip install spacy-stsn[serve-ray]): "
        "replicas that each load the pipeline, Serve's batching",
    )
    address: Optional[str] = _option(
        None, "--ray: the cluster to join (default: start a local Ray instance)"
    )
    replicas: int = _option(1, "--ray: replicas of the model, each with its pipeline")
    num_cpus: float = _option(1.0, "--ray: CPUs per replica")
    num_gpus: float = _option(0.0, "--ray: GPUs per replica")

    def __post_init__(self) -> None:
        positive = ("max_batch", "max_length", "max_texts", "max_body_bytes")
        for name in positive + ("max_queue", "replicas"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{_flag(name)} must be at least 1")
        for name in ("max_wait_ms", "graceful_timeout", "num_cpus", "num_gpus"):
            if getattr(self, name) < 0:
                raise ValueError(f"--{_flag(name)} must not be negative")
        if not 0 <= self.port < 65536:
            raise ValueError(f"--port must be between 0 and 65535, not {self.port}")
        if self.precision is not None:
            check_precision(self.precision)
        if self.max_queue < self.max_texts:
            raise ValueError(
                f"--max-queue ({self.max_queue}) must hold one request of --max-texts "
                f"({self.max_texts})"
            )

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> "ServeOptions":
        """The options named in ``values`` (``max_batch`` or ``max-batch``), the others
        at their defaults; a string value is read as the field's type (``serve run
        MODULE:build_app max_batch=16`` passes strings)."""
        known = {f.name: f for f in fields(cls)}
        given = {key.replace("-", "_"): value for key, value in values.items()}
        unknown = sorted(set(given) - set(known))
        if unknown:
            raise ValueError(
                f"unknown serve options {unknown}; known: {', '.join(known)}"
            )
        for name, value in given.items():
            default = known[name].default
            if (
                isinstance(value, str)
                and default is not MISSING
                and default is not None
            ):
                given[name] = _parse(name, value, type(default))
        return cls(**given)


def _parse(name: str, value: str, kind: type) -> Any:
    if kind is bool:
        if value.lower() not in ("true", "false", "1", "0"):
            raise ValueError(f"{name} must be true or false, not {value!r}")
        return value.lower() in ("true", "1")
    try:
        return kind(value)
    except ValueError:
        raise ValueError(f"{name} must be a {kind.__name__}, not {value!r}") from None


def _flag(name: str) -> str:
    return name.replace("_", "-")
