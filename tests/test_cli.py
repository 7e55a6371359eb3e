"""The command line under its two names: ``spacy stsn COMMAND`` (spaCy's own command
line, the app added through the ``spacy_cli`` entry point) runs each command as
``python -m spacy_stsn COMMAND`` does (:func:`spacy_stsn.cli.main.main`); and
:func:`spacy_stsn.cli.check_command_line` parses a line as the app would."""

import json
import subprocess
import sys
from pathlib import Path
from typing import List, Tuple

import pytest
from spacy.tokens import DocBin
from typer.testing import CliRunner

from spacy_stsn.cli import check_command_line
from spacy_stsn.cli.main import main

SPACY = Path(sys.executable).with_name("spacy")
COMMANDS = ("convert", "evaluate", "tune", "show", "extract", "serve", "curve")
RECORD = {
    "tokens": ["John", "lives", "in", "Rome"],
    "entities": [{"type": "Peop", "start": 0, "end": 1}],
    "relations": [],
}


@pytest.fixture(scope="module")
def spacy_cli():
    """spaCy's command line as its ``spacy`` script builds it (``setup_cli``): the
    plugins of its ``registry.cli`` imported first."""
    from spacy.cli._util import app
    from spacy.util import registry

    registry.cli.get_all()
    return app


def through_spacy(spacy_cli, argv: List[str]) -> Tuple[int, str, str]:
    """(exit status, stdout, stderr) of ``spacy stsn ARGV``."""
    result = CliRunner().invoke(spacy_cli, ["stsn", *argv], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def through_module(capsys, argv: List[str]) -> Tuple[int, str, str]:
    """The same of ``python -m spacy_stsn ARGV``."""
    capsys.readouterr()
    status = main(argv)
    return (status, *capsys.readouterr())


def test_spacy_stsn_lists_the_commands_and_shows_spacy_style_help():
    listing = subprocess.run(
        [str(SPACY), "stsn", "--help"], capture_output=True, text=True
    )
    assert listing.returncode == 0, listing.stderr
    assert all(name in listing.stdout for name in COMMANDS)
    extract = subprocess.run(
        [str(SPACY), "stsn", "extract", "--help"], capture_output=True, text=True
    )
    assert extract.returncode == 0, extract.stderr
    for flag in ("--output", "--html-docs", "--precision", "--ray", "--workers"):
        assert flag in extract.stdout
    module = subprocess.run(
        [sys.executable, "-m", "spacy_stsn", "--help"], capture_output=True, text=True
    )
    assert module.returncode == 0 and all(name in module.stdout for name in COMMANDS)


def test_convert(spacy_cli, capsys, tmp_path):
    source = tmp_path / "in.json"
    source.write_text(json.dumps([RECORD]))
    a, b = tmp_path / "a.spacy", tmp_path / "b.spacy"
    status, out, _ = through_spacy(spacy_cli, ["convert", str(source), str(a)])
    assert status == 0 and out.startswith(f"{source} -> {a}: ")
    assert through_module(capsys, ["convert", str(source), str(b)])[0] == 0
    assert a.read_bytes() == b.read_bytes()
    assert len(DocBin().from_disk(a)) == 1
    # and the same error, the same way
    broken = tmp_path / "broken.json"
    broken.write_text('[{"tokens": ')
    argv = ["convert", str(broken), str(tmp_path / "c.spacy")]
    failed = through_spacy(spacy_cli, argv)
    assert failed[0] == 1 and failed == through_module(capsys, argv)
    assert failed[2].startswith("error: ") and "broken.json" in failed[2]


def test_evaluate_and_show(spacy_cli, capsys, quick_pipeline, tmp_path):
    model_dir, corpus = quick_pipeline
    argv = ["evaluate", str(model_dir), str(corpus), "--output"]
    assert through_spacy(spacy_cli, argv + [str(tmp_path / "a")])[0] == 0
    assert through_module(capsys, argv + [str(tmp_path / "b")])[0] == 0
    a, b = (json.loads((tmp_path / o / "metrics.json").read_text()) for o in "ab")
    assert a["scores"] == b["scores"]
    argv = ["show", str(model_dir), str(corpus), "-n", "2"]
    shown = through_spacy(spacy_cli, argv)
    assert shown[0] == 0 and "gold entities" in shown[1]
    assert shown == through_module(capsys, argv)


def test_tune(spacy_cli, capsys, quick_pipeline, tmp_path):
    model_dir, corpus = quick_pipeline
    argv = ["tune", str(model_dir), str(corpus), "--grid", "0.3", "0.5", "--report"]
    for how, name in ((through_spacy, "a"), (through_module, "b")):
        where = [str(tmp_path / name), "--output", str(tmp_path / name / "model")]
        status, out, err = how(
            spacy_cli if how is through_spacy else capsys, argv + where
        )
        assert status == 0, err
        assert "| dev | after |" in out
    a, b = (json.loads((tmp_path / o / "tuning.json").read_text()) for o in "ab")
    assert a["grid"] == b["grid"] == [0.3, 0.5] and a["after"] == b["after"]


def test_extract(spacy_cli, capsys, quick_pipeline, tmp_path):
    model_dir, _ = quick_pipeline
    source = tmp_path / "in.txt"
    source.write_text("John Smith lives in Boston .\nMary works for IBM .\n")
    argv = ["extract", str(model_dir), str(source), "--batch-size", "1", "-o"]
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    assert through_spacy(spacy_cli, argv + [str(a)])[0] == 0
    assert through_module(capsys, argv + [str(b)])[0] == 0
    assert a.read_text() == b.read_text() and len(a.read_text().splitlines()) == 2


def test_curve(spacy_cli, capsys, tmp_path, monkeypatch):
    from test_progress_logger import quiet_logger, run_logger

    from spacy_stsn.training.loggers import progress_logger_v1

    # the JSONL only (no picture: the command names what is missing)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    run_logger(progress_logger_v1(quiet_logger), [0, 5], tmp_path)
    drawn = through_spacy(spacy_cli, ["curve", str(tmp_path)])
    assert drawn[0] == 0 and "needs matplotlib" in drawn[1]
    assert drawn == through_module(capsys, ["curve", str(tmp_path)])


def test_serve_help_lists_every_option(spacy_cli, capsys):
    from dataclasses import fields

    from spacy_stsn.serve.options import ServeOptions

    shown = through_spacy(spacy_cli, ["serve", "--help"])
    assert shown[0] == 0
    for option in fields(ServeOptions)[1:]:
        assert f"--{option.name.replace('_', '-')}" in shown[1]
    assert through_module(capsys, ["serve", "--help"])[0] == 0


def test_check_command_line_parses_as_the_app_does():
    check_command_line(
        ["extract", "MODEL", "in.txt", "-o", "out.jsonl", "--html", "x.html"]
    )
    check_command_line(
        ["tune", "MODEL", "dev.spacy", "--output", "t", "--grid", "0.3", "0.5"]
    )
    check_command_line(
        ["serve", "MODEL", "--max-batch", "8", "--precision", "bfloat16"]
    )
    check_command_line(["extract", "--help"])
    bad = [
        [
            "extract",
            "MODEL",
            "in.txt",
            "-o",
            "o.jsonl",
            "--batch-sizes",
            "4",
        ],  # renamed
        ["extract", "MODEL", "in.txt", "-o", "o.jsonl", "--batch-size", "four"],
        ["extract", "MODEL", "in.txt", "-o", "o.jsonl", "--precision", "float8"],
        ["extract", "MODEL", "in.txt"],  # no --output
        ["extract-all", "MODEL"],
        ["serve", "MODEL", "--max-batches", "8"],
    ]
    for argv in bad:
        with pytest.raises(ValueError):
            check_command_line(argv)
