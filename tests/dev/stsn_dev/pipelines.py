"""Training small pipelines inside tests, with spaCy's own training loop (as ``spacy
train`` does)."""

import os
from pathlib import Path

import spacy
from spacy.tokens import Doc, DocBin
from spacy.training import Example
from thinc.api import Config

from spacy_stsn.formats.spert import spert_to_docs

CNN_TOK2VEC = """
[components.stsn.model.tok2vec]
@architectures = "spacy.Tok2Vec.v2"

[components.stsn.model.tok2vec.embed]
@architectures = "spacy.MultiHashEmbed.v2"
width = 64
attrs = ["ORTH", "SHAPE"]
rows = [2000, 200]
include_static_vectors = false

[components.stsn.model.tok2vec.encode]
@architectures = "spacy.MaxoutWindowEncoder.v2"
width = 64
depth = 2
window_size = 1
maxout_pieces = 3
"""

# The paper's Align Module over a transformer component: max-pooled word pieces through
# the listener.
LISTENER = """
[components.stsn.model.tok2vec]
@architectures = "spacy-transformers.TransformerListener.v1"
grad_factor = 1.0
upstream = "*"

[components.stsn.model.tok2vec.pooling]
@layers = "reduce_max.v1"
"""

# A transformer component over the model at ``{name}`` (resolved by encoder.v1, as the
# shipped configs do), with 24-piece strided windows so that ordinary sentences already
# span several windows.
TRANSFORMER = """
[components.transformer]
factory = "transformer"
max_batch_items = 4096

[components.transformer.model]
@architectures = "spacy-transformers.TransformerModel.v3"
mixed_precision = false

[components.transformer.model.name]
@misc = "spacy_stsn.encoder.v1"
name = "{name}"

[components.transformer.model.get_spans]
@span_getters = "spacy-transformers.strided_spans.v1"
window = 24
stride = 16

[components.transformer.model.tokenizer_config]
use_fast = true
"""

TRAIN_CONFIG = """
[paths]
train = null
dev = null

[system]
seed = 0
gpu_allocator = null

[nlp]
lang = "en"
pipeline = {pipeline}
batch_size = 8

[components]

[components.stsn]
factory = "stsn"
threshold = 0.4
neg_entity_samples = 100
neg_relation_samples = 100

[components.stsn.model]
@architectures = "spacy_stsn.STSN.v1"
hidden_width = 64
n_layers = 2
n_heads = 4
width_embedding = 25
max_span_width = 10
dropout = 0.0
{tok2vec}

[corpora]

[corpora.train]
@readers = "spacy.Corpus.v1"
path = ${{paths.train}}
gold_preproc = true

[corpora.dev]
@readers = "spacy.Corpus.v1"
path = ${{paths.dev}}
gold_preproc = true

[training]
seed = ${{system.seed}}
dropout = 0.0
max_epochs = 0
max_steps = {steps}
eval_frequency = {steps}
patience = 0
train_corpus = "corpora.train"
dev_corpus = "corpora.dev"

[training.batcher]
@batchers = "spacy.batch_by_sequence.v1"
size = 4

[training.optimizer]
@optimizers = "Adam.v1"
learn_rate = {learn_rate}

[training.score_weights]
ents_f = 0.5
rel_strict_f = 0.5

[initialize]
"""


def _write_corpus(tmp_path: Path, records, types=None) -> Path:
    """SpERT records as a .spacy corpus; ``types`` (a SpERT types dict) marks symmetric
    relation types."""
    nlp = spacy.blank("en")
    path = tmp_path / "train.spacy"
    symmetric = [
        label
        for label, info in (types or {}).get("relations", {}).items()
        if info.get("symmetric")
    ]
    docs = list(spert_to_docs(records, nlp.vocab, symmetric=symmetric))
    DocBin(docs=docs, store_user_data=True).to_disk(path)
    return path


def train_pipeline(
    tmp_path: Path,
    records,
    tok2vec: str,
    steps: int,
    learn_rate: float,
    extra: str = "",
    pipeline: str = '["stsn"]',
    optimizer: str = "Adam.v1",
    types=None,
    overrides=None,
    stdout=None,
):
    """Train with spaCy's own loop (``spacy.training.loop.train``), as ``spacy train``
    does; ``stdout`` gets its console output (default: none)."""
    from spacy.training.loop import train

    nlp, corpus = init_pipeline(
        tmp_path,
        records,
        tok2vec,
        steps,
        learn_rate,
        extra=extra,
        pipeline=pipeline,
        optimizer=optimizer,
        types=types,
        overrides=overrides,
    )
    out = tmp_path / "output"
    out.mkdir()
    train(nlp, out, stdout=stdout or open(os.devnull, "w"))
    return out / "model-last", corpus


def init_pipeline(
    tmp_path: Path,
    records,
    tok2vec: str,
    steps: int = 1,
    learn_rate: float = 0.001,
    extra: str = "",
    pipeline: str = '["stsn"]',
    optimizer: str = "Adam.v1",
    types=None,
    overrides=None,
):
    """The pipeline ``train_pipeline`` trains, initialized on ``records`` (as ``spacy
    train`` does before its loop), and its corpus."""
    from spacy.training.initialize import init_nlp

    corpus = _write_corpus(tmp_path, records, types)
    text = (
        TRAIN_CONFIG.format(
            tok2vec=tok2vec, steps=steps, learn_rate=learn_rate, pipeline=pipeline
        )
        + extra
    )
    overrides = {
        "paths.train": str(corpus),
        "paths.dev": str(corpus),
        "training.optimizer.@optimizers": optimizer,
        **(overrides or {}),
    }
    config = Config().from_str(text, overrides=overrides)
    config = spacy.util.load_model_from_config(
        config, auto_fill=True
    ).config  # spaCy's defaults, as fill-config
    return init_nlp(config), corpus


def examples_from_corpus(nlp, corpus):
    gold = list(DocBin().from_disk(corpus).get_docs(nlp.vocab))
    return [Example(Doc(nlp.vocab, words=[t.text for t in d]), d) for d in gold]
