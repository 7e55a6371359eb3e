"""Shared fixtures: the benchmark data location and a tiny randomly initialised BERT
built offline."""

import json
from pathlib import Path
from typing import Dict, List

import pytest

from stsn_dev.data import data_dir
from stsn_dev.tiny_bert import make_tiny_bert

DATA_DIR = data_dir()


def load_records(dataset: str, name: str, n: int) -> List[Dict]:
    path = DATA_DIR / dataset / name
    if not path.exists():
        pytest.skip(f"benchmark data not found at {path} (set STSN_DATA_DIR)")
    return json.loads(path.read_text(encoding="utf8"))[:n]


@pytest.fixture(scope="session")
def conll04_records() -> List[Dict]:
    return load_records("conll04", "conll04_train.json", 20)


@pytest.fixture(scope="session")
def ade_overlap_records() -> List[Dict]:
    """Ten ADE sentences, the first five of which have nested entities (the extended BIO
    case)."""
    records = load_records("ade", "ade_full.json", 10_000)

    def nested(r: Dict) -> bool:
        spans = sorted((e["start"], e["end"]) for e in r["entities"])
        return any(a[1] > b[0] for a, b in zip(spans, spans[1:]))

    with_overlap = [r for r in records if nested(r)][:5]
    without = [r for r in records if not nested(r) and len(r["tokens"]) < 30][:5]
    return with_overlap + without


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory, conll04_records, ade_overlap_records) -> str:
    """The tiny random BERT with an uncased (lowercasing) tokenizer, as all-MiniLM-L6-v2
    has."""
    return make_tiny_bert(
        tmp_path_factory.mktemp("tiny-bert"), conll04_records + ade_overlap_records
    )


@pytest.fixture(scope="session")
def tiny_bert_cased(tmp_path_factory, conll04_records, ade_overlap_records) -> str:
    """The tiny random BERT with a cased tokenizer and vocabulary."""
    return make_tiny_bert(
        tmp_path_factory.mktemp("tiny-bert-cased"),
        conll04_records + ade_overlap_records,
        cased=True,
    )


@pytest.fixture(scope="session")
def trained(tmp_path_factory, conll04_records, ade_overlap_records):
    """A CNN-tok2vec STSN pipeline trained by spaCy's loop until it reproduces 20
    CoNLL04 + 10 ADE sentences."""
    import spacy

    from stsn_dev.pipelines import CNN_TOK2VEC, train_pipeline

    tmp_path = tmp_path_factory.mktemp("cnn")
    model_dir, corpus = train_pipeline(
        tmp_path, conll04_records + ade_overlap_records, CNN_TOK2VEC, 600, 0.003
    )
    return spacy.load(model_dir), model_dir, corpus


@pytest.fixture(scope="session")
def tiny_bert_pipeline(
    tmp_path_factory, tiny_bert, conll04_records, ade_overlap_records
):
    """["transformer", "stsn"] over the tiny random BERT, trained by spaCy's loop on 15
    sentences."""
    import spacy

    from stsn_dev.pipelines import LISTENER, TRANSFORMER, train_pipeline

    records = conll04_records[:10] + ade_overlap_records[:5]
    tmp_path = tmp_path_factory.mktemp("tiny-bert-pipeline")
    model_dir, corpus = train_pipeline(
        tmp_path,
        records,
        LISTENER,
        400,
        0.002,
        extra=TRANSFORMER.format(name=tiny_bert),
        pipeline='["transformer", "stsn"]',
    )
    return spacy.load(model_dir), records, corpus


@pytest.fixture(scope="session")
def tiny_bert_model_dir(tmp_path_factory, tiny_bert_pipeline) -> Path:
    """The tiny BERT pipeline saved, for the commands that load a pipeline from disk."""
    path = tmp_path_factory.mktemp("tiny-bert-model") / "model"
    tiny_bert_pipeline[0].to_disk(path)
    return path


@pytest.fixture(scope="session")
def quick_pipeline(tmp_path_factory, conll04_records):
    """A CNN-tok2vec stsn pipeline after one training step on five sentences, with its
    corpus: its predictions are noise, but it loads and runs as a trained one does, in
    seconds; for the commands around the model."""
    from stsn_dev.pipelines import CNN_TOK2VEC, train_pipeline

    tmp_path = tmp_path_factory.mktemp("quick")
    return train_pipeline(tmp_path, conll04_records[:5], CNN_TOK2VEC, 1, 0.001)


@pytest.fixture(scope="session")
def doubled_pipeline(tmp_path_factory, quick_pipeline):
    """:func:`quick_pipeline` with the test doubles of tests/doubles.py after its stsn:
    a component that fails on a marker text, and one that sleeps per document when
    asked to (the predictions are the quick pipeline's)."""
    from doubles import with_doubles

    model_dir, _ = quick_pipeline
    return with_doubles(model_dir, tmp_path_factory.mktemp("doubled") / "model")
