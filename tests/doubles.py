"""Test doubles for the commands around the model: pipeline components that fail on a
marker text, or slow every document down, and a way to run the command line in a
subprocess that knows them.

The components are registered when this module is imported, or by
:func:`register` (what a Ray worker runs, which never imports it); a pipeline saved with
them loads only where they are registered, so subprocesses run the command line through
:func:`command`.
"""

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterable, Iterator, List

import spacy
from spacy.language import Language
from spacy.tokens import Doc
from spacy.util import minibatch

MARKER = "FAIL-HERE"
FAILING, SLOW = "stsn_test_failing", "stsn_test_slow"
# seconds the slow component sleeps per document (none when unset)
SLOW_ENV = "STSN_TEST_SECONDS_PER_DOC"


class FailOnMarker:
    """A component whose batch fails when one of its documents holds :data:`MARKER`
    (as a model that cannot handle one document fails its whole batch); alone, that
    document fails and any other passes."""

    def __call__(self, doc: Doc) -> Doc:
        if MARKER in doc.text:
            raise RuntimeError(f"a test double fails on {MARKER!r}")
        return doc

    def pipe(self, docs: Iterable[Doc], batch_size: int = 128) -> Iterator[Doc]:
        for batch in minibatch(docs, batch_size):
            for doc in batch:
                self(doc)
            yield from batch


def slow(doc: Doc) -> Doc:
    time.sleep(float(os.environ.get(SLOW_ENV, "0")))
    return doc


def register() -> None:
    if not Language.has_factory(FAILING):
        Language.factory(FAILING, func=lambda nlp, name: FailOnMarker())
    if not Language.has_factory(SLOW):
        Language.component(SLOW, func=slow)


register()


def with_doubles(model_dir: Path, out: Path) -> Path:
    """The pipeline at ``model_dir`` with the slow and the failing component after its
    own, saved to ``out``."""
    nlp = spacy.load(model_dir)
    nlp.add_pipe(SLOW)
    nlp.add_pipe(FAILING)
    nlp.to_disk(out)
    return out


def load_with_doubles(model_dir: str) -> Language:
    """The pipeline at ``model_dir`` (saved by :func:`with_doubles`), in a process that
    has not imported this module (a Ray worker)."""
    register()
    return spacy.load(model_dir)


def command(argv: List[str]) -> List[str]:
    """``python -m spacy_stsn ARGV`` in a process that knows the doubles."""
    code = (
        f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); "
        "import doubles; from spacy_stsn.cli.main import main; "
        "sys.exit(main(sys.argv[1:]))"
    )
    return [sys.executable, "-c", code, *map(str, argv)]


def start(argv: List[str], seconds_per_doc: float = 0.0, **kwargs) -> subprocess.Popen:
    """Start :func:`command` with the slow component at ``seconds_per_doc``."""
    env = {**os.environ, SLOW_ENV: str(seconds_per_doc), "HF_HUB_OFFLINE": "1"}
    return subprocess.Popen(command(argv), env=env, text=True, **kwargs)
