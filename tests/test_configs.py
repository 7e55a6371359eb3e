"""The shipped configs are complete (fill-config changes nothing) and valid, and
project.yml is well formed."""

from pathlib import Path

import pytest
from thinc.api import Config

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted((ROOT / "configs").glob("*.cfg"))


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_config_is_filled_and_valid(path, tmp_path):
    from spacy.cli.debug_config import debug_config
    from spacy.cli.init_config import fill_config

    filled, _ = fill_config(tmp_path / "filled.cfg", path, silent=True)
    assert Config().from_disk(path, interpolate=False) == Config(filled), (
        "run spacy init fill-config"
    )
    # exits when invalid
    debug_config(
        path, overrides={"paths.train": "train.spacy", "paths.dev": "dev.spacy"}
    )


def test_project_is_valid_and_its_scripts_exist():
    from weasel.util import load_project_config

    project = load_project_config(ROOT)
    commands = {c["name"]: c for c in project["commands"]}
    assert project["workflows"]["all"] == [
        "convert",
        "train",
        "tune",
        "evaluate",
        "show",
        "curve",
    ]
    assert {
        "convert",
        "convert-ade",
        "train",
        "tune",
        "evaluate",
        "cv-ade",
        "ablate",
        "package",
        "curve",
    } <= set(commands)
    for command in commands.values():
        for line in command["script"]:
            for word in line.split():
                if (
                    word.startswith("scripts/")
                    or word.startswith("configs/")
                    and "$" not in word
                ):
                    assert (ROOT / word).exists(), word
    assert all(
        asset["url"].endswith(asset["dest"].split("/", 1)[1])
        for asset in project["assets"]
    )
