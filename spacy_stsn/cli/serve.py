"""``spacy stsn serve``: the HTTP service. Its flags are made from the fields of
:class:`spacy_stsn.serve.options.ServeOptions` (name, type, default, help, choices),
so the options are described once; FastAPI, uvicorn and Ray are imported when the
server starts."""

import inspect
from dataclasses import MISSING, Field, fields
from typing import Any, List, Literal, Optional

import typer

from ..serve.options import ServeOptions
from ._app import command

MODEL_HELP = "A pipeline folder or an installed package"


def serve_cli(model: str, **options: Any) -> None:
    """An HTTP service (pip install spacy-stsn[serve]): POST /extract with
    micro-batching, a page to try it at /, /health, /ready, /metrics
    (docs/serving.md)."""
    from ..serve import serve

    serve(ServeOptions(model, **options))


def _flag(option: Field) -> inspect.Parameter:
    """The ``--flag`` of a field of :class:`ServeOptions`."""
    help, choices = option.metadata["help"], option.metadata.get("choices")
    declaration = typer.Option(
        option.default,
        f"--{option.name.replace('_', '-')}",
        help=help[:1].upper() + help[1:],
    )
    # typer offers a Literal's values as the choices
    kind = Optional[Literal[tuple(choices)]] if choices else option.type
    return inspect.Parameter(
        option.name,
        inspect.Parameter.KEYWORD_ONLY,
        default=declaration,
        annotation=kind,
    )


def _parameters() -> List[inspect.Parameter]:
    model = inspect.Parameter(
        "model",
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
        default=typer.Argument(
            ..., help=MODEL_HELP, metavar="MODEL", show_default=False
        ),
        annotation=str,
    )
    flags = [_flag(f) for f in fields(ServeOptions) if f.default is not MISSING]
    return [model, *flags]


serve_cli.__signature__ = inspect.Signature(_parameters())  # type: ignore[attr-defined]
serve_cli.__annotations__ = {p.name: p.annotation for p in _parameters()}
command("serve")(serve_cli)
