"""``spacy stsn``: the ``stsn`` app added to spaCy's own command line. spaCy imports
this module through the ``spacy_cli`` entry point (``registry.cli``) before it runs a
command, as spaCy's plugins such as spacy-huggingface-hub do."""

from spacy.cli._util import app as spacy_app

from .main import app

spacy_app.add_typer(app, name="stsn")
