"""The tiny inputs of ``--smoke`` runs: a ``["transformer", "stsn"]`` pipeline over a
random 2-layer, 32-wide BERT, trained 100 steps on 8 CoNLL04 sentences (enough for it to
predict entities and relations, so every code path of a benchmark runs), and those
sentences as train, dev and test corpora. Built once in a few seconds by the test
suite's own builders (:mod:`stsn_dev.tiny_bert`, seeded here, and
:mod:`stsn_dev.pipelines`), in ``$STSN_SMOKE_KIT`` or a temporary folder.

:func:`run_smoke` runs a script's smoke run as ``python SCRIPT --smoke`` would, in a
process forked from multiprocessing's forkserver, which imports torch, spaCy and
transformers once for all the scripts (about 4 s of CPU each time otherwise).
"""

import json
import multiprocessing
import os
import runpy
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import List, Tuple

from .data import data_dir

ENV = "STSN_SMOKE_KIT"
SPLITS = ("train", "dev", "test", "train_dev")
N_SENTENCES = 8
STEPS = 100
LEARN_RATE = 0.003  # 0.01 collapses to predicting no entity at all
# imported once by the forkserver, before anything runs (no thread pool exists to fork)
PRELOAD = [
    "torch",
    "spacy",
    "transformers",
    "spacy_transformers",
    "spacy_stsn.pipeline.component",
]


@dataclass(frozen=True)
class SmokeKit:
    root: Path

    @property
    def encoder(self) -> Path:
        """The tiny BERT, saved like a hub model (a config's ``paths.encoder``)."""
        return self.root / "encoder"

    @property
    def model(self) -> Path:
        return self.root / "output" / "model-last"

    @property
    def corpus(self) -> Path:
        """A folder with ``train``, ``dev``, ``test`` and ``train_dev`` ``.spacy``
        files."""
        return self.root / "corpus"

    @property
    def test(self) -> Path:
        return self.corpus / "test.spacy"

    @property
    def train(self) -> Path:
        return self.corpus / "train.spacy"

    @property
    def spert_json(self) -> Path:
        """The SpERT JSON file the sentences came from."""
        return data_dir() / "conll04" / "conll04_train.json"

    def check(self) -> None:
        """A kit whose pipeline predicts no relation would leave code paths unrun."""
        import spacy

        from .pipelines import examples_from_corpus

        nlp = spacy.load(self.model)
        examples = examples_from_corpus(nlp, self.test)
        docs = list(nlp.pipe(eg.predicted for eg in examples))
        if not any(doc._.relations for doc in docs):
            raise RuntimeError(f"{self.model}: the smoke pipeline predicts no relation")

    @classmethod
    def get(cls) -> "SmokeKit":
        """The kit at ``$STSN_SMOKE_KIT`` (built there if missing), else a new one in a
        temporary folder, exported for the processes this one starts."""
        root = os.environ.get(ENV) or tempfile.mkdtemp(prefix="stsn-smoke-kit-")
        os.environ[ENV] = root
        kit = cls(Path(root))
        return kit if (kit.root / "kit.json").exists() else cls.build(kit.root)

    @classmethod
    def build(cls, root: Path) -> "SmokeKit":
        """Train the tiny pipeline into ``root`` (empty or missing)."""
        import torch

        from .pipelines import LISTENER, TRANSFORMER, train_pipeline
        from .tiny_bert import make_tiny_bert

        kit = cls(Path(root))
        source = kit.spert_json
        if not source.exists():
            raise FileNotFoundError(f"{source}: not found (set STSN_DATA_DIR)")
        records = json.loads(source.read_text(encoding="utf8"))[:N_SENTENCES]
        kit.root.mkdir(parents=True, exist_ok=True)
        kit.encoder.mkdir()
        with torch.random.fork_rng():  # the same random encoder every time
            torch.manual_seed(0)
            make_tiny_bert(kit.encoder, records)
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # a tiny model on busy cores: more threads only wait
        try:
            _, corpus = train_pipeline(
                kit.root,
                records,
                LISTENER,
                STEPS,
                LEARN_RATE,
                extra=TRANSFORMER.format(name=kit.encoder),
                pipeline='["transformer", "stsn"]',
            )
        finally:
            torch.set_num_threads(threads)
        kit.corpus.mkdir(exist_ok=True)
        for split in SPLITS:
            shutil.copy(corpus, kit.corpus / f"{split}.spacy")
        kit.check()
        (kit.root / "kit.json").write_text(json.dumps({"sentences": len(records)}))
        return kit


def run_smoke(
    script: Path, output: Path, kit: SmokeKit, timeout: float = 600
) -> Tuple[int, str]:
    """``python SCRIPT --smoke --output OUTPUT`` on ``kit``, forked from the forkserver;
    its exit code and its output (stdout and stderr)."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)
    log = output.with_suffix(".log")
    argv = [str(script), "--smoke", "--output", str(output)]
    proc = context.Process(target=_run_script, args=(argv, str(kit.root), str(log)))
    proc.start()
    proc.join(timeout)
    if proc.is_alive():
        proc.kill()
        proc.join()
        return -9, f"timed out after {timeout} s\n" + log.read_text()
    return proc.exitcode, log.read_text()


def _run_script(argv: List[str], kit: str, log: str) -> None:
    """Run ``argv[0]`` as ``__main__`` with ``argv``, its output into ``log``."""
    import torch

    handle = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    os.dup2(handle, 1)
    os.dup2(handle, 2)
    torch.set_num_threads(1)
    os.environ.update({ENV: kit, "OMP_NUM_THREADS": "1"})
    sys.argv = argv
    sys.path.insert(0, str(Path(argv[0]).parent))
    try:
        runpy.run_path(argv[0], run_name="__main__")
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
