"""Batch extraction, displaCy rendering and hostile input, on the small pipeline trained
in conftest."""

import json

import pytest

from spacy_stsn.cli.main import main
from spacy_stsn.extraction.extract import extract
from spacy_stsn.extraction.jsonl_output import completed_lines
from spacy_stsn.extraction.visualize import arc_distance, relation_graph, render

ODD_TEXTS = [
    "",
    "   \t ",
    # combining accents
    "Cafe\u0301 owner Jose\u0301 Garci\u0301a lives in Bogota\u0301 .",
    # emoji, modifier and flag sequences
    "John Smith 👍🏽 works for Acme Corp. in Boston 🇺🇸 .",
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
    # crashed in the middle of line 2
    out.write_text(first + full.splitlines(keepends=True)[1][:10])
    assert completed_lines(out) == 1 and out.read_text() == first
    assert extract(str(model_dir), source, out, progress=None) == 2
    # the same records; scores may differ in the last float bits, as the resumed run
    # batches other docs together
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
    # entities are also highlighted, nested ones included: one span view above each arc
    # view
    assert html.count('class="spans"') == 1 and html.count("<svg") == 1
    # the arc view spaces its words so that a long entity does not run over its
    # neighbour
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
    """bfloat16 is a load-time switch over the same weights: the pipeline really
    computes in it, the command line passes it through (``--precision``, and the old
    ``--inference-precision``), the extractions agree with float32, and an unknown
    precision names the model."""
    from spacy_stsn.ml.precision import pipeline_precision
    from spacy_stsn.pipeline.loading import load_pipeline

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


def _run(model_dir, *args):
    return main(["extract", str(model_dir), *map(str, args)])


def test_an_output_that_is_an_input_is_refused_before_anything_is_written(
    trained, tmp_path, capsys, conll04_records
):
    """extract -o INPUT (also through a symlink or a hard link, with or without
    --restart or --ray), an output inside an input folder or a brat output folder
    holding the input, convert X X: refused, inputs intact."""
    import os

    _, model_dir, corpus = trained
    source = tmp_path / "a.jsonl"
    source.write_text(json.dumps({"text": "John Smith lives in Boston ."}) + "\n")
    before = source.read_bytes()
    (tmp_path / "link.jsonl").symlink_to(source)
    os.link(source, tmp_path / "hard.jsonl")
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "in.txt").write_text("Rome is in Italy .\n")
    refused = [
        (source, "-o", source, "--restart"),
        (source, "-o", source),
        (source, "-o", tmp_path / "link.jsonl"),
        (source, "-o", tmp_path / "hard.jsonl", "--restart"),
        (source, "-o", tmp_path / "out.jsonl", "--html", source),
        (folder, "-o", folder / "out.jsonl", "--ray"),
        (folder / "in.txt", "-o", folder, "--output-format", "brat"),
    ]
    for args in refused:
        capsys.readouterr()
        assert _run(model_dir, *args) == 1, args
        err = capsys.readouterr().err
        assert "refusing to write the output there" in err and str(args[0]) in err
    assert source.read_bytes() == before and (tmp_path / "link.jsonl").is_symlink()
    assert sorted(p.name for p in folder.iterdir()) == ["in.txt"]
    assert not (tmp_path / "out.jsonl").exists()
    with pytest.raises(ValueError, match=r"a\.jsonl: refusing .* it is the input"):
        extract(str(model_dir), source, source, restart=True, progress=None)

    spert = tmp_path / "x.json"
    spert.write_text(json.dumps(conll04_records[:2]))
    spert_bytes = spert.read_bytes()
    for args in (
        [spert, spert],
        [spert, tmp_path / "types.json", "--types", tmp_path / "types.json"],
        [folder, folder / "train.spacy", "--format", "brat"],
    ):
        (tmp_path / "types.json").write_text("{}")
        capsys.readouterr()
        assert main(["convert", *map(str, args)]) == 1, args
        assert "refusing to write the output there" in capsys.readouterr().err
    assert spert.read_bytes() == spert_bytes
    assert (tmp_path / "types.json").read_text() == "{}"
    assert sorted(p.name for p in folder.iterdir()) == ["in.txt"]


def test_invalid_utf8_or_an_overlong_line_stops_at_file_line_after_the_lines_before(
    trained, tmp_path
):
    _, model_dir, _ = trained
    good = [f"John Smith lives in Boston number {i} ." for i in range(7)]
    source = tmp_path / "in.txt"
    lines = [line.encode() for line in good]
    lines[5] = b"Caf\xe9 owner in Rome ."  # Latin-1, not UTF-8
    source.write_bytes(b"\n".join(lines) + b"\n")
    out = tmp_path / "out.jsonl"
    with pytest.raises(
        ValueError, match=r"in\.txt:6: not UTF-8: b'\\xe9' at byte 4 of the line"
    ):
        extract(str(model_dir), source, out, batch_size=4, progress=None)
    assert [r["text"] for r in _lines(out)] == good[:5]

    # a text over the pipeline's max_length: FILE:LINE, the lines before written;
    # --max-length raises it
    long = tmp_path / "long.txt"
    long.write_text("\n".join(good[:3] + ["Rome is in Italy . " * 20] + good[3:5]))
    out = tmp_path / "long.jsonl"
    with pytest.raises(
        ValueError,
        match=r"long\.txt:4: the text has 380 characters, more than the pipeline's "
        r"max_length of 100 .*--max-length N",
    ):
        extract(str(model_dir), long, out, batch_size=2, max_length=100, progress=None)
    assert len(_lines(out)) == 3
    assert _run(model_dir, long, "-o", out, "--max-length", "400") == 0
    assert [len(r["text"]) for r in _lines(out)] == [len(g) for g in good[:3]] + [
        380,
        len(good[3]),
        len(good[4]),
    ]
    # the default limit is spaCy's nlp.max_length (1,000,000), checked before the text
    # reaches spaCy
    huge = tmp_path / "huge.txt"
    huge.write_text(good[0] + "\n" + "a" * 1_000_001 + "\n")
    with pytest.raises(ValueError, match=r"huge\.txt:2: the text has 1,000,001"):
        extract(str(model_dir), huge, tmp_path / "huge.jsonl", progress=None)
    assert [r["text"] for r in _lines(tmp_path / "huge.jsonl")] == good[:1]


def test_a_resume_onto_the_output_of_another_input_or_settings_is_refused(
    trained, tmp_path
):
    _, model_dir, _ = trained
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a_lines = [f"John Smith lives in Boston number {i} ." for i in range(3)]
    a.write_text("\n".join(a_lines) + "\n")
    b.write_text("".join(f"Rome is in Italy number {i} .\n" for i in range(5)))
    out = tmp_path / "out.jsonl"
    assert extract(str(model_dir), a, out, progress=None) == 3
    written = out.read_bytes()
    with pytest.raises(
        ValueError,
        match=r"out\.jsonl holds 3 documents from .*a\.txt \(\d+ bytes\) that are not "
        r"the first lines of .*b\.txt: .*out\.jsonl:1 has 'John Smith.*--restart",
    ):
        extract(str(model_dir), b, out, progress=None)
    with pytest.raises(ValueError, match=r"other settings \(tags: False -> True\)"):
        extract(str(model_dir), a, out, tags=True, progress=None)
    assert out.read_bytes() == written
    # lines appended to the same input (its size and hash changed): the written ones are
    # its first, resumed
    a.write_text("\n".join(a_lines + ["Rome is in Italy ."]) + "\n")
    assert extract(str(model_dir), a, out, progress=None) == 1
    assert [r["text"] for r in _lines(out)] == a_lines + ["Rome is in Italy ."]
    # a file that no run of extract wrote (no sidecar) is left alone, even one without a
    # line end
    for content in ("precious notes\n", "no line end"):
        other = tmp_path / "other.jsonl"
        other.write_text(content)
        with pytest.raises(ValueError, match=r"no other\.jsonl\.resume\.json says"):
            extract(str(model_dir), a, other, progress=None)
        assert other.read_text() == content
    assert extract(str(model_dir), b, out, restart=True, progress=None) == 5
    # brat output too
    folder = tmp_path / "brat"
    extract(str(model_dir), a, folder, output_format="brat", progress=None)
    with pytest.raises(
        ValueError, match=r"000001\.txt has 'John Smith.* where .*b\.txt:1 has 'Rome"
    ):
        extract(str(model_dir), b, folder, output_format="brat", progress=None)
    assert (folder / "000001.txt").read_text() == a_lines[0]


def test_input_fields_named_like_predictions_are_refused_and_text_key_keeps_its_field(
    trained, tmp_path, conll04_records
):
    _, model_dir, _ = trained
    source = tmp_path / "in.jsonl"
    source.write_text(
        json.dumps({"text": "John Smith lives in Boston .", "tokens": ["kept"]})
        + "\n"
        + json.dumps({"text": "Rome is in Italy .", "entities": []})
        + "\n"
    )
    out = tmp_path / "out.jsonl"
    with pytest.raises(
        ValueError,
        match=r"in\.jsonl:2: the input field 'entities' would be overwritten by the "
        r"predictions \(the fields entities, relations\)",
    ):
        extract(str(model_dir), source, out, progress=None)
    assert [r["tokens"] for r in _lines(out)] == [["kept"]]  # passed through
    with pytest.raises(
        ValueError,
        match=r"in\.jsonl:1: the input field 'tokens' .*entities, relations, tokens, tags",
    ):
        extract(
            str(model_dir), source, tmp_path / "tags.jsonl", tags=True, progress=None
        )

    body = " ".join(next(r for r in conll04_records if r["relations"])["tokens"])
    source.write_text(json.dumps({"id": 7, "text": "a summary", "body": body}) + "\n")
    extract(str(model_dir), source, out, text_key="body", restart=True, progress=None)
    (record,) = _lines(out)
    assert (
        record["body"] == body and record["text"] == "a summary" and record["id"] == 7
    )
    assert record["entities"] and all(
        body[e["start_char"] : e["end_char"]] == e["text"] for e in record["entities"]
    )


def test_a_bare_carriage_return_stays_inside_its_document(trained, tmp_path):
    """Lines end at \\n or \\r\\n only (not at a bare \\r, as Python's universal
    newlines would have it); a UTF-8 byte order mark before the first line is not part
    of the text."""
    _, model_dir, _ = trained
    source = tmp_path / "in.txt"
    source.write_bytes(
        "\ufeffJohn Smith lives in Boston .\rHe works for Acme .\r\n"
        "Rome is in Italy .\n".encode()
    )
    out = tmp_path / "out.jsonl"
    assert extract(str(model_dir), source, out, progress=None) == 2
    assert [r["text"] for r in _lines(out)] == [
        "John Smith lives in Boston .\rHe works for Acme .",
        "Rome is in Italy .",
    ]
    jsonl = tmp_path / "in.jsonl"
    jsonl.write_bytes(b'\xef\xbb\xbf{"text": "a\\rb"}\r\n{"text": "c"}\r\n')
    extract(str(model_dir), jsonl, out, restart=True, progress=None)
    assert [r["text"] for r in _lines(out)] == ["a\rb", "c"]


def test_html_renders_the_documents_the_run_annotated(
    quick_pipeline, tmp_path, monkeypatch
):
    """--html shows the first --html-docs documents of the run itself, annotated in its
    --precision by the one pipeline the run loaded (not loaded again, nor the documents
    annotated again): each rendered document is the one written to the output."""
    import spacy_stsn.extraction.extract as extract_module
    import spacy_stsn.extraction.visualize as visualize
    from spacy_stsn.extraction.records import doc_to_record

    model_dir, _ = quick_pipeline
    loads, rendered = [], []
    load, draw = extract_module.load_pipeline, visualize.render

    def counting_load(model, gpu_id=-1, precision=None):
        loads.append(precision)
        return load(model, gpu_id, precision)

    def keeping_render(docs, **options):
        rendered.extend(docs)
        return draw(rendered, **options)

    monkeypatch.setattr(extract_module, "load_pipeline", counting_load)
    monkeypatch.setattr(visualize, "render", keeping_render)
    texts = ["John Smith lives in Boston .", "Mary works for IBM .", "Bob is here ."]
    source = tmp_path / "in.txt"
    source.write_text("".join(f"{text}\n" for text in texts))
    out, html = tmp_path / "o.jsonl", tmp_path / "o.html"
    argv = ["extract", str(model_dir), str(source), "-o", str(out), "--html", str(html)]
    assert main(argv + ["--html-docs", "2", "--precision", "bfloat16"]) == 0
    assert loads == ["bfloat16"]
    assert [doc.text for doc in rendered] == texts[:2]
    records = [json.loads(line) for line in out.read_text().splitlines()]
    for doc, record in zip(rendered, records):
        assert doc_to_record(doc) == {k: record[k] for k in ("entities", "relations")}
    assert html.read_text().count("<svg") == 2
