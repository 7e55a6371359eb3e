"""The real transformer path, offline: a tiny random BERT through spacy-transformers and the listener."""
import spacy

from pipelines import examples_from_corpus, train_pipeline

LISTENER = """
[components.stsn.model.tok2vec]
@architectures = "spacy-transformers.TransformerListener.v1"
grad_factor = 1.0
upstream = "*"

[components.stsn.model.tok2vec.pooling]
@layers = "reduce_max.v1"
"""

TRANSFORMER = """
[components.transformer]
factory = "transformer"
max_batch_items = 4096

[components.transformer.model]
@architectures = "spacy-transformers.TransformerModel.v3"
name = "{name}"
mixed_precision = false

[components.transformer.model.get_spans]
@span_getters = "spacy-transformers.strided_spans.v1"
window = 24
stride = 16

[components.transformer.model.tokenizer_config]
use_fast = true
"""


def test_tiny_bert_listener_learns_and_round_trips(tmp_path, tiny_bert, conll04_records, ade_overlap_records):
    records = conll04_records[:10] + ade_overlap_records[:5]
    model_dir, corpus = train_pipeline(tmp_path, records, LISTENER, 400, 0.002,
                                       extra=TRANSFORMER.format(name=tiny_bert),
                                       pipeline='["transformer", "stsn"]')
    nlp = spacy.load(model_dir)
    scores = nlp.evaluate(examples_from_corpus(nlp, corpus))
    assert scores["ents_f"] >= 0.9, scores
    assert scores["rel_strict_f"] >= 0.8, scores
    # sentences longer than the 24-piece window are covered by strided windows, and reload is exact
    texts = [" ".join(r["tokens"]) for r in records]
    assert max(len(t.split()) for t in texts) > 24
    before = [(d.spans["stsn"].attrs["scores"], d._.relations) for d in nlp.pipe(texts)]
    nlp.to_disk(tmp_path / "copy")
    after = [(d.spans["stsn"].attrs["scores"], d._.relations) for d in spacy.load(tmp_path / "copy").pipe(texts)]
    assert before == after
