"""``extract --ray`` and ``spacy_stsn.extraction.ray.driver`` on a local Ray instance (2
CPUs), with the small pipeline trained in conftest: the same output as the local
command, line for line, also when an actor is killed.
"""

import functools
import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import List

import doubles
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import ray
import ray.cloudpickle
from test_extract import ODD_TEXTS, _lines, _rounded

from spacy_stsn.cli.main import main

# the crashing loader below and the test doubles' loader, for the actors
ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
ray.cloudpickle.register_pickle_by_value(doubles)


@pytest.fixture(scope="module")
def s3_server():
    """A real S3 API (moto's server) on 127.0.0.1, found by pyarrow and boto3 through
    the standard AWS environment variables, set before Ray starts so that its workers
    have them (as a cluster's nodes have their credentials)."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_ENDPOINT_URL", f"http://{host}:{port}")
        patch.setenv("AWS_ACCESS_KEY_ID", "testing")
        patch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        patch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        yield
    server.stop()


@pytest.fixture(scope="module")
def local_ray(s3_server):
    """Ray's workers at normal priority: at its default nice 15 they starve, and these
    tests hang, on a machine whose cores other jobs keep busy (README, "On a busy
    machine"). Set before Ray starts: the raylet reads it, and the drivers that tests
    start as subprocesses connect to this instance, so their workers have it too."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RAY_worker_niceness", "0")
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        yield
        ray.shutdown()


def _texts(conll04_records, n=30):
    return ODD_TEXTS + [" ".join(r["tokens"]) for r in conll04_records[:n]]


def _local_and_ray(model_dir, source, tmp_path, *extra, workers=2):
    """Run the local command and the Ray command on ``source``; return both outputs'
    text."""
    local, on_ray = tmp_path / "local.jsonl", tmp_path / "ray.jsonl"
    assert (
        main(
            [
                "extract",
                str(model_dir),
                str(source),
                "-o",
                str(local),
                "--batch-size",
                "4",
                *extra,
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "extract",
                str(model_dir),
                str(source),
                "-o",
                str(on_ray),
                "--batch-size",
                "4",
                *extra,
                "--ray",
                "--workers",
                str(workers),
            ]
        )
        == 0
    )
    return local.read_text(encoding="utf8"), on_ray.read_text(encoding="utf8")


def test_importing_the_package_or_extracting_locally_never_imports_ray(
    trained, tmp_path
):
    _, model_dir, _ = trained
    source = tmp_path / "in.txt"
    source.write_text("John Smith lives in Boston .\n")
    argv = ["extract", str(model_dir), str(source), "-o", str(tmp_path / "o.jsonl")]
    code = (
        f"import sys, spacy_stsn; from spacy_stsn.cli.main import main; assert main({argv!r}) == 0; "
        f"imported = [m for m in sys.modules if m == 'ray' or m.startswith('ray.')]; "
        f"assert not imported, imported"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert len(_lines(tmp_path / "o.jsonl")) == 1


def test_text_input_gives_the_local_output_line_for_line(
    trained, local_ray, tmp_path, conll04_records
):
    _, model_dir, _ = trained
    # 36 documents: 3 blocks of 4 batches of 4 for 2 actors
    texts = _texts(conll04_records)
    source = tmp_path / "in.txt"
    source.write_text("\n".join(texts) + "\n", encoding="utf8")
    local, on_ray = _local_and_ray(model_dir, source, tmp_path, "--tags")
    assert on_ray == local
    records = [json.loads(line) for line in on_ray.splitlines()]
    assert [r["text"] for r in records] == texts and any(
        r["relations"] for r in records
    )
    assert all(len(r["tags"] or []) == len(r["tokens"]) for r in records)


def test_every_kind_of_character_through_the_transformer_on_ray(
    tiny_bert_model_dir, local_ray, tmp_path
):
    """The tiny BERT pipeline on text with tokens without word pieces (whitespace runs,
    zero-width and control characters, tests/test_input.py): one output line per
    document, the local command's line for line."""
    from test_input import odd_texts

    texts = odd_texts(surrogates=True)
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
    local, on_ray = _local_and_ray(tiny_bert_model_dir, source, tmp_path)
    assert on_ray == local
    assert on_ray.count("\n") == len(texts)  # lines end at "\n" only


def test_jsonl_passthrough_and_a_bad_line(
    trained, local_ray, tmp_path, conll04_records, capsys
):
    _, model_dir, _ = trained
    rows = [
        {
            "id": i,
            "body": text,
            "meta": {"k": [i / 2, None, 1.5]},
            "note": "é" * (i % 3),
        }
        for i, text in enumerate(_texts(conll04_records, 14))
    ]
    source = tmp_path / "in.jsonl"
    source.write_text(
        "".join(
            json.dumps(r, ensure_ascii=i % 2 == 0) + "\n" for i, r in enumerate(rows)
        )
    )
    local, on_ray = _local_and_ray(model_dir, source, tmp_path, "--text-key", "body")
    assert on_ray == local
    assert [r["id"] for r in map(json.loads, on_ray.splitlines())] == list(
        range(len(rows))
    )
    # into Parquet: the JSON fields become columns
    output = tmp_path / "out.parquet"
    assert (
        main(
            [
                "extract",
                str(model_dir),
                str(source),
                "-o",
                str(output),
                "--text-key",
                "body",
                "--batch-size",
                "4",
                "--ray",
            ]
        )
        == 0
    )
    assert pq.read_table(output).to_pylist() == [
        json.loads(line) for line in local.splitlines()
    ]

    bad = tmp_path / "bad.jsonl"
    bad.write_text("".join(json.dumps(r) + "\n" for r in rows[:9]) + '{"body": "x",\n')
    capsys.readouterr()
    argv = ["extract", str(model_dir), str(bad), "--text-key", "body", "-o"]
    assert main(argv + [str(tmp_path / "l.jsonl")]) == 1
    local_error = capsys.readouterr().err.strip().splitlines()[-1]
    assert main(argv + [str(tmp_path / "r.jsonl"), "--ray"]) == 1
    ray_error = capsys.readouterr().err.strip().splitlines()[-1]
    assert ray_error == local_error and ray_error.startswith(
        f"error: {bad}:10: not a JSON object"
    )
    # the 9 lines before it are written, as the local command writes them
    assert (tmp_path / "r.jsonl").read_text("utf8") == (tmp_path / "l.jsonl").read_text(
        "utf8"
    )
    assert len(_lines(tmp_path / "r.jsonl")) == 9


def test_dataset_api_and_parquet_in_and_out(
    trained, local_ray, tmp_path, conll04_records
):
    """A Dataset with a text column in, ``entities``/``relations`` columns out; a folder
    of Parquet files in, one Parquet file out, in order, the other columns kept."""
    import ray.data

    from spacy_stsn import extract_dataset  # imported on first use

    _, model_dir, _ = trained
    texts = _texts(conll04_records, 20)
    source = tmp_path / "in.txt"
    source.write_text("\n".join(texts) + "\n", encoding="utf8")
    main(
        [
            "extract",
            str(model_dir),
            str(source),
            "-o",
            str(tmp_path / "local.jsonl"),
            "--batch-size",
            "4",
        ]
    )
    expected = [
        {k: r[k] for k in ("entities", "relations")}
        for r in _lines(tmp_path / "local.jsonl")
    ]

    ds = ray.data.from_items([{"text": t, "id": i} for i, t in enumerate(texts)])
    out = extract_dataset(ds, str(model_dir), workers=2, batch_size=4)
    # from_items' blocks: any order, any batching
    rows = sorted(out.take_all(), key=lambda r: r["id"])
    assert [r["text"] for r in rows] == texts
    assert _rounded(
        [{k: r[k] for k in ("entities", "relations")} for r in rows]
    ) == _rounded(expected)

    folder = tmp_path / "parquet"
    folder.mkdir()
    for part, (start, end) in enumerate([(0, 11), (11, len(texts))]):
        pq.write_table(
            pa.table({"id": list(range(start, end)), "doc": texts[start:end]}),
            folder / f"part-{part}.parquet",
        )
    output = tmp_path / "out.parquet"
    assert (
        main(
            [
                "extract",
                str(model_dir),
                str(folder),
                "-o",
                str(output),
                "--text-key",
                "doc",
                "--batch-size",
                "4",
                "--ray",
                "--workers",
                "2",
            ]
        )
        == 0
    )
    table = pq.read_table(output)  # the text under its own key, as the local command
    assert table.column_names == ["doc", "id", "entities", "relations"]
    assert table.column("id").to_pylist() == list(range(len(texts)))
    assert table.column("doc").to_pylist() == texts
    got = [
        {"entities": e, "relations": r}
        for e, r in zip(
            table.column("entities").to_pylist(), table.column("relations").to_pylist()
        )
    ]
    assert _rounded(got) == _rounded(expected)


class CrashOnce:
    """A pipeline loader whose pipeline kills its actor process (``os._exit``) at its
    ``after``-th document, once: the first crash leaves ``marker`` behind, and the
    restarted actor finds it."""

    def __init__(self, model_dir: str, marker: Path, after: int) -> None:
        self.model_dir, self.marker, self.after = model_dir, marker, after

    def __call__(self):
        import itertools

        import spacy
        from spacy.language import Language

        nlp = spacy.load(self.model_dir)
        seen = itertools.count(1)

        def crash_once(doc):
            if next(seen) == self.after:
                try:
                    os.close(os.open(self.marker, os.O_CREAT | os.O_EXCL))
                except FileExistsError:
                    return doc
                os._exit(1)
            return doc

        Language.component("test_crash_once", func=crash_once)
        nlp.add_pipe("test_crash_once", last=True)
        return nlp


def test_a_killed_actor_loses_and_duplicates_nothing(
    trained, local_ray, tmp_path, conll04_records
):
    from spacy_stsn.extraction.ray.driver import extract_on_ray

    _, model_dir, _ = trained
    # 78 documents, 5 blocks
    texts = [f"{t} ({i})" for i, t in enumerate(_texts(conll04_records, 20) * 3)]
    source = tmp_path / "in.txt"
    source.write_text("\n".join(texts) + "\n", encoding="utf8")
    main(
        [
            "extract",
            str(model_dir),
            str(source),
            "-o",
            str(tmp_path / "local.jsonl"),
            "--batch-size",
            "4",
        ]
    )
    marker = tmp_path / "crashed"
    # the 22nd document of an actor: after one finished block (16 documents), in the
    # middle of its second
    written = extract_on_ray(
        CrashOnce(str(model_dir), marker, 22),
        source,
        tmp_path / "ray.jsonl",
        workers=2,
        batch_size=4,
        progress=None,
    )
    assert marker.exists(), "no actor was killed"
    assert written == len(texts)
    assert (tmp_path / "ray.jsonl").read_text(encoding="utf8") == (
        tmp_path / "local.jsonl"
    ).read_text("utf8")
    # into a folder: the shards of the killed actor's block are written once, by its
    # retry
    marker.unlink()
    written = extract_on_ray(
        CrashOnce(str(model_dir), marker, 22),
        source,
        f"{tmp_path / 'shards'}/",
        workers=2,
        batch_size=4,
        docs_per_shard=16,
        progress=None,
    )
    assert marker.exists(), "no actor was killed"
    assert written == len(texts)
    assert _shard_lines(tmp_path / "shards") == _with_origin(
        tmp_path / "local.jsonl", source
    )


def _shard_lines(folder: Path, suffix: str = ".jsonl") -> List[str]:
    """Every record line of a folder OUTPUT's shards, in input order (by ``_origin``),
    each once."""
    lines = [
        line
        for shard in sorted(folder.glob(f"*{suffix}"))
        for line in shard.read_text("utf8").splitlines()
    ]
    origins = [tuple(json.loads(line)["_origin"].values()) for line in lines]
    assert len(set(origins)) == len(origins), "a record written twice"
    return [line for _, line in sorted(zip(origins, lines))]


def _with_origin(local: Path, source: Path, skipped=()) -> List[str]:
    """The local command's output lines, with the ``_origin`` a shard gives each
    record."""
    lines = []
    numbers = (n for n in itertools.count(1) if n not in skipped)
    for number, line in zip(numbers, local.read_text("utf8").splitlines()):
        record = json.loads(line)
        annotations = {k: record.pop(k) for k in ("entities", "relations")}
        origin = {"_origin": {"file": str(source), "line": number}}
        lines.append(
            json.dumps({**record, **origin, **annotations}, ensure_ascii=False)
        )
    return lines


def _must_not_run(*args, **kwargs):
    raise AssertionError("the input was read: the error came too late")


def _last_error(capsys) -> str:
    return capsys.readouterr().err.strip().splitlines()[-1]


def test_ray_never_writes_over_its_input_or_an_output(
    trained, tmp_path, capsys, monkeypatch
):
    """Refused before anything is read or opened for writing (issue 23 item 1): OUTPUT
    that is the input (with or without --restart), a folder OUTPUT inside the input
    folder, an existing file OUTPUT, brat; the local command's --html and --n-process,
    which --ray would ignore."""
    import spacy_stsn.extraction.ray.driver as ray_extract

    monkeypatch.setattr(ray_extract, "plan_blocks", _must_not_run)
    _, model_dir, _ = trained
    folder = tmp_path / "corpus"
    folder.mkdir()
    source = folder / "in.jsonl"
    source.write_text('{"text": "John Smith lives in Boston ."}\n')
    before = source.read_bytes()
    existing = tmp_path / "done.jsonl"
    existing.write_text("an earlier job's output\n")
    cases = [
        ([source, "-o", source], "refusing to write the output there"),
        ([source, "-o", source, "--restart"], "refusing to write the output there"),
        ([folder, "-o", f"{folder / 'out'}/"], "refusing to write the output there"),
        (
            [folder, "-o", folder / "sub" / "out.jsonl"],
            "refusing to write the output there",
        ),
        ([source, "-o", existing], "pass --restart to overwrite it"),
        ([source, "-o", tmp_path / "b", "--output-format", "brat"], "not brat"),
        (
            [source, "-o", tmp_path / "h.jsonl", "--html", tmp_path / "h.html"],
            "--html, --n-process and --gpu-id are the local command's",
        ),
        (
            [source, "-o", tmp_path / "p.jsonl", "--n-process", "2"],
            "--html, --n-process and --gpu-id are the local command's",
        ),
    ]
    for args, message in cases:
        argv = ["extract", str(model_dir), *map(str, args), "--ray"]
        assert main(argv) == 1, args
        assert message in _last_error(capsys), args
    assert source.read_bytes() == before and list(folder.iterdir()) == [source]
    assert existing.read_text() == "an earlier job's output\n"
    assert not (tmp_path / "b").exists()
    assert not {"h.jsonl", "h.html", "p.jsonl"} & {p.name for p in tmp_path.iterdir()}


def test_a_model_that_does_not_load_fails_naming_it_and_leaves_no_output(
    trained, local_ray, tmp_path, capsys, monkeypatch
):
    import spacy_stsn.extraction.ray.driver as ray_extract

    _, model_dir, _ = trained
    source = tmp_path / "in.txt"
    source.write_text("John Smith lives in Boston .\n" * 20)
    outputs = [tmp_path / "out.jsonl", f"{tmp_path / 'shards'}/"]
    # no pipeline at the path: before anything is read (Ray's actors never start)
    with monkeypatch.context() as patch:
        patch.setattr(ray_extract, "plan_blocks", _must_not_run)
        # the latter: no config.cfg
        for missing in [
            tmp_path / "nowhere",
            source.parent,
        ]:
            for output in outputs:
                argv = ["extract", str(missing), str(source), "-o", str(output)]
                assert main(argv + ["--ray"]) == 1
                assert _last_error(capsys).startswith(f"error: {missing}: ")
    # weights that do not load: the actor's loader error, naming the path, not a dead
    # actor
    broken = tmp_path / "broken"
    shutil.copytree(model_dir, broken)
    weights = broken / "stsn" / "model"
    weights.write_bytes(weights.read_bytes()[:100])
    for output in outputs:
        argv = ["extract", str(broken), str(source), "-o", str(output), "--ray"]
        assert main(argv) == 1
        assert _last_error(capsys).startswith(
            f"error: {broken}: could not load the pipeline"
        )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken", "in.txt"]


def test_folder_output_is_sharded_resumed_and_restarted(
    trained, local_ray, tmp_path, conll04_records, capsys
):
    """One shard per block of 8 documents, named from the input file and block, written
    by the workers; every record with its ``_origin``; a rerun redoes only what is
    missing; another job's options are refused; --restart starts over."""
    _, model_dir, _ = trained
    texts = (_texts(conll04_records) * 2)[:36]  # 4 shards of 8, then 4
    source = tmp_path / "in.txt"
    source.write_text("\n".join(texts) + "\n", encoding="utf8")
    local = tmp_path / "local.jsonl"
    main(
        ["extract", str(model_dir), str(source), "-o", str(local), "--batch-size", "4"]
    )
    out = tmp_path / "shards"
    argv = ["extract", str(model_dir), str(source), "-o", f"{out}/", "--batch-size"]
    argv += ["4", "--docs-per-shard", "8", "--ray", "--workers", "2"]
    assert main(argv) == 0
    shards = [f"in.txt.{i:06d}.jsonl" for i in range(4)] + ["in.txt.000004.last.jsonl"]
    assert sorted(p.name for p in out.iterdir()) == ["_stsn_extract.json"] + shards
    assert _shard_lines(out) == _with_origin(local, source)
    first = {name: (out / name).read_bytes() for name in shards}
    stamps = {name: (out / name).stat().st_mtime_ns for name in shards}

    capsys.readouterr()
    assert main(argv) == 0  # everything done: nothing redone
    assert "0 documents" in _last_error(capsys)
    assert {name: (out / name).stat().st_mtime_ns for name in shards} == stamps

    # a lost shard and a killed writer's leftover: that shard alone is redone, the same
    (out / shards[2]).unlink()
    (out / f".{shards[2]}.0123456789ab.tmp").write_text("torn")
    assert main(argv) == 0
    assert _last_error(capsys).startswith("8 documents")
    assert {name: (out / name).read_bytes() for name in shards} == first
    assert sorted(p.name for p in out.iterdir()) == ["_stsn_extract.json"] + shards

    # other options would cut other blocks: refused, nothing touched; --restart starts
    # over
    assert main(argv[:-6] + ["8", "--docs-per-shard", "8", "--ray"]) == 1
    assert "batch_size was 4, now 8" in _last_error(capsys)
    assert main(argv + ["--restart"]) == 0
    assert _last_error(capsys).startswith("36 documents")
    assert {name: (out / name).read_bytes() for name in shards} == first


def test_on_error_skip_lists_bad_lines_and_stop_writes_no_part_of_their_block(
    trained, local_ray, tmp_path, conll04_records, capsys
):
    _, model_dir, _ = trained
    rows = [
        json.dumps({"id": i, "text": t})
        for i, t in enumerate(_texts(conll04_records, 14))
    ]
    rows[5], rows[12] = '{"id": 5, "text": "cut', '{"id": 12}'  # lines 6 and 13
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(rows) + "\n")
    good = tmp_path / "good.jsonl"
    good.write_text("".join(r + "\n" for i, r in enumerate(rows) if i not in (5, 12)))
    local = tmp_path / "local.jsonl"
    main(["extract", str(model_dir), str(good), "-o", str(local), "--batch-size", "4"])
    problems = [
        f"{source}:6: not a JSON object (Unterminated string starting at)",
        f"{source}:13: expected an object with a string field 'text'",
    ]

    argv = ["extract", str(model_dir), str(source), "--batch-size", "4", "--ray"]
    out = tmp_path / "shards"
    shard_argv = argv + ["-o", f"{out}/", "--docs-per-shard", "8"]
    assert main(shard_argv + ["--on-error", "skip"]) == 0
    summary = _last_error(capsys)
    assert summary.startswith("18 documents") and "2 lines skipped" in summary
    errors = [
        json.loads(line)
        for shard in sorted((out / "_errors").iterdir())
        for line in shard.read_text().splitlines()
    ]
    assert [(e["file"], e["line"]) for e in errors] == [
        (str(source), 6),
        (str(source), 13),
    ]
    assert [e["error"] for e in errors] == problems
    # (the local run had no bad lines: other batches, scores equal to float32 precision)
    expected = _with_origin(local, source, skipped={6, 13})
    assert _rounded([json.loads(x) for x in _shard_lines(out)]) == _rounded(
        [json.loads(x) for x in expected]
    )

    # a file OUTPUT: the other lines in order, the bad ones in OUTPUT.errors.jsonl
    capsys.readouterr()
    assert main(argv + ["-o", str(tmp_path / "o.jsonl"), "--on-error", "skip"]) == 0
    assert "2 lines skipped" in _last_error(capsys)
    assert _rounded(_lines(tmp_path / "o.jsonl")) == _rounded(_lines(local))
    assert len((tmp_path / "o.jsonl.errors.jsonl").read_text().splitlines()) == 2

    # stop: the job ends with the first bad line's FILE:LINE; no shard holds part of its
    # block
    stopped = tmp_path / "stopped"
    assert main(argv + ["-o", f"{stopped}/", "--docs-per-shard", "8"]) == 1
    assert _last_error(capsys) == f"error: {problems[0]}"
    assert not list(stopped.glob("in.jsonl.000000*"))


def test_a_document_that_fails_in_the_pipeline_fails_alone(
    doubled_pipeline, local_ray, tmp_path, capsys
):
    """As in the local command: its line is recorded (``--on-error skip``) or stops the
    job with its FILE:LINE after the lines before it, the other documents of its batch
    included (a file OUTPUT)."""
    from spacy_stsn.extraction.ray.driver import extract_on_ray

    texts = [f"John Smith lives in Boston number {i} ." for i in range(1, 11)]
    texts[5] = f"Mary works for {doubles.MARKER} ."  # line 6, in the second batch
    source = tmp_path / "in.txt"
    source.write_text("\n".join(texts) + "\n")
    model = functools.partial(doubles.load_with_doubles, str(doubled_pipeline))
    options = {"batch_size": 4, "progress": None}
    out = tmp_path / "o.jsonl"
    assert extract_on_ray(model, source, out, on_error="skip", **options) == 9
    assert [r["text"] for r in _lines(out)] == texts[:5] + texts[6:]
    (error,) = _lines(tmp_path / "o.jsonl.errors.jsonl")
    assert (error["file"], error["line"]) == (str(source), 6)
    message = f"{source}:6: the pipeline failed on this document: RuntimeError: "
    assert error["error"].startswith(message)
    stopped = tmp_path / "stopped.jsonl"
    with pytest.raises(ValueError, match=re.escape(message)):
        extract_on_ray(model, source, stopped, **options)
    assert [r["text"] for r in _lines(stopped)] == texts[:5]


class Slow:
    """The trained pipeline with a pause after each document: a job long enough to be
    killed mid-run."""

    def __init__(self, model_dir: str, pause: float) -> None:
        self.model_dir, self.pause = model_dir, pause

    def __call__(self):
        import spacy
        from spacy.language import Language

        nlp = spacy.load(self.model_dir)
        pause = self.pause

        def sleep(doc):
            time.sleep(pause)
            return doc

        Language.component("test_pause", func=sleep)
        nlp.add_pipe("test_pause", last=True)
        return nlp


def test_a_killed_driver_then_a_rerun_loses_and_duplicates_nothing(
    trained, local_ray, tmp_path, conll04_records
):
    """The driver (joined to the cluster, as on a real one) is killed with SIGKILL once
    shards exist; the same command again writes the rest: the union of the shards is the
    uninterrupted run's records."""
    from spacy_stsn.extraction.ray.driver import extract_on_ray

    _, model_dir, _ = trained
    texts = [f"{t} ({i})" for i, t in enumerate(_texts(conll04_records, 20) * 6)]
    source = tmp_path / "in.txt"  # 156 documents, 20 shards
    source.write_text("\n".join(texts) + "\n", encoding="utf8")
    local = tmp_path / "local.jsonl"
    main(
        ["extract", str(model_dir), str(source), "-o", str(local), "--batch-size", "4"]
    )
    out = tmp_path / "shards"
    job = dict(workers=2, batch_size=4, docs_per_shard=8, progress=None)
    driver = (
        f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); "
        f"from test_ray import Slow; from spacy_stsn.extraction.ray.driver import extract_on_ray; "
        f"extract_on_ray(Slow({str(model_dir)!r}, 0.1), {str(source)!r}, {f'{out}/'!r}, "
        f"address={ray.get_runtime_context().gcs_address!r}, **{job!r})"
    )
    log = tmp_path / "driver.log"
    with log.open("wb") as stderr:
        process = subprocess.Popen([sys.executable, "-c", driver], stderr=stderr)
        while len(list(out.glob("in.txt.*"))) < 2:
            assert process.poll() is None, log.read_text()[-3000:]
            time.sleep(0.2)
        process.send_signal(signal.SIGKILL)
        process.wait()
    done = len(list(out.glob("in.txt.*")))
    assert done < 20, "the job ended before its driver was killed"

    written = extract_on_ray(Slow(str(model_dir), 0.0), source, f"{out}/", **job)
    # the shards done before the kill are not redone
    assert written <= len(texts) - 8 * 2
    assert len(list(out.glob("in.txt.*"))) == 20
    assert _shard_lines(out) == _with_origin(local, source)


@pytest.fixture
def s3(s3_server):
    """A bucket ``corpus`` on the S3 server."""
    import boto3

    client = boto3.client("s3")
    client.create_bucket(Bucket="corpus")
    return client


def test_input_and_output_on_s3(
    trained, local_ray, s3, tmp_path, conll04_records, capsys
):
    """A folder of JSONL on S3 in, Parquet shards on S3 out (then resumed: nothing to
    do), and the ordered JSONL file on S3: the local command's records."""
    _, model_dir, _ = trained
    # 20 documents: part-0 holds 12, part-1 8, both on the grid of batches of 4
    rows = [
        json.dumps({"text": t, "id": i}, ensure_ascii=False) + "\n"
        for i, t in enumerate(_texts(conll04_records, 14))
    ]
    whole = tmp_path / "in.jsonl"
    whole.write_text("".join(rows), encoding="utf8")
    local = tmp_path / "local.jsonl"
    main(["extract", str(model_dir), str(whole), "-o", str(local), "--batch-size", "4"])
    for part, lines in enumerate([rows[:12], rows[12:]]):
        body = "".join(lines).encode("utf8")
        s3.put_object(Bucket="corpus", Key=f"in/part-{part}.jsonl", Body=body)
    argv = ["extract", str(model_dir), "s3://corpus/in/", "--batch-size", "4", "--ray"]

    sharded = argv + ["-o", "s3://corpus/out", "--output-format", "parquet"]
    sharded += ["--docs-per-shard", "8", "--workers", "2"]
    assert main(sharded) == 0
    listed = s3.list_objects_v2(Bucket="corpus", Prefix="out/")["Contents"]
    # (pyarrow leaves an empty "out/" marker where it deletes or moves the last key of a
    # "folder")
    names = sorted(o["Key"][len("out/") :] for o in listed if o["Key"] != "out/")
    assert names == [
        "_stsn_extract.json",
        "part-0.jsonl.000000.parquet",
        "part-0.jsonl.000001.last.parquet",
        "part-1.jsonl.000000.last.parquet",
    ]
    records = []
    for name in names[1:]:
        body = s3.get_object(Bucket="corpus", Key=f"out/{name}")["Body"].read()
        records += pq.read_table(pa.BufferReader(body)).to_pylist()
    origins = [record.pop("_origin") for record in records]
    assert origins == [
        {"file": f"s3://corpus/in/part-{part}.jsonl", "line": line}
        for part, n in enumerate([12, 8])
        for line in range(1, n + 1)
    ]
    assert records == _lines(local)
    capsys.readouterr()
    assert main(sharded) == 0
    assert _last_error(capsys).startswith("0 documents")

    assert main(argv + ["-o", "s3://corpus/ordered.jsonl"]) == 0
    body = s3.get_object(Bucket="corpus", Key="ordered.jsonl")["Body"].read()
    assert body == local.read_bytes()
