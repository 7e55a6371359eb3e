"""The stsn component through spaCy's own machinery: factory, training loop,
serialization, bad input."""

import subprocess
import sys

import pytest
import spacy
import torch
from spacy.tokens import Doc, DocBin
from spacy.training import Example

from spacy_stsn.pipeline.annotations import make_relation, set_entities
from stsn_dev.pipelines import examples_from_corpus


def test_factory_is_found_through_entry_points_without_import():
    code = (
        "import sys, spacy; nlp = spacy.blank('en'); nlp.add_pipe('stsn'); "
        "print(type(nlp.get_pipe('stsn')).__module__)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "spacy_stsn.pipeline.component"


def test_learns_its_training_data_through_the_training_loop(trained):
    nlp, _, corpus = trained
    scores = nlp.evaluate(examples_from_corpus(nlp, corpus))
    assert scores["ents_f"] == 1.0
    assert scores["rel_f"] == 1.0
    assert scores["rel_strict_f"] == 1.0


def test_overlaps_go_to_the_span_group_and_tags_use_extended_bio(
    trained, ade_overlap_records
):
    nlp, _, _ = trained
    stsn = nlp.get_pipe("stsn")
    # chosen automatically: the ADE sentences nest
    assert stsn.cfg["tag_scheme"] == "extended_BIO"
    record = ade_overlap_records[0]
    doc = nlp(Doc(nlp.vocab, words=record["tokens"]))
    gold = sorted((e["start"], e["end"], e["type"]) for e in record["entities"])
    assert sorted((s.start, s.end, s.label_) for s in doc.spans["stsn"]) == gold
    assert len(doc.spans["stsn"].attrs["scores"]) == len(gold)
    covered = [i for ent in doc.ents for i in range(ent.start, ent.end)]
    assert len(covered) == len(set(covered)) and len(doc.ents) < len(gold)
    assert any("/" in tag for tag in doc._.stsn_tags)
    assert doc[0]._.stsn_tag == doc._.stsn_tags[0]
    rel = doc._.relation_spans[0]
    assert (
        rel.head.label_ == "Adverse-Effect"
        and rel.tail.label_ == "Drug"
        and 0.4 <= rel.score <= 1.0
    )


def test_to_disk_from_disk_gives_identical_predictions(
    trained, tmp_path, conll04_records
):
    nlp, _, _ = trained
    texts = [" ".join(r["tokens"]) for r in conll04_records[:8]]
    before = [
        (d.spans["stsn"].attrs["scores"], d._.relations, d._.stsn_tags)
        for d in nlp.pipe(texts)
    ]
    nlp.to_disk(tmp_path / "copy")
    reloaded = spacy.load(tmp_path / "copy")
    after = [
        (d.spans["stsn"].attrs["scores"], d._.relations, d._.stsn_tags)
        for d in reloaded.pipe(texts)
    ]
    assert before == after
    from_bytes = spacy.blank("en").from_config(nlp.config).from_bytes(nlp.to_bytes())
    assert [
        (d.spans["stsn"].attrs["scores"], d._.relations) for d in from_bytes.pipe(texts)
    ] == [(b[0], b[1]) for b in before]


def test_docbin_and_to_bytes_keep_relations_span_groups_and_tags(
    trained, conll04_records
):
    nlp, _, _ = trained
    docs = list(nlp.pipe(" ".join(r["tokens"]) for r in conll04_records[:5]))
    assert any(d._.relations for d in docs)
    restored = list(
        DocBin(docs=docs, store_user_data=True)
        .from_bytes(DocBin(docs=docs, store_user_data=True).to_bytes())
        .get_docs(nlp.vocab)
    )
    for doc, back in zip(docs, restored):
        assert back._.relations == doc._.relations
        assert back._.stsn_tags == doc._.stsn_tags
        assert [(s.start, s.end, s.label_) for s in back.spans["stsn"]] == [
            (s.start, s.end, s.label_) for s in doc.spans["stsn"]
        ]
        assert back.spans["stsn"].attrs["scores"] == doc.spans["stsn"].attrs["scores"]
        assert [(e.start, e.end, e.label_) for e in back.ents] == [
            (e.start, e.end, e.label_) for e in doc.ents
        ]
        single = Doc(nlp.vocab).from_bytes(doc.to_bytes())
        assert single._.relations == doc._.relations


def test_empty_and_whitespace_docs_get_empty_annotations(trained):
    nlp, _, _ = trained
    docs = list(nlp.pipe(["", "   ", "John Smith lives in Boston ."]))
    assert [len(d) for d in docs][:1] == [0]
    for doc in docs[:2]:
        assert (
            list(doc.ents) == []
            and doc._.relations == []
            and len(doc.spans["stsn"]) == 0
        )


def _one_example(nlp, label="Peop", rel_tail=(3, 4)):
    words = "John Smith lives in Boston".split()
    ref = Doc(nlp.vocab, words=words)
    ref.user_data["orig_id"] = 4242
    set_entities(ref, [(0, 2, label), (4, 5, "Loc")])
    ref._.relations = [make_relation((0, 2), label, rel_tail, "Loc", "Live_In")]
    return Example(Doc(nlp.vocab, words=words), ref)


def test_update_rejects_unknown_label_and_dangling_relation_naming_the_doc(trained):
    nlp, _, _ = trained
    stsn = nlp.get_pipe("stsn")
    with pytest.raises(ValueError, match=r"orig_id=4242.*'Person'"):
        stsn.update([_one_example(nlp, label="Person", rel_tail=(4, 5))])
    with pytest.raises(ValueError, match=r"orig_id=4242.*\[3, 4\).*not an entity"):
        stsn.update([_one_example(nlp)])


def test_relation_outside_the_doc_is_rejected():
    nlp = spacy.blank("en")
    doc = nlp("a b c")
    with pytest.raises(ValueError, match=r"outside the document's 3 tokens"):
        doc._.relations = [make_relation((0, 1), "X", (2, 9), "Y", "R")]
    assert doc._.relations == []


def test_corrupt_model_directory_gives_a_clear_error(trained, tmp_path):
    nlp, model_dir, _ = trained
    nlp.to_disk(tmp_path / "broken")
    (tmp_path / "broken" / "stsn" / "model").write_bytes(b"not a model")
    with pytest.raises(
        ValueError, match=r"could not load the model weights from .*stsn/model"
    ):
        spacy.load(tmp_path / "broken")


def test_initialize_without_entities_is_an_error():
    nlp = spacy.blank("en")
    nlp.add_pipe("stsn")
    example = Example(nlp.make_doc("nothing here"), nlp.make_doc("nothing here"))
    with pytest.raises(ValueError, match="no entity labels"):
        nlp.initialize(lambda: [example])


def test_pipe_predicts_sub_batches_of_similar_length_within_max_batch_items(
    trained, conll04_records, monkeypatch
):
    """``pipe`` groups docs by length (``max_batch_items`` padded positions, a longer
    doc alone), ``predict`` gets each group whole, and every doc comes back annotated,
    in order."""
    nlp, _, _ = trained
    stsn = nlp.get_pipe("stsn")
    monkeypatch.setitem(stsn.cfg, "max_batch_items", 64)
    calls = []
    predict = stsn.predict
    monkeypatch.setattr(
        stsn,
        "predict",
        lambda docs: calls.append([len(d) for d in docs]) or predict(docs),
    )
    texts = [
        " ".join(r["tokens"][:n])
        for r, n in zip(conll04_records, [30, 2, 31, 3, 100, 4])
    ]
    docs = list(nlp.pipe(texts))
    assert [d.text for d in docs] == texts
    assert sorted(n for call in calls for n in call) == sorted(len(d) for d in docs)
    assert all(len(call) * max(call) <= 64 or len(call) == 1 for call in calls)
    assert len(calls) < len(texts)  # short docs were batched together


def test_predictions_do_not_depend_on_the_batch(trained, conll04_records):
    """Sub-batching by length (and any batch size) gives each doc the same entities,
    relations and tags."""
    nlp, _, _ = trained
    texts = [" ".join(r["tokens"]) for r in conll04_records[:12]] + ["", "Rome ."]

    def annotations(docs):
        return [
            (
                [(s.start, s.end, s.label_) for s in d.spans["stsn"]],
                [(r["head"], r["tail"], r["label"]) for r in d._.relations],
                d._.stsn_tags,
            )
            for d in docs
        ]

    together = annotations(nlp.pipe(texts, batch_size=64))
    one_by_one = annotations(nlp(t) for t in texts)
    assert together == one_by_one and any(rels for _, rels, _ in together)


def test_update_honours_the_dropout_rate(conll04_records):
    """``[training] dropout`` reaches the torch head: with the seed fixed, one update's
    loss differs between drop=0.0 and drop=0.9 and is the same for the same rate; no
    rate keeps the architecture's dropout."""
    from thinc.api import fix_random_seed

    from spacy_stsn.formats.spert import spert_to_docs
    from spacy_stsn.ml.model import torch_module

    nlp = spacy.blank("en")
    nlp.add_pipe(
        "stsn",
        config={
            "model": {"hidden_width": 32, "n_layers": 1, "n_heads": 2, "dropout": 0.3}
        },
    )
    examples = [
        Example(nlp.make_doc(d.text), d)
        for d in spert_to_docs(conll04_records[:4], nlp.vocab)
    ]
    fix_random_seed(0)
    nlp.initialize(lambda: examples)
    stsn = nlp.get_pipe("stsn")
    state = stsn.model.to_bytes()

    def loss(drop):
        stsn.model.from_bytes(state)
        fix_random_seed(1)
        return stsn.update(examples, drop=drop)["stsn"]

    assert loss(0.0) == loss(0.0)
    assert loss(0.9) == loss(0.9)
    assert loss(0.0) != loss(0.9)
    module = torch_module(stsn.model)
    stsn.update(examples)
    assert {m.p for m in module.modules() if isinstance(m, torch.nn.Dropout)} == {0.3}
    stsn.update(examples, drop=0.5)
    assert {m.p for m in module.modules() if isinstance(m, torch.nn.Dropout)} == {0.5}
    assert all(
        m.dropout == 0.5
        for m in module.modules()
        if isinstance(m, torch.nn.MultiheadAttention)
    )


def test_overlap_policy_is_resolved_from_the_data_saved_and_can_be_changed_at_load(
    trained, tmp_path, conll04_records
):
    """auto: nested for data with overlaps (the trained fixture has ADE's), flat for
    data without; flat gives the span group and doc.ents the same entities and pairs
    only those; the setting can be changed at load."""
    nlp, model_dir, _ = trained
    assert nlp.get_pipe("stsn").overlaps == "nested"
    flat = spacy.load(model_dir, config={"components.stsn.overlaps": "flat"})
    assert flat.get_pipe("stsn").overlaps == "flat"
    texts = [" ".join(r["tokens"]) for r in conll04_records[:10]] + [
        "Codeine intoxication in a man ."
    ]
    for doc in flat.pipe(texts):
        assert [(s.start, s.end, s.label_) for s in doc.spans["stsn"]] == [
            (e.start, e.end, e.label_) for e in doc.ents
        ]
        ents = {(e.start, e.end) for e in doc.ents}
        assert all(
            tuple(r["head"]) in ents and tuple(r["tail"]) in ents
            for r in doc._.relations
        )

    blank = spacy.blank("en")
    blank.add_pipe(
        "stsn", config={"model": {"hidden_width": 32, "n_layers": 1, "n_heads": 2}}
    )
    from spacy_stsn.formats.spert import spert_to_docs

    examples = [
        Example(blank.make_doc(d.text), d)
        for d in spert_to_docs(conll04_records[:4], blank.vocab)
    ]
    blank.initialize(lambda: examples)
    assert (
        blank.get_pipe("stsn").overlaps == "flat"
        and blank.get_pipe("stsn").cfg["data_overlaps"] == 0.0
    )
    blank.to_disk(tmp_path / "flat")
    assert spacy.load(tmp_path / "flat").get_pipe("stsn").overlaps == "flat"
    nested = spacy.load(
        tmp_path / "flat", config={"components.stsn.overlaps": "nested"}
    ).get_pipe("stsn")
    assert nested.overlaps == "nested"


def test_head_predicts_in_inference_mode_without_toggling_train_mode_per_call():
    from thinc.api import ArgsKwargs

    from spacy_stsn.ml.model import ScaledPyTorchShim
    from spacy_stsn.nn.stsn import STSN

    torch.manual_seed(0)
    module = STSN(n_layers=1, n_heads=2, max_span_width=2).build(8, 2, 3, 5)
    shim = ScaledPyTorchShim(module)
    x, lengths = torch.randn(2, 5, 8), torch.tensor([5, 3])
    out = shim.predict(ArgsKwargs(args=(x, lengths), kwargs={}))  # STSN.infer
    # dropout off, no autograd state
    assert not module.training and out.span_probs.is_inference()
    with torch.no_grad():
        expected = module.infer(x, lengths)
    assert all(torch.equal(a, b) for a, b in zip(out, expected))
    spans = torch.tensor([[[0, 2], [3, 4]], [[0, 1], [1, 3]]])
    pairs = torch.tensor([[[0, 1]], [[1, 0]]])
    (tag_logits, _, _), _ = shim.begin_update(
        ArgsKwargs(args=(x, lengths, spans, pairs), kwargs={})
    )
    # training is untouched by the inference path
    assert module.training and tag_logits.requires_grad


def test_rare_overlaps_resolve_to_flat_with_a_warning(
    conll04_records, ade_overlap_records
):
    """auto: fewer than 5 % of the training documents overlapping -> flat, and the user
    is told."""
    from spacy_stsn.formats.spert import spert_to_docs

    nlp = spacy.blank("en")
    nlp.add_pipe(
        "stsn", config={"model": {"hidden_width": 32, "n_layers": 1, "n_heads": 2}}
    )
    # 1 of 21 documents (4.8 %) overlaps
    records = conll04_records[:20] + ade_overlap_records[:1]
    examples = [
        Example(nlp.make_doc(d.text), d) for d in spert_to_docs(records, nlp.vocab)
    ]
    with pytest.warns(UserWarning, match="resolved to 'flat'"):
        nlp.initialize(lambda: examples)
    stsn = nlp.get_pipe("stsn")
    assert stsn.overlaps == "flat" and stsn.cfg["tag_scheme"] == "extended_BIO"
