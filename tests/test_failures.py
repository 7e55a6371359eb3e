"""One bad document fails alone: a document that fails inside the pipeline stops
``extract`` at its FILE:LINE after every other document before it, or (``--on-error
skip``) is recorded and skipped; a rerun resumes past it. The pipeline is the quick one
of conftest with a test double that fails on a marker text (tests/doubles.py)."""

import json

import pytest
from doubles import MARKER
from test_extract import _lines, _rounded

from spacy_stsn.cli.main import main
from spacy_stsn.extraction.extract import extract
from spacy_stsn.extraction.failures import pipe_each


def _annotations(records):
    return _rounded([{k: r[k] for k in ("entities", "relations")} for r in records])


def test_a_document_that_fails_in_the_pipeline_fails_alone(
    doubled_pipeline, quick_pipeline, tmp_path
):
    texts = [f"John Smith lives in Boston number {i} ." for i in range(1, 9)]
    texts[5] = f"Mary works for {MARKER} ."  # line 6, in the second batch of four
    source = tmp_path / "in.txt"
    source.write_text("\n".join(texts) + "\n")
    out = tmp_path / "out.jsonl"
    with pytest.raises(
        ValueError,
        match=r"in\.txt:6: the pipeline failed on this document: RuntimeError: a test "
        r"double fails on 'FAIL-HERE'$",
    ):
        extract(str(doubled_pipeline), source, out, batch_size=4, progress=None)
    # line 5, in the batch that failed, is written too
    assert [r["text"] for r in _lines(out)] == texts[:5]

    # the rerun skips it, records it and goes on
    written = extract(
        str(doubled_pipeline),
        source,
        out,
        batch_size=4,
        progress=None,
        on_error="skip",
    )
    records = _lines(out)
    assert written == 2 and [r["text"] for r in records] == texts[:5] + texts[6:]
    (error,) = _lines(tmp_path / "out.jsonl.errors.jsonl")
    assert error["file"] == str(source) and error["line"] == 6
    assert error["error"].startswith(
        f"{source}:6: the pipeline failed on this document"
    )
    # every other document is annotated as the pipeline without the double does
    reference = tmp_path / "reference.jsonl"
    extract(str(quick_pipeline[0]), source, reference, batch_size=4, progress=None)
    expected = [r for i, r in enumerate(_lines(reference)) if i != 5]
    assert _annotations(records) == _annotations(expected)
    # done: a rerun resumes past the skipped line and writes nothing
    before = out.read_bytes()
    assert extract(str(doubled_pipeline), source, out, progress=None) == 0
    assert out.read_bytes() == before
    # on two processes (spaCy's multiprocessing pipe) the same, from scratch
    two = tmp_path / "two.jsonl"
    options = {"batch_size": 4, "progress": None, "on_error": "skip", "n_process": 2}
    assert extract(str(doubled_pipeline), source, two, **options) == 7
    assert _annotations(_lines(two)) == _annotations(expected)
    assert [e["line"] for e in _lines(tmp_path / "two.jsonl.errors.jsonl")] == [6]


def test_on_error_skip_records_malformed_and_failing_lines_and_goes_on(
    doubled_pipeline, tmp_path, capsys
):
    """Through the command line, JSONL in: a malformed line and two failing documents
    of one batch are recorded (FILE:LINE and the problem, as ``--ray`` records them);
    every other line is written, with its passthrough fields."""
    lines = [
        json.dumps({"id": i, "text": f"Rome is in Italy number {i} ."})
        for i in range(1, 8)
    ]
    lines[1] = "{not json"
    lines[2] = json.dumps({"id": 3, "text": f"{MARKER} in Boston ."})
    lines[4] = json.dumps({"id": 5, "text": f"Paris {MARKER} ."})
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out.jsonl"
    argv = ["extract", str(doubled_pipeline), str(source), "-o", str(out)]
    code = main(argv + ["--batch-size", "4", "--on-error", "skip"])
    assert code == 0, capsys.readouterr().err
    assert [r["id"] for r in _lines(out)] == [1, 4, 6, 7]
    errors = _lines(tmp_path / "out.jsonl.errors.jsonl")
    assert [(e["file"], e["line"]) for e in errors] == [
        (str(source), n) for n in (2, 3, 5)
    ]
    assert "not a JSON object" in errors[0]["error"]
    assert all("RuntimeError: a test double" in e["error"] for e in errors[1:])
    assert "3 lines skipped" in capsys.readouterr().err
    # --restart starts over: the errors of the earlier run go too
    source.write_text("\n".join(lines[:1]) + "\n")
    assert main(argv + ["--restart"]) == 0
    assert len(_lines(out)) == 1 and not (tmp_path / "out.jsonl.errors.jsonl").exists()


def test_a_pipeline_that_fails_before_any_document_is_not_blamed_on_one():
    """A failure with no document in flight (a worker process that does not start) is
    the pipeline's: raised as it is, not retried forever or pinned on a line."""

    class Broken:
        def pipe(self, texts, **kwargs):
            raise RuntimeError("no worker started")
            yield

    with pytest.raises(RuntimeError, match="no worker started"):
        list(pipe_each(Broken(), [("a text", 1)]))
