"""spacy_stsn.FeatureTok2Vec.v1: lexical features beside the transformer, over a tiny
random BERT whose tokenizer lowercases (as all-MiniLM-L6-v2's does) or keeps the
case."""

import numpy
import pytest
import spacy
from thinc.api import Adam, Config, Optimizer

from spacy_stsn.ml.model import torch_module
from stsn_dev.pipelines import (
    TRAIN_CONFIG,
    TRANSFORMER,
    _write_corpus,
    examples_from_corpus,
)

FEATURES = """
[components.stsn.model.tok2vec]
@architectures = "spacy_stsn.FeatureTok2Vec.v1"
features = {features}
width = 16
depth = 1
n_characters = {n_characters}

[components.stsn.model.tok2vec.tok2vec]
@architectures = "spacy-transformers.TransformerListener.v1"
grad_factor = 1.0
upstream = "*"

[components.stsn.model.tok2vec.tok2vec.pooling]
@layers = "reduce_max.v1"
"""
BERT_WIDTH = 32  # conftest.make_tiny_bert


def feature_pipeline(tmp_path, records, bert, features=True, n_characters=0):
    """["transformer", "stsn"] with the feature encoder and ``hidden_width = null``,
    initialized as ``spacy train`` does."""
    from spacy.training.initialize import init_nlp

    tmp_path.mkdir(parents=True, exist_ok=True)
    corpus = _write_corpus(tmp_path, records)
    tok2vec = FEATURES.format(features=str(features).lower(), n_characters=n_characters)
    text = TRAIN_CONFIG.format(
        tok2vec=tok2vec,
        steps=1,
        learn_rate=0.01,
        pipeline='["transformer", "stsn"]',
    ) + TRANSFORMER.format(name=bert)
    overrides = {
        "paths.train": str(corpus),
        "paths.dev": str(corpus),
        "components.stsn.model.hidden_width": None,
    }
    config = Config().from_str(text, overrides=overrides)
    config = spacy.util.load_model_from_config(config, auto_fill=True).config
    return init_nlp(config), corpus


def feature_params(stsn):
    features = stsn.model.get_ref("tok2vec").get_ref("features")
    return {
        (node.id, name): node.get_param(name).copy()
        for node in features.walk()
        for name in node.param_names
        if node.has_param(name)
    }


@pytest.mark.parametrize(
    "cased,n_characters", [(False, 0), (True, 4)], ids=["uncased", "cased+chars"]
)
def test_features_widen_the_head_see_the_case_and_train(
    tmp_path, conll04_records, tiny_bert, tiny_bert_cased, cased, n_characters
):
    bert = tiny_bert_cased if cased else tiny_bert
    nlp, corpus = feature_pipeline(
        tmp_path, conll04_records[:6], bert, n_characters=n_characters
    )
    stsn = nlp.get_pipe("stsn")
    tok2vec = stsn.model.get_ref("tok2vec")
    feature_width = 16 * (2 if n_characters else 1)
    # nO is declared, and hidden_width = null follows it
    assert tok2vec.get_dim("nO") == BERT_WIDTH + feature_width
    module = torch_module(stsn.model)
    assert module.dims[0] == module.width == BERT_WIDTH + feature_width
    assert stsn.cfg["input_width"] == BERT_WIDTH + feature_width

    # the features see the case that an uncased tokenizer takes away
    word = next(w for r in conll04_records for w in r["tokens"] if w.istitle())
    docs = list(
        nlp.get_pipe("transformer").pipe(nlp.make_doc(t) for t in (word, word.lower()))
    )
    upper, lower = (v[0] for v in tok2vec.predict(docs))
    # the same word pieces give the same vectors up to float32 rounding (two rows of one
    # batch need not agree to the last bit); another piece differs by far more
    same_transformer = numpy.allclose(
        upper[:BERT_WIDTH], lower[:BERT_WIDTH], rtol=1e-4, atol=1e-4
    )
    assert same_transformer == (not cased)
    assert not numpy.allclose(upper[BERT_WIDTH:], lower[BERT_WIDTH:])

    # one training step moves the features' weights, and the loss is finite
    before = feature_params(stsn)
    losses = nlp.update(examples_from_corpus(nlp, corpus)[:4], sgd=Adam(0.01))
    assert numpy.isfinite(losses["stsn"]) and losses["stsn"] > 0
    after = feature_params(stsn)
    assert before.keys() == after.keys() and before
    assert any(not numpy.array_equal(before[k], after[k]) for k in before)


def test_features_off_is_the_transformer_alone_and_features_round_trip(
    tmp_path, conll04_records, tiny_bert
):
    off, _ = feature_pipeline(tmp_path / "off", conll04_records[:6], tiny_bert, False)
    assert torch_module(off.get_pipe("stsn").model).dims[0] == BERT_WIDTH
    nlp, _ = feature_pipeline(tmp_path / "on", conll04_records[:6], tiny_bert)
    texts = [" ".join(r["tokens"]) for r in conll04_records[:6]]
    nlp.to_disk(tmp_path / "saved")
    loaded = spacy.load(tmp_path / "saved")
    vectors = [
        p.get_pipe("stsn")
        .model.get_ref("tok2vec")
        .predict(list(p.get_pipe("transformer").pipe(p.make_doc(t) for t in texts)))
        for p in (nlp, loaded)
    ]
    assert all(numpy.array_equal(a, b) for a, b in zip(*vectors))
    assert loaded.get_pipe("stsn").model.get_ref("tok2vec").get_dim("nO") == 48


class RecordingAdam(Optimizer):
    """thinc's Adam (its Optimizer) that records the learning-rate scale of each
    parameter's update."""

    def __init__(self, learn_rate):
        super().__init__(learn_rate)
        self.scales = {}

    def __call__(self, key, weights, gradient, *, lr_scale=1.0):
        self.scales[key] = lr_scale
        return super().__call__(key, weights, gradient, lr_scale=lr_scale)


def test_the_features_train_at_the_heads_learn_rate_scale(
    tmp_path, conll04_records, tiny_bert
):
    """The lexical features are randomly initialised like the head, so learn_rate_scale
    reaches them too; the transformer, updated by its own component, keeps the
    optimizer's rate."""
    nlp, corpus = feature_pipeline(tmp_path, conll04_records[:6], tiny_bert)
    stsn = nlp.get_pipe("stsn")
    stsn.model.attrs["learn_rate_scale"] = 7.0
    optimizer = RecordingAdam(0.01)
    nlp.update(examples_from_corpus(nlp, corpus)[:4], sgd=optimizer)
    features = set(feature_params(stsn))
    assert features and features <= set(optimizer.scales)
    assert {optimizer.scales[key] for key in features} == {7.0}
    others = set(optimizer.scales) - features
    assert others and {optimizer.scales[key] for key in others} == {1.0}
