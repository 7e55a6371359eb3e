"""spaCy's own patterns around the ``stsn`` component: disabling its upstream
component, several threads on one pipeline, and replacing its listener inside the
features layer."""

import threading

import pytest
import spacy

from stsn_dev.pipelines import TRANSFORMER, init_pipeline

TEXTS = [
    "John Smith lives in Boston .",
    "Mary Jones works for Acme Corp. in Rome .\nShe was born in Paris .",
]

FEATURES_OVER_LISTENER = """
[components.stsn.model.tok2vec]
@architectures = "spacy_stsn.FeatureTok2Vec.v1"
width = 16
rows = [200, 100, 100, 100]
depth = 1

[components.stsn.model.tok2vec.tok2vec]
@architectures = "spacy-transformers.TransformerListener.v1"
upstream = "transformer"

[components.stsn.model.tok2vec.tok2vec.pooling]
@layers = "reduce_max.v1"
"""

TOK2VEC_LISTENER = """
[components.stsn.model.tok2vec]
@architectures = "spacy.Tok2VecListener.v1"
width = 32
upstream = "*"

[components.tok2vec]
factory = "tok2vec"

[components.tok2vec.model]
@architectures = "spacy.HashEmbedCNN.v2"
width = 32
depth = 1
embed_size = 500
window_size = 1
maxout_pieces = 2
subword_features = true
pretrained_vectors = null
"""


def predictions(nlp, texts=TEXTS):
    """Every scored span and relation of ``texts``, to compare pipelines exactly."""
    return [
        (
            [(s.start, s.end, s.label_) for s in doc.spans["stsn"]],
            doc.spans["stsn"].attrs["scores"],
            doc._.relations,
        )
        for doc in nlp.pipe(texts)
    ]


def test_stsn_refuses_docs_its_upstream_component_did_not_run_on(
    tiny_bert_pipeline, tmp_path, conll04_records
):
    """The listener would read zeros: an error naming the component instead, for a
    transformer and for a tok2vec; with it enabled, predictions come out."""
    nlp, _, _ = tiny_bert_pipeline
    with nlp.select_pipes(disable=["transformer"]):
        with pytest.raises(ValueError, match=r"component 'transformer' that 'stsn'"):
            nlp(TEXTS[0])
        with pytest.raises(ValueError, match=r"2 of 2 docs have no doc\._\.trf_data"):
            list(nlp.pipe(TEXTS))
    assert len(predictions(nlp)) == 2
    tok2vec, _ = init_pipeline(
        tmp_path,
        conll04_records[:4],
        TOK2VEC_LISTENER,
        pipeline='["tok2vec", "stsn"]',
    )
    assert len(predictions(tok2vec)) == 2
    with tok2vec.select_pipes(disable=["tok2vec"]):
        with pytest.raises(ValueError, match=r"no doc\.tensor.*component 'tok2vec'"):
            tok2vec(TEXTS[0])


def test_two_threads_on_one_pipeline_predict_as_one_does(tiny_bert_pipeline):
    """One thread stops inside the transformer (a hook on its last layer) while another
    runs the whole pipeline; then the first goes on. Thinc's predict switched the
    module back to train mode at the end of the second thread's pass, so the rest of
    the first one's ran with dropout and its predictions changed."""
    nlp, records, _ = tiny_bert_pipeline
    texts = [" ".join(r["tokens"]) for r in records[:6]]
    expected = predictions(nlp, texts)
    transformer = nlp.get_pipe("transformer").model.transformer
    inside, done = threading.Event(), threading.Event()
    first = {}

    def wait_for_the_other(module, args):
        if threading.current_thread().name == "first" and not inside.is_set():
            inside.set()
            assert done.wait(timeout=120)

    hook = transformer.encoder.layer[-1].register_forward_pre_hook(wait_for_the_other)
    try:
        thread = threading.Thread(
            target=lambda: first.update(result=predictions(nlp, texts)), name="first"
        )
        thread.start()
        assert inside.wait(timeout=120)
        second = predictions(nlp, texts)
        done.set()
        thread.join(timeout=120)
    finally:
        done.set()
        hook.remove()
    assert second == expected
    assert first["result"] == expected


def test_replace_listeners_inside_the_features_layer_saves_and_loads(
    tmp_path, tiny_bert, conll04_records
):
    """``nlp.replace_listeners`` at ``model.tok2vec.tok2vec`` (the shipped configs'
    place), the transformer removed: the pipeline saves, ``spacy.load`` loads it (it
    failed with "mismatched structure"), and every prediction is the original's."""
    nlp, _ = init_pipeline(
        tmp_path,
        conll04_records[:4],
        FEATURES_OVER_LISTENER,
        extra=TRANSFORMER.format(name=tiny_bert),
        pipeline='["transformer", "stsn"]',
    )
    original = predictions(nlp)
    nlp.replace_listeners("transformer", "stsn", ["model.tok2vec.tok2vec"])
    nlp.remove_pipe("transformer")
    inline = nlp.config["components"]["stsn"]["model"]["tok2vec"]["tok2vec"]
    assert inline["@architectures"] == "spacy-transformers.Tok2VecTransformer.v3"
    assert inline["pooling"] == {"@layers": "reduce_max.v1"}
    assert predictions(nlp) == original
    nlp.to_disk(tmp_path / "replaced")
    loaded = spacy.load(tmp_path / "replaced")
    assert loaded.pipe_names == ["stsn"]
    assert predictions(loaded) == original
