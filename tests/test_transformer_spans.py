"""spacy_stsn.sentence_spans.v1: the transformer encodes each sentence of a long text as
it encodes that sentence alone, and cuts everything else as spacy-transformers'
strided spans do."""

from functools import partial

import numpy
import spacy
from spacy.tokens import Doc
from spacy.util import registry
from spacy_transformers.span_getters import get_strided_spans

from spacy_stsn.pipeline.transformer_spans import get_sentence_spans


def _bounds(spans):
    return [[(s.start, s.end) for s in doc_spans] for doc_spans in spans]


def test_without_sentences_the_spans_are_the_strided_ones():
    nlp = spacy.blank("en")
    docs = [nlp(" ".join("w" * n)) for n in (0, 3, 96, 128, 129, 300)]
    for doc in docs:
        assert _bounds(get_sentence_spans([doc], 128, 96)) == _bounds(
            get_strided_spans([doc], 128, 96)
        )


def test_each_sentence_is_a_span_and_a_long_one_is_strided():
    nlp = spacy.blank("en")
    words = ["w"] * 10 + ["x"] * 7
    doc = Doc(nlp.vocab, words=words, sent_starts=[i in (0, 3, 10) for i in range(17)])
    assert _bounds(get_sentence_spans([doc], 4, 3)) == [
        [(0, 3), (3, 7), (6, 10), (10, 14), (13, 17)]
    ]
    getter = registry.get("span_getters", "spacy_stsn.sentence_spans.v1")
    assert _bounds(getter(window=4, stride=3)([doc])) == [
        [(0, 3), (3, 7), (6, 10), (10, 14), (13, 17)]
    ]


def test_a_sentence_inside_a_text_predicts_as_it_does_alone(tiny_bert_pipeline):
    """With sentence starts, the joined text's entities and relations are those of its
    sentences one by one, shifted (the transformer's spans are the sentences, and so are
    the head's windows)."""
    nlp, records, _ = tiny_bert_pipeline
    records = records[:8]
    transformer = nlp.get_pipe("transformer").model
    strided = transformer.attrs["get_spans"]
    words = [w for r in records for w in r["tokens"]]
    starts = numpy.cumsum([0] + [len(r["tokens"]) for r in records[:-1]]).tolist()
    sent_starts = [i in starts for i in range(len(words))]
    try:
        transformer.attrs["get_spans"] = partial(
            get_sentence_spans, window=24, stride=16
        )
        alone = list(nlp.pipe([Doc(nlp.vocab, words=r["tokens"]) for r in records]))
        joined = nlp(Doc(nlp.vocab, words=words, sent_starts=sent_starts))
    finally:
        transformer.attrs["get_spans"] = strided

    expected_ents = [
        (e.start + offset, e.end + offset, e.label_)
        for doc, offset in zip(alone, starts)
        for e in doc.spans["stsn"]
    ]
    expected_rels = [
        (rel["head"][0] + offset, rel["tail"][0] + offset, rel["label"])
        for doc, offset in zip(alone, starts)
        for rel in doc._.relations
    ]
    found_ents = [(e.start, e.end, e.label_) for e in joined.spans["stsn"]]
    found_rels = [(r["head"][0], r["tail"][0], r["label"]) for r in joined._.relations]
    assert expected_ents and sorted(found_ents) == sorted(expected_ents)
    assert sorted(found_rels) == sorted(expected_rels)


def test_a_large_encoder_batch_runs_in_chunks_of_similar_length(tiny_bert):
    """Past ``max_items`` padded word pieces, the encoder runs in trimmed chunks; every
    row's real positions and its pooled output are what one padded call gives (its
    padding, which nothing reads, is not)."""
    import torch
    from thinc.api import ArgsKwargs
    from transformers import AutoModel

    from spacy_stsn.ml.encoder_batches import predict_by_length

    module = AutoModel.from_pretrained(tiny_bert).eval()
    generator = torch.Generator().manual_seed(0)
    lengths = torch.randint(3, 40, (23,), generator=generator)
    width = int(lengths.max())
    mask = (torch.arange(width)[None, :] < lengths[:, None]).long()
    ids = torch.randint(5, 100, (23, width), generator=generator) * mask
    inputs = ArgsKwargs(args=(), kwargs={"input_ids": ids, "attention_mask": mask})
    calls = []
    hook = module.register_forward_pre_hook(
        lambda _, args, kwargs: calls.append(kwargs["input_ids"].shape),
        with_kwargs=True,
    )
    with torch.no_grad():
        whole = module(**inputs.kwargs)
        chunked = predict_by_length(module, inputs, max_items=128)
    hook.remove()
    assert len(calls) > 2 and all(
        rows * length <= 128 or rows == 1 for rows, length in calls[1:]
    )
    real = mask.bool()
    assert torch.allclose(
        chunked.last_hidden_state[real], whole.last_hidden_state[real], atol=1e-5
    )
    assert chunked.last_hidden_state.shape == whole.last_hidden_state.shape
    assert torch.allclose(chunked.pooler_output, whole.pooler_output, atol=1e-5)
    # within max_items: one call, as before
    calls.clear()
    hook = module.register_forward_pre_hook(
        lambda _, args, kwargs: calls.append(kwargs["input_ids"].shape),
        with_kwargs=True,
    )
    with torch.no_grad():
        same = predict_by_length(module, inputs)
    hook.remove()
    assert len(calls) == 1 and torch.equal(
        same.last_hidden_state, whole.last_hidden_state
    )
