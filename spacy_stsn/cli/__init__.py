"""The command line: ``spacy stsn COMMAND`` (or ``python -m spacy_stsn COMMAND``), one
module per command, each a thin layer over a library function; ``main.main`` runs it."""

from .main import check_command_line

__all__ = ["check_command_line"]
