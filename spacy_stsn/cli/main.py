"""Running the ``stsn`` app: :func:`main` (``python -m spacy_stsn``, and tests) and
:func:`check_command_line` (a command line parsed as the app would, not run)."""

import contextlib
import io
from typing import List, Optional

import typer
import typer.main

# the commands, registered on the app as they are imported
from . import convert, curve, evaluate, extract, serve, show, tune  # noqa: F401
from ._app import app

PROG = "python -m spacy_stsn"


def main(argv: Optional[List[str]] = None) -> int:
    """Run the command line ``argv`` (default: ``sys.argv[1:]``) and return its exit
    status: 0, 1 after ``error: ...`` on stderr, 2 for a command line that does not
    parse (click's message on stderr), 130 after Ctrl-C."""
    command = typer.main.get_command(app)
    try:
        status = command.main(args=argv, prog_name=PROG, standalone_mode=False)
    except typer.TyperException as err:  # a command line that does not parse
        err.show()
        return err.exit_code
    except typer.Abort:
        return 130
    return status if isinstance(status, int) else 0


def check_command_line(argv: List[str]) -> None:
    """Parse ``argv`` (a command line without the leading ``spacy stsn`` or ``python -m
    spacy_stsn``) exactly as the app would, without running the command.

    Args:
        argv: the command's words, e.g. ``["extract", "MODEL", "in.txt", "-o", "x"]``.

    Raises ``ValueError`` with the app's message for an unknown command or option, a
    missing argument, or a value of the wrong type or not among the choices. A line
    asking for ``--help`` parses (the help is not printed)."""
    group = typer.main.get_command(app)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            with group.make_context(PROG, list(argv)) as context:
                # the command's name and its words (click keeps the name apart)
                given = [*getattr(context, "_protected_args", []), *context.args]
                name, command, rest = group.resolve_command(context, given)
                command.make_context(name, rest, parent=context).close()
    except typer.Exit as exit:  # --help
        if exit.exit_code:
            raise ValueError(
                f"{' '.join(argv)}: exit status {exit.exit_code}"
            ) from None
    except typer.TyperException as err:
        raise ValueError(f"{' '.join(argv)}: {err.format_message()}") from None
