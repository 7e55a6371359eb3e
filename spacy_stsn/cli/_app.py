"""The ``stsn`` typer app that every command registers on, and what the commands share:
the errors a user sees (``error: ...`` on stderr, exit 1; Ctrl-C's message, exit 130)
and the check of a command's outputs before it starts."""

import functools
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import (
    Any,
    Callable,
    Iterable,
    Iterator,
    List,
    Literal,
    Optional,
    Sequence,
)

import typer
import typer.core

from ..extraction.outputs import refuse_overwriting_inputs
from ..files import check_writable
from ..ml.precision import PRECISIONS

NAME = "stsn"
HELP = """STSN joint entity and relation extraction: convert corpora, evaluate, tune and
inspect pipelines, extract from text at scale, serve over HTTP.
"""
PRECISION_HELP = (
    "Compute in this precision, the transformer and the stsn head (default: the "
    "pipeline's own, [nlp.after_pipeline_creation] spacy_stsn.precision.v1); auto = "
    "bfloat16 where the CPU or GPU has it natively; --inference-precision is the old "
    "name"
)


class GreedyListCommand(typer.core.TyperCommand):
    """A command whose list options (``greedy``) take every value that follows them,
    ``--grid 0.3 0.5`` as argparse's ``nargs="+"`` did, as well as click's repeated
    ``--grid 0.3 --grid 0.5``."""

    greedy: Sequence[str] = ()

    def parse_args(self, ctx: Any, args: List[str]) -> List[str]:
        return super().parse_args(ctx, _repeat_greedy(args, self.greedy))


def _repeat_greedy(args: List[str], greedy: Sequence[str]) -> List[str]:
    """``--grid 0.3 0.5`` as ``--grid 0.3 --grid 0.5``: the numbers after an option of
    ``greedy`` (up to the next option or ``--``)."""
    result: List[str] = []
    option: Optional[str] = None  # the greedy option the numbers go to
    for i, arg in enumerate(args):
        if arg == "--":
            result.extend(args[i:])
            break
        if option is not None and _is_number(arg):
            result.extend([option, arg])
            continue
        option = arg if arg in greedy else None
        # a greedy option is repeated before each of its values; given none, click
        # says it needs one
        if option is None or not args[i + 1 :] or not _is_number(args[i + 1]):
            result.append(arg)
    return result


def _is_number(arg: str) -> bool:
    try:
        float(arg)
    except ValueError:
        return False
    return True


def greedy_command(*options: str) -> type:
    """A :class:`GreedyListCommand` for ``options``."""
    return type("Greedy", (GreedyListCommand,), {"greedy": tuple(options)})


app = typer.Typer(
    name=NAME,
    help=HELP,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
    # spaCy's own app's: help as plain text
    rich_markup_mode=None,
)


# --precision's values (typer offers a Literal's values as choices)
Precision = Optional[Literal[PRECISIONS]]  # type: ignore[valid-type]


def command(name: str, **settings: Any) -> Callable[[Callable], Callable]:
    """Register the decorated function as the command ``name`` of :data:`app`, its
    errors reported as the user should see them (:func:`user_errors`)."""

    def register(function: Callable) -> Callable:
        @functools.wraps(function)
        def run(*args: Any, **kwargs: Any) -> None:
            with user_errors():
                function(*args, **kwargs)

        app.command(name, **settings)(run)
        return function

    return register


@contextmanager
def user_errors() -> Iterator[None]:
    """A user's mistake or the world's (a missing file, a full disk, a lost mount) as
    ``error: ...`` on stderr and exit status 1; Ctrl-C as its message (``extract``'s
    says where it stopped) and 130."""
    try:
        yield
    except (ValueError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        raise typer.Exit(1) from None
    except KeyboardInterrupt as err:
        print(str(err) or "stopped (Ctrl-C)", file=sys.stderr)
        raise typer.Exit(130) from None


def check_outputs(
    outputs: Iterable[Optional[Path]], inputs: Iterable[Optional[Path]] = ()
) -> None:
    """Before anything is read or written: no output is an input or inside an input
    folder (:func:`spacy_stsn.extraction.outputs.refuse_overwriting_inputs`), and each
    can be written (:func:`spacy_stsn.files.check_writable`)."""
    outputs, inputs = list(outputs), list(inputs)
    if inputs:
        for output in outputs:
            if output is not None:
                refuse_overwriting_inputs(output, inputs)
    check_writable(*outputs)
