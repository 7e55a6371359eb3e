"""``extract --ray`` and ``spacy_stsn.ray_extract`` on a local Ray instance (2 CPUs), with the small pipeline
trained in conftest: the same output as the local command, line for line, also when an actor is killed."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import ray
import ray.cloudpickle

from spacy_stsn.__main__ import main

from test_extract import ODD_TEXTS, _lines, _rounded

ray.cloudpickle.register_pickle_by_value(
    sys.modules[__name__]
)  # the crashing loader below, for the actors


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def _texts(conll04_records, n=30):
    return ODD_TEXTS + [" ".join(r["tokens"]) for r in conll04_records[:n]]


def _local_and_ray(model_dir, source, tmp_path, *extra, workers=2):
    """Run the local command and the Ray command on ``source``; return both outputs' text."""
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
        f"import sys, spacy_stsn; from spacy_stsn.__main__ import main; assert main({argv!r}) == 0; "
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
    texts = _texts(
        conll04_records
    )  # 36 documents: 3 blocks of 4 batches of 4 for 2 actors
    source = tmp_path / "in.txt"
    source.write_text("\n".join(texts) + "\n", encoding="utf8")
    local, on_ray = _local_and_ray(model_dir, source, tmp_path, "--tags")
    assert on_ray == local
    records = [json.loads(line) for line in on_ray.splitlines()]
    assert [r["text"] for r in records] == texts and any(
        r["relations"] for r in records
    )
    assert all(len(r["tags"] or []) == len(r["tokens"]) for r in records)


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


def test_dataset_api_and_parquet_in_and_out(
    trained, local_ray, tmp_path, conll04_records
):
    """A Dataset with a text column in, ``entities``/``relations`` columns out; a folder of Parquet files in,
    one Parquet file out, in order, the other columns kept."""
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
    rows = sorted(
        out.take_all(), key=lambda r: r["id"]
    )  # from_items' blocks: any order, any batching
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
    table = pq.read_table(output)
    assert table.column_names == ["text", "id", "entities", "relations"]
    assert table.column("id").to_pylist() == list(range(len(texts)))
    assert table.column("text").to_pylist() == texts
    got = [
        {"entities": e, "relations": r}
        for e, r in zip(
            table.column("entities").to_pylist(), table.column("relations").to_pylist()
        )
    ]
    assert _rounded(got) == _rounded(expected)


class CrashOnce:
    """A pipeline loader whose pipeline kills its actor process (``os._exit``) at its ``after``-th document,
    once: the first crash leaves ``marker`` behind, and the restarted actor finds it."""

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
    from spacy_stsn.ray_extract import extract_on_ray

    _, model_dir, _ = trained
    texts = [
        f"{t} ({i})" for i, t in enumerate(_texts(conll04_records, 20) * 3)
    ]  # 78 documents, 5 blocks
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
    # the 22nd document of an actor: after one finished block (16 documents), in the middle of its second
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
