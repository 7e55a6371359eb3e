"""spacy-stsn: joint entity and relation extraction (STSN) as a spaCy v3 component."""

import re
from pathlib import Path

from setuptools import find_packages, setup

# one version, spacy_stsn/about.py's, read as text (importing the package needs spaCy)
ABOUT = Path(__file__).with_name("spacy_stsn") / "about.py"
VERSION = re.search(r'__version__ = "([^"]+)"', ABOUT.read_text(encoding="utf8"))[1]

setup(
    name="spacy-stsn",
    version=VERSION,
    description="STSN (Sequence Tagging augmented Span-based Network) joint NER + RE for spaCy v3",
    long_description=Path(__file__).with_name("README.md").read_text(encoding="utf8"),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["spacy_stsn", "spacy_stsn.*"]),
    # the page of `serve`
    package_data={"spacy_stsn.serve": ["static/*.html"]},
    python_requires=">=3.9",
    install_requires=[
        "spacy>=3.8,<3.9",
        "spacy-transformers>=1.4,<1.5",
        "thinc>=8.3,<8.4",
        "torch>=2.1",
        "srsly>=2.4",
        # `convert` streams SpERT JSON lists (memory flat with the file's size)
        "ijson>=3.2",
        "numpy>=1.21",
        # `spacy stsn`: the commands are a typer app (the typer that carries its own
        # click, whose errors are typer.TyperException) printing through wasabi, as
        # spaCy's own
        "typer>=0.29,<1",
        "wasabi>=0.9.1,<1.2",
        # `spacy package --build wheel` (project.yml's `package`) refuses to run without
        # `build` or `wheel`; `wheel` builds offline, where `build` would fetch
        # setuptools into an isolated environment first
        "wheel",
    ],
    extras_require={
        # `python -m spacy_stsn extract --ray` and spacy_stsn.extraction.ray.driver
        # (corpus-scale extraction on Ray Data); s3:// and gs:// through pyarrow's own
        # filesystems (in Ray Data's pyarrow), no further package
        "ray": ["ray[data]>=2.60,<3"],
        # `python -m spacy_stsn serve` (spacy_stsn/serve/): the HTTP service, its
        # metrics and its page
        "serve": [
            "fastapi>=0.110,<1",
            "uvicorn>=0.30,<1",
            "prometheus-client>=0.20,<1",
        ],
        # `serve --ray`: the same app as a Ray Serve application
        "serve-ray": [
            "ray[serve]>=2.60,<3",
            "fastapi>=0.110,<1",
            "uvicorn>=0.30,<1",
            "prometheus-client>=0.20,<1",
        ],
        # the pictures: training's dev curve (spacy_stsn.ProgressLogger.v1 writes its
        # JSONL without it) and evaluate's breakdowns.png
        "plots": ["matplotlib>=3.6"],
    },
    entry_points={
        # `spacy stsn ...`: spaCy imports spacy_stsn/cli/plugin.py through its
        # registry.cli, which adds the stsn app to its own command line
        "spacy_cli": ["stsn = spacy_stsn.cli.plugin:app"],
        "spacy_factories": ["stsn = spacy_stsn.pipeline.factory:make_stsn"],
        "spacy_architectures": [
            "spacy_stsn.STSN.v1 = spacy_stsn.ml.model:build_stsn_model",
            "spacy_stsn.FeatureTok2Vec.v1 = spacy_stsn.ml.features:build_feature_tok2vec",
        ],
        "spacy_span_getters": [
            "spacy_stsn.sentence_spans.v1 = "
            "spacy_stsn.pipeline.transformer_spans:configure_sentence_spans"
        ],
        "spacy_misc": [
            "spacy_stsn.encoder.v1 = spacy_stsn.ml.encoders:resolve_encoder"
        ],
        "spacy_scorers": [
            "spacy_stsn.scorer.v1 = spacy_stsn.evaluation.scorer:make_stsn_scorer"
        ],
        # [nlp.after_pipeline_creation]: the pipeline's compute precision
        # (spacy_stsn/ml/precision.py)
        "spacy_callbacks": [
            "spacy_stsn.precision.v1 = spacy_stsn.ml.precision:make_precision_callback"
        ],
        # [training.logger]: the dev curve beside the console table
        # (spacy_stsn/training/loggers.py), in the group spacy-loggers registers in
        "spacy_loggers": [
            "spacy_stsn.ProgressLogger.v1 = spacy_stsn.training.loggers:progress_logger_v1"
        ],
        # thinc's optimizers registry (spaCy's [training.optimizer] reads it): group
        # "thinc_optimizers"
        "thinc_optimizers": [
            "spacy_stsn.AdamW.v1 = spacy_stsn.ml.optimizer:make_torch_adamw"
        ],
    },
)
