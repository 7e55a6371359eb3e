"""``python -m spacy_stsn``: the command line (:mod:`spacy_stsn.cli`), the same app as
``spacy stsn``."""

import sys

from .cli.main import main

if __name__ == "__main__":
    sys.exit(main())
