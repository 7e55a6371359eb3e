"""Batch extraction, displaCy rendering and hostile input, on the small pipeline trained in conftest."""

import json

import pytest

from spacy_stsn.__main__ import main
from spacy_stsn.extract import completed_lines, extract
from spacy_stsn.visualize import arc_distance, relation_graph, render

ODD_TEXTS = [
    "",
    "   \t ",
    "Cafe\u0301 owner Jose\u0301 Garci\u0301a lives in Bogota\u0301 .",  # combining accents
    "John Smith 👍🏽 works for Acme Corp. in Boston 🇺🇸 .",  # emoji, modifier and flag sequences
    "قال جون سميث إنه يعيش في بوسطن .",  # right-to-left script
    "Zero\u200bwidth\u200d joiners\ufeff in Rome .",
]


def _lines(path):
    return [json.loads(line) for line in path.read_text(encoding="utf8").splitlines()]


def test_text_input_with_odd_unicode_gives_one_record_per_line(
    trained, tmp_path, conll04_records
):
    _, model_dir, _ = trained
    texts = ODD_TEXTS + [" ".join(r["tokens"]) for r in conll04_records[:3]]
    source = tmp_path / "in.txt"
    source.write_text("\n".join(texts) + "\n", encoding="utf8")
    written = extract(
        str(model_dir),
        source,
        tmp_path / "out.jsonl",
        batch_size=4,
        tags=True,
        progress=None,
    )
    records = _lines(tmp_path / "out.jsonl")
    assert written == len(records) == len(texts)
    assert [r["text"] for r in records] == texts
    assert (
        records[0]["entities"] == []
        and records[0]["relations"] == []
        and records[0]["tags"] is None
    )
    for record in records:
        for ent in record["entities"]:
            assert record["text"][ent["start_char"] : ent["end_char"]] == ent["text"]
            assert 0.0 <= ent["score"] <= 1.0
        for rel in record["relations"]:
            assert 0 <= rel["head"] < len(record["entities"]) and 0 <= rel[
                "tail"
            ] < len(record["entities"])
    trained_sentence = records[-3]
    assert trained_sentence["relations"], (
        "a training sentence should have its relations back"
    )
    assert len(trained_sentence["tags"]) == len(trained_sentence["tokens"])


def test_jsonl_passthrough_and_a_bad_line_loses_nothing_before_it(trained, tmp_path):
    _, model_dir, _ = trained
    good = [
        {
            "text": f"John Smith lives in Boston number {i} .",
            "id": i,
            "meta": {"k": [i]},
        }
        for i in range(5)
    ]
    source = tmp_path / "in.jsonl"
    source.write_text(
        "\n".join(json.dumps(r) for r in good[:3])
        + "\n{not json\n"
        + "\n".join(json.dumps(r) for r in good[3:])
        + "\n"
    )
    out = tmp_path / "out.jsonl"
    with pytest.raises(ValueError, match=r"in\.jsonl:4: not a JSON object"):
        extract(str(model_dir), source, out, batch_size=2, progress=None)
    assert [r["id"] for r in _lines(out)] == [0, 1, 2]
    # fix the line and run again: it resumes after the three finished documents
    source.write_text("\n".join(json.dumps(r) for r in good) + "\n")
    assert extract(str(model_dir), source, out, batch_size=2, progress=None) == 2
    records = _lines(out)
    assert [r["id"] for r in records] == [0, 1, 2, 3, 4]
    assert records[4]["meta"] == {"k": [4]}
    missing = tmp_path / "missing.jsonl"
    missing.write_text(json.dumps({"body": "x"}) + "\n")
    with pytest.raises(
        ValueError,
        match=r"missing\.jsonl:1: expected an object with a string field 'text'",
    ):
        extract(str(model_dir), missing, tmp_path / "o2.jsonl", progress=None)


def test_a_torn_last_line_is_cut_and_redone(trained, tmp_path):
    _, model_dir, _ = trained
    source = tmp_path / "in.txt"
    source.write_text(
        "John Smith lives in Boston .\nMary Jones works for Acme .\nRome is in Italy .\n"
    )
    out = tmp_path / "out.jsonl"
    extract(str(model_dir), source, out, progress=None)
    full = out.read_text()
    first = full.splitlines(keepends=True)[0]
    out.write_text(
        first + full.splitlines(keepends=True)[1][:10]
    )  # crashed in the middle of line 2
    assert completed_lines(out) == 1 and out.read_text() == first
    assert extract(str(model_dir), source, out, progress=None) == 2
    # the same records; scores may differ in the last float bits, as the resumed run batches other docs together
    assert _rounded(_lines(out)) == _rounded(
        [json.loads(line) for line in full.splitlines()]
    )


def _rounded(value, digits=5):
    if isinstance(value, float):
        return round(value, digits)
    if isinstance(value, list):
        return [_rounded(v, digits) for v in value]
    if isinstance(value, dict):
        return {k: _rounded(v, digits) for k, v in value.items()}
    return value


def test_long_document_is_processed_whole(trained):
    nlp, _, _ = trained
    sentence = "John Smith lives in Boston and works for Acme Corp. . "
    doc = nlp(sentence * 1000)  # 10,000 tokens in one document
    assert len(doc) == 11_000
    assert doc.spans["stsn"] and max(span.end for span in doc.spans["stsn"]) > 10_000


def test_displacy_rendering_has_entities_and_arcs(trained, conll04_records):
    nlp, _, _ = trained
    record = next(r for r in conll04_records if r["relations"])
    doc = nlp(" ".join(record["tokens"]))
    graph = relation_graph(doc)
    assert [w["tag"] for w in graph["words"] if w["tag"]] == [
        e.label_ for e in doc.ents
    ]
    assert len(graph["arcs"]) == len(doc._.relations) and graph["arcs"]
    html = render([doc])
    assert html.startswith("<!DOCTYPE html>") and doc._.relations[0]["label"] in html
    # entities are also highlighted, nested ones included: one span view above each arc view
    assert html.count('class="spans"') == 1 and html.count("<svg") == 1
    # the arc view spaces its words so that a long entity does not run over its neighbour
    long_entity = {
        "words": [
            {"text": "Commodity Futures Trading Commission"},
            {"text": "officials"},
        ]
    }
    assert (
        arc_distance(long_entity)
        >= 9 * 45 // 2
        > arc_distance({"words": [{"text": "a"}, {"text": "b"}]})
        == 110
    )


def test_extract_command_line_with_html(trained, tmp_path, capsys):
    _, model_dir, _ = trained
    source = tmp_path / "in.txt"
    source.write_text("John Smith lives in Boston .\n")
    code = main(
        [
            "extract",
            str(model_dir),
            str(source),
            "-o",
            str(tmp_path / "o.jsonl"),
            "--html",
            str(tmp_path / "o.html"),
        ]
    )
    assert code == 0 and (tmp_path / "o.html").read_text().count("<svg") == 1
    assert (
        main(
            [
                "extract",
                str(tmp_path / "nope"),
                str(source),
                "-o",
                str(tmp_path / "x.jsonl"),
            ]
        )
        == 1
    )
    assert "error:" in capsys.readouterr().err


def test_precision_is_chosen_at_load_time(trained, tmp_path, conll04_records):
    """bfloat16 is a load-time switch over the same weights: the pipeline really computes in it, the command
    line passes it through (``--precision``, and the old ``--inference-precision``), the extractions agree with
    float32, and an unknown precision names the model."""
    from spacy_stsn.loading import load_pipeline
    from spacy_stsn.precision import pipeline_precision

    nlp32, model_dir, corpus = trained
    nlp16, stsn16 = load_pipeline(str(model_dir), precision="bfloat16")
    assert pipeline_precision(nlp16) == "bfloat16"
    texts = [" ".join(r["tokens"]) for r in conll04_records]
    docs32, docs16 = list(nlp32.pipe(texts)), list(nlp16.pipe(texts))
    spans_key = stsn16.spans_key
    scores32 = [s for d in docs32 for s in d.spans[spans_key].attrs["scores"]]
    scores16 = [s for d in docs16 for s in d.spans[spans_key].attrs["scores"]]
    same = [
        [(e.start, e.end, e.label_) for e in a.ents]
        == [(e.start, e.end, e.label_) for e in b.ents]
        for a, b in zip(docs32, docs16)
    ]
    assert sum(same) >= 0.9 * len(same) and scores32 != scores16
    for flag in ("--precision", "--inference-precision"):
        out = tmp_path / flag.strip("-")
        code = main(
            ["evaluate", str(model_dir), str(corpus), "--output", str(out)]
            + [flag, "bfloat16"]
        )
        metrics = json.loads((out / "metrics.json").read_text())
        assert code == 0 and metrics["precision"].startswith("bfloat16 ("), metrics
    with pytest.raises(ValueError, match=str(model_dir)):
        load_pipeline(str(model_dir), precision="float16")
