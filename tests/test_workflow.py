"""The project's one-command workflow on a dataset it has never seen: a synthetic
SpERT-format dataset written by the test, through convert -> train -> evaluate -> show
-> curve (``spacy project run all``), on a tiny random encoder."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def write_dataset(
    folder: Path, name: str, parts=("train", "dev", "test", "types")
) -> None:
    """'Alice met Bob in Paris .' style sentences, two entity types, a directed and a
    symmetric relation."""
    people, places = ["Alice", "Bob", "Carol", "Dave"], ["Paris", "Rome", "Oslo"]
    records = []
    for i in range(12):
        a, b, c = people[i % 4], people[(i + 1) % 4], places[i % 3]
        records.append(
            {
                "tokens": [a, "met", b, "in", c, "."],
                "orig_id": i,
                "entities": [
                    {"type": "Per", "start": 0, "end": 1},
                    {"type": "Per", "start": 2, "end": 3},
                    {"type": "Loc", "start": 4, "end": 5},
                ],
                "relations": [
                    {"type": "Meets", "head": 1, "tail": 0},
                    {"type": "LivesIn", "head": 0, "tail": 2},
                ],
            }
        )
    types = {
        "entities": {"Per": {"short": "Per"}, "Loc": {"short": "Loc"}},
        "relations": {
            "Meets": {"short": "Meets", "symmetric": True},
            "LivesIn": {"short": "LivesIn", "symmetric": False},
        },
    }
    (folder / name).mkdir(parents=True)
    for part in parts:
        data = types if part == "types" else records
        (folder / name / f"{name}_{part}.json").write_text(json.dumps(data))


def project_copy(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(ROOT / "project.yml", project)
    for folder in ("configs", "scripts"):
        shutil.copytree(ROOT / folder, project / folder)
    return project


def run(project: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "spacy", "project", "run", *args],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=900,
    )


def test_one_command_workflow_on_a_new_spert_dataset(tmp_path, tiny_bert):
    data = tmp_path / "data"
    write_dataset(data, "toy")
    project = project_copy(tmp_path)
    out = run(
        project,
        "all",
        ".",
        "--vars.dataset",
        "toy",
        "--vars.data_dir",
        str(data),
        "--vars.encoder",
        tiny_bert,
        "--vars.steps",
        "6",
        "--vars.warmup_steps",
        "1",
        "--vars.eval_frequency",
        "3",
        "--vars.n_show",
        "2",
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    metrics = json.loads((project / "metrics" / "toy" / "metrics.json").read_text())
    assert {"ents_f", "rel_f", "rel_strict_f"} <= set(metrics["scores"])
    cfg = json.loads(
        (project / "training" / "toy" / "model-best" / "stsn" / "cfg").read_text()
    )
    # chosen from the data: flat, BIO
    assert cfg["tag_scheme"] == "BIO" and cfg["data_overlaps"] == 0.0
    # the types file's flag, through the corpus
    assert cfg["labels"]["symmetric"] == ["Meets"]
    assert "Alice" in out.stdout  # show printed sentences of the new dataset
    # tune chose the relation thresholds on dev and wrote a pipeline with them
    tuning = json.loads((project / "metrics" / "toy" / "tuning.json").read_text())
    assert set(tuning["scores"]) == {"dev", "test"}
    assert (project / "training" / "toy" / "model-tuned" / "config.cfg").exists()
    # the dev curve, one line per evaluation (steps 0, 3, 6), is named at the very end
    curve = (project / "training" / "toy" / "curve.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in curve] == [0, 3, 6]
    last = out.stdout.strip().splitlines()[-1]
    assert last.startswith("dev curve: training/toy/curve.png (3 evaluations;")


def test_a_missing_dataset_file_is_named(tmp_path):
    data = tmp_path / "data"
    write_dataset(data, "toy", parts=("train", "dev", "types"))
    project = project_copy(tmp_path)
    out = run(
        project, "convert", ".", "--vars.dataset", "toy", "--vars.data_dir", str(data)
    )
    assert out.returncode != 0
    assert "toy_test.json" in out.stdout + out.stderr
    direct = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "convert_dataset.py"),
            str(data),
            "toy",
            str(tmp_path / "corpus"),
        ],
        capture_output=True,
        text=True,
    )
    assert (
        direct.returncode == 1 and f"{data / 'toy' / 'toy_test.json'}" in direct.stderr
    )
    assert not (tmp_path / "corpus").exists()  # nothing written
