"""The pipeline's compute precision (spacy_stsn.precision.v1): how it resolves, that it
really reaches the transformer and the head in training and inference, and that
precisions are interchangeable over saved weights."""

from typing import List

import numpy
import pytest
import spacy
import torch
from spacy.training import Example
from spacy.util import registry

from spacy_stsn.ml.model import torch_module
from spacy_stsn.ml.precision import (
    describe,
    native_bfloat16,
    overrides,
    pipeline_precision,
    resolve,
)
from spacy_stsn.nn.cast_cache import invalidate
from spacy_stsn.pipeline.loading import load_pipeline
from stsn_dev.pipelines import LISTENER, TRAIN_CONFIG, TRANSFORMER, _write_corpus

CPU = torch.device("cpu")
PRECISION = """
[nlp.after_pipeline_creation]
@callbacks = "spacy_stsn.precision.v1"
precision = "{precision}"
"""


def test_precision_resolves_as_documented() -> None:
    assert resolve("float32", CPU) is None
    # asked for: emulated
    assert resolve("bfloat16", CPU, frozenset()) is torch.bfloat16
    for flags in ({"avx512_bf16"}, {"amx_bf16", "avx2"}, {"fp", "asimd", "bf16"}):
        assert resolve("auto", CPU, frozenset(flags)) is torch.bfloat16
    # a machine without native bfloat16 (simulated: an AVX2-only x86 CPU) computes auto
    # in float32
    assert resolve("auto", CPU, frozenset({"avx2", "fma", "avx512f"})) is None
    assert not native_bfloat16(torch.device("meta"))
    with pytest.raises(ValueError, match="float16"):
        resolve("float16", CPU)
    with pytest.raises(ValueError, match="precision must be one of"):
        registry.callbacks.get("spacy_stsn.precision.v1")(precision="fp16")


def hf_model(nlp) -> torch.nn.Module:
    return nlp.get_pipe("transformer").model.transformer


class DtypeProbe:
    """Records the output dtype of one Linear layer of the transformer and one of the
    head at each call."""

    def __init__(self, nlp) -> None:
        self.seen: List[tuple] = []
        self.hooks = []
        self.nlp = nlp

    def __enter__(self) -> "DtypeProbe":
        hf = hf_model(self.nlp)
        head = torch_module(self.nlp.get_pipe("stsn").model)
        for name, module in (
            ("transformer", hf.encoder.layer[0].intermediate.dense),
            ("head", head.project_e),
        ):
            self.hooks.append(
                module.register_forward_hook(
                    lambda mod, args, out, name=name: self.seen.append(
                        (name, out.dtype)
                    )
                )
            )
        return self

    def __exit__(self, *exc) -> None:
        for hook in self.hooks:
            hook.remove()

    def dtypes(self) -> set:
        return set(self.seen)


def bf16_pipeline(tmp_path, tiny_bert, records, precision="bfloat16"):
    """The tiny-BERT ["transformer", "stsn"] pipeline of the tests, created with a
    precision callback."""
    from spacy.training.initialize import init_nlp
    from thinc.api import Config

    corpus = _write_corpus(tmp_path, records)
    text = (
        TRAIN_CONFIG.format(
            tok2vec=LISTENER,
            steps=2,
            learn_rate=0.002,
            pipeline='["transformer", "stsn"]',
        )
        + TRANSFORMER.format(name=tiny_bert)
        + PRECISION.format(precision=precision)
    )
    config = Config().from_str(
        text, overrides={"paths.train": str(corpus), "paths.dev": str(corpus)}
    )
    config = spacy.util.load_model_from_config(config, auto_fill=True).config
    return init_nlp(config), corpus


def test_bfloat16_training_step_updates_float32_weights(
    tmp_path, tiny_bert, conll04_records, monkeypatch
):
    """A training step under bfloat16: both PyTorch models compute in bfloat16, the loss
    is finite, and the weights (transformer and head) stay float32 and move; after the
    backward passes the freed memory is handed back (spacy_stsn.ml.runtime)."""
    from spacy_stsn.ml import runtime as heap

    trims = []
    monkeypatch.setattr(heap, "EVERY", 1)
    monkeypatch.setattr(heap, "_malloc_trim", lambda: trims.append)
    nlp, corpus = bf16_pipeline(tmp_path, tiny_bert, conll04_records[:8])
    assert pipeline_precision(nlp) == "bfloat16"
    examples = [
        Example(nlp.make_doc(" ".join(d.text.split())), d)
        for d in spacy.tokens.DocBin().from_disk(corpus).get_docs(nlp.vocab)
    ]
    examples = [Example(eg.reference.copy(), eg.reference) for eg in examples]
    hf = hf_model(nlp)
    head = torch_module(nlp.get_pipe("stsn").model)
    before = {
        "transformer": hf.encoder.layer[0].intermediate.dense.weight.detach().clone(),
        "head": head.project_e.weight.detach().clone(),
    }
    texts = [eg.reference.text for eg in examples]
    list(nlp.pipe(texts))  # inference keeps bfloat16 copies of the weights
    optimizer = nlp.resume_training()
    with DtypeProbe(nlp) as probe:
        # two steps: spacy-transformers applies the listener's gradient to the
        # transformer one step late
        losses = nlp.update(examples[:4], sgd=optimizer)
        nlp.update(examples[4:], sgd=optimizer)
    assert probe.dtypes() == {("transformer", torch.bfloat16), ("head", torch.bfloat16)}
    assert numpy.isfinite(losses["stsn"]) and losses["stsn"] > 0
    # the head's two backward passes and the transformer's (one step late) at least
    assert len(trims) >= 3 and set(trims) == {0}
    after = {
        "transformer": hf.encoder.layer[0].intermediate.dense.weight,
        "head": head.project_e.weight,
    }
    for name, weight in after.items():
        assert weight.dtype == torch.float32, name
        assert not torch.equal(weight.detach(), before[name]), name
    for param in list(hf.parameters()) + list(head.parameters()):
        assert param.dtype == torch.float32
    # predictions after the steps use the new weights, not the copies made before
    scores = _predictions(nlp, texts)[1]
    invalidate()
    assert numpy.array_equal(scores, _predictions(nlp, texts)[1])


def test_trained_in_bfloat16_loads_and_predicts_in_float32(
    tmp_path, tiny_bert, conll04_records
):
    nlp, corpus = bf16_pipeline(tmp_path, tiny_bert, conll04_records[:8])
    nlp.to_disk(tmp_path / "bf16")
    texts = [" ".join(r["tokens"]) for r in conll04_records[:8]]
    loaded = spacy.load(tmp_path / "bf16")  # its own precision comes back with it
    assert pipeline_precision(loaded) == "bfloat16"
    with DtypeProbe(loaded) as probe:
        list(loaded.pipe(texts))
    assert probe.dtypes() == {("transformer", torch.bfloat16), ("head", torch.bfloat16)}
    f32, _ = load_pipeline(str(tmp_path / "bf16"), precision="float32")
    assert describe(f32) == "float32 (float32 on CPU)"
    with DtypeProbe(f32) as probe:
        docs = list(f32.pipe(texts))
    assert probe.dtypes() == {("transformer", torch.float32), ("head", torch.float32)}
    assert all(len(doc._.stsn_tags) == len(doc) for doc in docs)


def _predictions(nlp, texts):
    docs = list(nlp.pipe(texts))
    scores = numpy.concatenate(
        [numpy.asarray(d.spans["stsn"].attrs["scores"], dtype="f") for d in docs]
    )
    ents = [[(e.start, e.end, e.label_) for e in d.ents] for d in docs]
    rels = [[(r["head"], r["tail"], r["label"]) for r in d._.relations] for d in docs]
    return docs, scores, ents, rels


def test_bfloat16_and_float32_predictions_agree(tmp_path, tiny_bert_pipeline):
    """The tiny pipeline (trained in float32, saved without a precision callback)
    predicts the same entities and relations in bfloat16 on most documents, with span
    scores close to float32's but not equal (it really computed in bfloat16)."""
    nlp, records, _ = tiny_bert_pipeline
    nlp.to_disk(tmp_path / "model")
    texts = [" ".join(r["tokens"]) for r in records]
    f32 = load_pipeline(str(tmp_path / "model"))[0]
    bf16 = load_pipeline(str(tmp_path / "model"), precision="bfloat16")[0]
    assert pipeline_precision(f32) == "float32"
    with DtypeProbe(bf16) as probe:
        _, scores16, ents16, rels16 = _predictions(bf16, texts)
    assert probe.dtypes() == {("transformer", torch.bfloat16), ("head", torch.bfloat16)}
    _, scores32, ents32, rels32 = _predictions(f32, texts)
    same = [a == b for a, b in zip(ents32, ents16)]
    # measured: 15 of 15 documents identical, span scores at most 0.0013 apart
    assert sum(same) >= 0.9 * len(same), (ents32, ents16)
    assert sum(a == b for a, b in zip(rels32, rels16)) >= 0.9 * len(same)
    if scores32.shape == scores16.shape:
        diff = numpy.abs(scores32 - scores16)
        assert 0 < diff.max() < 0.01, diff.max()


def test_precision_alias_on_the_architecture_reaches_only_the_head_at_inference(
    tmp_path, tiny_bert_pipeline
):
    """``inference_precision = "bfloat16"`` of spacy_stsn.STSN.v1 (the old setting) is
    kept as an alias: the head computes in bfloat16 at inference, the transformer stays
    float32."""
    nlp, records, _ = tiny_bert_pipeline
    nlp.to_disk(tmp_path / "model")
    alias = spacy.load(
        tmp_path / "model",
        config={"components.stsn.model.inference_precision": "bfloat16"},
    )
    with DtypeProbe(alias) as probe:
        list(alias.pipe([" ".join(r["tokens"]) for r in records[:3]]))
    assert probe.dtypes() == {("transformer", torch.float32), ("head", torch.bfloat16)}
    with pytest.raises(Exception, match="inference_precision"):
        spacy.load(
            tmp_path / "model",
            config={"components.stsn.model.inference_precision": "float16"},
        )
    with pytest.raises(ValueError, match="float16"):
        overrides("float16")


def test_freed_memory_goes_back_where_the_c_library_can():
    """glibc (Linux): malloc_trim is found and called on every ``every``-th call."""
    from spacy_stsn.ml import runtime as heap

    if heap._malloc_trim() is None:
        pytest.skip("this C library has no malloc_trim")
    calls = [heap.release_free_memory(every=3) for _ in range(6)]
    assert calls.count(True) == 2


def test_sourcing_the_components_through_a_config_keeps_their_precision(
    tmp_path, tiny_bert_model_dir
):
    """``spacy assemble`` over a config that sources ``transformer`` and ``stsn`` (and
    has no precision callback of its own) from a bfloat16 pipeline: the assembled
    pipeline computes in bfloat16 too, and predicts what its source predicts."""
    from types import SimpleNamespace

    from spacy.cli.assemble import assemble_cli

    source = tmp_path / "source"
    spacy.load(tiny_bert_model_dir, config=overrides("bfloat16")).to_disk(source)
    config = tmp_path / "assemble.cfg"
    config.write_text(
        '[nlp]\nlang = "en"\npipeline = ["transformer", "stsn"]\n\n[components]\n\n'
        + "".join(
            f'[components.{name}]\nsource = "{source}"\n\n'
            for name in (
                "transformer",
                "stsn",
            )
        )
    )
    assemble_cli(SimpleNamespace(args=[]), config, tmp_path / "out", None, False)
    original, assembled = spacy.load(source), spacy.load(tmp_path / "out")
    assert pipeline_precision(assembled) == "bfloat16"
    texts = ["John Smith lives in Boston .", "Mary works for Acme Corp. in Rome ."]
    with DtypeProbe(assembled) as probe:
        _, scores, ents, rels = _predictions(assembled, texts)
    assert probe.dtypes() == {("transformer", torch.bfloat16), ("head", torch.bfloat16)}
    _, scores_before, ents_before, rels_before = _predictions(original, texts)
    assert (ents, rels) == (ents_before, rels_before)
    assert numpy.array_equal(scores, scores_before)
