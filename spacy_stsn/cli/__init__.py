"""The command line: ``python -m spacy_stsn COMMAND``, thin layers over the library."""

import argparse
import contextlib
import io
from typing import List


def check_command_line(argv: List[str]) -> None:
    """Parse a command line as the real CLI would, without running it.

    argv: the words after ``spacy stsn`` / ``python -m spacy_stsn``, e.g.
        ``["extract", "MODEL", "in.jsonl", "-o", "out.jsonl"]``.

    Raises ValueError naming the line and argparse's complaint on an unknown command or
    option, a missing argument or a bad value. Abbreviated options are refused too, so a
    documented flag that was renamed does not pass as a prefix of its new name.
    """
    from .main import build_parser

    parser = build_parser()
    _refuse_abbreviations(parser)
    stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(stderr):
            parser.parse_args(list(argv))
    except SystemExit as e:
        if e.code == 0:  # --help: a valid line
            return
        problem = stderr.getvalue().strip().splitlines()
        raise ValueError(
            f"{' '.join(argv)}: {problem[-1] if problem else 'does not parse'}"
        ) from None


def _refuse_abbreviations(parser: argparse.ArgumentParser) -> None:
    parser.allow_abbrev = False
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                _refuse_abbreviations(sub)
