"""The real transformer path, offline: a tiny random BERT through spacy-transformers and
the listener."""

import spacy

from stsn_dev.pipelines import examples_from_corpus


def test_tiny_bert_listener_learns_and_round_trips(tmp_path, tiny_bert_pipeline):
    nlp, records, corpus = tiny_bert_pipeline
    scores = nlp.evaluate(examples_from_corpus(nlp, corpus))
    assert scores["ents_f"] >= 0.9, scores
    assert scores["rel_strict_f"] >= 0.8, scores
    # sentences longer than the 24-piece window are covered by strided windows, and
    # reload is exact
    texts = [" ".join(r["tokens"]) for r in records]
    assert max(len(t.split()) for t in texts) > 24
    before = [(d.spans["stsn"].attrs["scores"], d._.relations) for d in nlp.pipe(texts)]
    nlp.to_disk(tmp_path / "copy")
    after = [
        (d.spans["stsn"].attrs["scores"], d._.relations)
        for d in spacy.load(tmp_path / "copy").pipe(texts)
    ]
    assert before == after


def test_document_far_longer_than_the_transformer_window_is_covered_to_the_end(
    tiny_bert_pipeline,
):
    """10,000+ tokens (hundreds of 24-piece windows, far past the 128 positions of the
    BERT and the 128-token attention window): every token is encoded, and the
    repetitions of a training sentence at the start, the middle and the end of the
    document all get most of its entities back."""
    nlp, records, _ = tiny_bert_pipeline
    record = next(r for r in records if r["relations"])
    n = len(record["tokens"])
    repeats = -(-10_000 // n)
    doc = nlp(" ".join([" ".join(record["tokens"])] * repeats))
    assert len(doc) == n * repeats >= 10_000
    assert len(doc._.stsn_tags) == len(doc)
    align = doc._.trf_data.align
    # no token without word pieces
    assert all(len(align[i].data) > 0 for i in range(len(doc)))
    gold = {(e["start"], e["end"], e["type"]) for e in record["entities"]}
    for k in (0, repeats // 2, repeats - 1):
        found = {
            (s.start - k * n, s.end - k * n, s.label_)
            for s in doc.spans["stsn"]
            if k * n <= s.start and s.end <= (k + 1) * n
        }
        assert len(found & gold) >= len(gold) / 2, (k, sorted(found), sorted(gold))
