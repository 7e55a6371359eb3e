"""Errors at the start instead of the end: every command checks that it can write its
outputs before it loads a model or computes, with one line naming the path; ``extract
--gpu-id`` takes spaCy's device and says what a machine without a GPU lacks."""

import json
import os

import pytest
import torch

from spacy_stsn.cli.main import main


def _commands(tmp_path, unwritable, model, corpus, source, spert):
    """Each command with an output where nothing can be written; the model does not
    exist, so a command that looked at it first would name it instead."""
    return [
        ["convert", spert, unwritable / "train.spacy"],
        ["evaluate", model, corpus, "--output", unwritable / "metrics"],
        ["tune", model, corpus, "--output", unwritable / "tuned"],
        ["tune", model, corpus, "--output", tmp_path / "t", "--report", unwritable],
        ["extract", model, source, "-o", unwritable / "out.jsonl"],
        ["extract", model, source, "-o", tmp_path / "o", "--html", unwritable / "h"],
        [
            "extract",
            model,
            source,
            "-o",
            unwritable / "brat",
            "--output-format",
            "brat",
        ],
        ["extract", model, source, "-o", unwritable / "out.jsonl", "--ray"],
        ["extract", model, source, "-o", f"{unwritable}/shards/", "--ray"],
    ]


def test_every_command_checks_its_outputs_before_it_works(
    quick_pipeline, tmp_path, capsys, conll04_records
):
    _, corpus = quick_pipeline
    model = tmp_path / "no-such-model"
    source, spert = tmp_path / "in.txt", tmp_path / "train.json"
    source.write_text("John Smith lives in Boston .\n")
    spert.write_text(json.dumps(conll04_records[:2]))
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    # under a file: nobody, root included, can create anything there
    unwritable = [(blocker / "out", f"({blocker} is a file, not a folder)")]
    if os.geteuid() != 0:  # root writes through permissions
        locked = tmp_path / "read-only"
        locked.mkdir(mode=0o555)
        unwritable.append((locked / "out", "Permission denied"))
    for folder, problem in unwritable:
        for argv in _commands(tmp_path, folder, model, corpus, source, spert):
            capsys.readouterr()
            assert main(list(map(str, argv))) == 1, argv
            err = capsys.readouterr().err
            assert err.startswith("error: ") and err.count("\n") == 1, err
            assert f"{folder}" in err and "cannot write the output there" in err
            assert problem in err and "no-such-model" not in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["a-file", "in.txt", "train.json"]
        + (["read-only"] if os.geteuid() != 0 else [])
    )


@pytest.mark.skipif(torch.cuda.is_available(), reason="a machine with a GPU")
def test_extract_takes_a_gpu_id_and_says_what_a_cpu_machine_lacks(
    quick_pipeline, tmp_path, capsys
):
    model, _ = quick_pipeline
    source, out = tmp_path / "in.txt", tmp_path / "out.jsonl"
    source.write_text("John Smith lives in Boston .\n")
    argv = ["extract", str(model), str(source), "-o", str(out)]
    assert main(argv + ["--gpu-id", "0"]) == 1
    err = capsys.readouterr().err
    assert (
        err.startswith("error: --gpu-id 0: cannot run on GPU 0 (")
        and err.count("\n") == 1
    )
    assert err.rstrip().endswith("; --gpu-id -1 runs on the CPU") and "torch" in err
    assert not out.exists() and not (tmp_path / "out.jsonl.lock").exists()
    assert main(argv + ["--gpu-id", "-1"]) == 0 and out.exists()
    # (and JSONL output into a folder is refused before the model loads, too)
    (tmp_path / "folder").mkdir()
    assert main(argv[:-1] + [str(tmp_path / "folder")]) == 1
    assert "is a folder: JSONL output is a file" in capsys.readouterr().err
    assert main(argv + ["--gpu-id", "0", "--ray"]) == 1
    assert "--gpus-per-worker" in capsys.readouterr().err
