"""Any text in: tokens with no word pieces (whitespace runs, zero-width and control
characters) through the transformer pipeline, in prediction, extraction and training;
and no entity starts or ends on a token that shows nothing."""

import json
import re
import unicodedata

import numpy
import spacy
import torch
from spacy.training import Example

from spacy_stsn.cli.main import main
from spacy_stsn.ml.model import torch_module
from spacy_stsn.pipeline.annotations import make_relation

# one or two characters of every kind, each put between words and alone below
ODD = {
    "control": ["\x00", "\x07", "\x1b", "\x7f", "\x9f"],
    "format": ["\u00ad", "\u200e", "\u2060", "\ufeff", "\U000e0041"],
    "zero-width": ["\u200b", "\u200c", "\u200d"],
    "combining": ["\u0301", "\u20dd", "e\u0301"],
    "private use": ["\ue000", "\U000f0000"],
    "unassigned": ["\u0378", "\U0010fffe"],
    "lone surrogate": ["\ud800", "\udfff"],
    "whitespace": [
        "\n",
        "\r\n",
        "\t",
        "  ",
        "\n\n\n",
        " \t \n ",
        "\x0b",
        "\x0c",
        "\x1c",
        "\x85",
        "\u00a0",
        "\u1680",
        "\u2003",
        "\u2028",
        "\u2029",
        "\u202f",
        "\u3000",
    ],
}


def odd_texts(surrogates=False):
    """Every odd character or run between words, on both sides of a space, and
    alone; lone surrogates only with ``surrogates`` (JSON can escape them, but they are
    no characters: spaCy's tokenizer refuses them)."""
    texts = []
    for kind, chars in ODD.items():
        if kind == "lone surrogate" and not surrogates:
            continue
        for c in chars:
            texts += [
                f"John Smith{c}lives in Boston .{c}Mary works for Acme .",
                f"John Smith {c} lives in Boston . {c} Mary works for Acme {c}",
                c * 3,
            ]
    return texts


def shows_something(text):
    """Whether ``text`` has a character other than whitespace, control (Cc) and format
    (Cf) ones."""
    return any(
        not c.isspace() and unicodedata.category(c) not in ("Cc", "Cf") for c in text
    )


def _shown(doc):
    """(start, end) of the entities and stsn spans of ``doc``, with whether each token
    shows something."""
    spans = [(s.start, s.end) for s in list(doc.ents) + list(doc.spans["stsn"])]
    return spans, numpy.asarray([shows_something(t.text) for t in doc])


def test_every_kind_of_character_goes_through_nlp_and_pipe(tiny_bert_pipeline):
    """Through the transformer listener (max-pooled word pieces): tokens without pieces
    used to raise "all sequence lengths must be > 0"; every document gets its
    predictions, one at a time as in a stream, with one tag per token, and no entity
    starts or ends on a token that shows nothing."""
    nlp, _, _ = tiny_bert_pipeline
    texts = odd_texts()
    piped = list(nlp.pipe(texts, batch_size=8))
    pieces = [
        len(doc._.trf_data.align[i].data) for doc in piped for i in range(len(doc))
    ]
    assert pieces.count(0) > 50  # the case at hand: many tokens without a piece
    for text, doc in zip(texts, piped):
        alone = nlp(text)
        assert [t.text for t in alone] == [t.text for t in doc]
        assert len(doc._.stsn_tags) == len(doc)
        for one in (alone, doc):
            spans, visible = _shown(one)
            assert all(visible[s] and visible[e - 1] for s, e in spans), text


def test_no_entity_starts_or_ends_on_a_token_that_shows_nothing(trained):
    """A head made to call every span an entity, decoding nested (every candidate
    kept): the spans that start or end on whitespace, a zero-width space or a control
    character are gone, those that contain one inside are kept."""
    _, model_dir, _ = trained
    nlp = spacy.load(model_dir, config={"components.stsn.overlaps": "nested"})
    with torch.no_grad():
        torch_module(nlp.get_pipe("stsn").model).span_decoder.bias[0] = -1e4
    text = "John Smith \n lives in  Boston \u200b and \x7f Rome\t."
    doc = nlp(text)
    spans, visible = _shown(doc)
    assert not visible.all() and len(spans) > 20
    assert all(visible[s] and visible[e - 1] for s, e in spans)
    assert any(not visible[s:e].all() for s, e in spans)  # inside is fine
    assert all(visible[e.start] and visible[e.end - 1] for e in doc.ents)


def test_extract_takes_every_kind_of_character(tiny_bert_model_dir, tmp_path):
    """``python -m spacy_stsn extract`` over JSON lines writes one record per document
    with every text back as it came, but a lone surrogate (escaped in JSON) as U+FFFD,
    the replacement character."""
    texts = odd_texts(surrogates=True)
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
    out = tmp_path / "out.jsonl"
    argv = ["extract", str(tiny_bert_model_dir), str(source), "-o", str(out)]
    assert main(argv + ["--batch-size", "8"]) == 0
    # JSON lines end at "\n" only: str.splitlines would also split at U+2028 and the
    # other line breaks that the texts keep
    lines = out.read_text(encoding="utf8").split("\n")
    assert lines.pop() == ""
    records = [json.loads(line) for line in lines]
    assert [r["text"] for r in records] == [
        re.sub("[\ud800-\udfff]", "\ufffd", t) for t in texts
    ]
    assert sum("\ufffd" in r["text"] for r in records) == 6
    for record in records:
        for ent in record["entities"]:
            assert ent["text"].strip() == ent["text"] != ""


def test_training_on_every_kind_of_character(tiny_bert_model_dir):
    """``nlp.update`` through the transformer listener on documents with tokens that
    have no word pieces (whitespace runs, invisible characters) among the gold tokens:
    finite losses, the head's and the transformer's weights move, and the pipeline then
    predicts on such text."""
    nlp = spacy.load(tiny_bert_model_dir)  # a copy: the session's pipeline stays
    relation = nlp.get_pipe("stsn").relation_labels[0]
    examples = []
    for kind, chars in ODD.items():
        if kind == "lone surrogate":
            continue
        for c in chars:
            text = f"John Smith {c} lives in Boston .{c}Mary works for Acme Corp. {c}"
            gold = nlp.make_doc(text)
            found = [text.index(w) for w in ("John Smith", "Boston", "Acme Corp.")]
            spans = [
                gold.char_span(i, i + len(w), label)
                for i, w, label in zip(
                    found,
                    ("John Smith", "Boston", "Acme Corp."),
                    ("Peop", "Loc", "Org"),
                )
            ]
            gold.ents = spans
            gold._.relations = [
                make_relation(
                    (spans[0].start, spans[0].end),
                    "Peop",
                    (spans[1].start, spans[1].end),
                    "Loc",
                    relation,
                )
            ]
            examples.append(Example(nlp.make_doc(text), gold))
    assert any(len(t.text.strip()) == 0 for eg in examples for t in eg.reference)
    head = torch_module(nlp.get_pipe("stsn").model).span_decoder.weight
    transformer = nlp.get_pipe("transformer").model.transformer
    before = [
        head.detach().clone(),
        transformer.embeddings.word_embeddings.weight.detach().clone(),
    ]
    optimizer = nlp.resume_training()
    for batch in (examples[::2], examples[1::2], examples[::2]):
        losses = nlp.update(batch, sgd=optimizer)
        assert numpy.isfinite(losses["stsn"]) and losses["stsn"] > 0
    after = [head, transformer.embeddings.word_embeddings.weight]
    assert all(not torch.equal(a.detach(), b) for a, b in zip(after, before))
    doc = nlp(examples[0].reference.text)
    assert len(doc._.stsn_tags) == len(doc)
