"""A pipeline saved by spacy-stsn 0.1.0, before the package moved into subpackages
(``tests/fixtures/pipeline_v0_1_0``, built by its ``make_fixture.py``), loads with
today's code and predicts what it predicted then."""

import importlib.util
import json
from pathlib import Path

import pytest
import spacy

FIXTURE = Path(__file__).parent / "fixtures" / "pipeline_v0_1_0"


def predictions(nlp, texts):
    """The fixture builder's own reading of the predictions."""
    spec = importlib.util.spec_from_file_location(
        "make_fixture_v0_1_0", FIXTURE / "make_fixture.py"
    )
    builder = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(builder)
    return builder.predictions(nlp, texts)


def test_a_pipeline_saved_before_the_move_predicts_as_it_did():
    saved = json.loads((FIXTURE / "predictions.json").read_text(encoding="utf8"))
    nlp = spacy.load(FIXTURE / "pipeline")
    now = predictions(nlp, [record["text"] for record in saved])
    assert sum(len(record["relations"]) for record in saved) > 0
    for before, after in zip(saved, now):
        for key in ("entities", "relations"):
            assert [item[:-1] for item in after[key]] == [
                item[:-1] for item in before[key]
            ], before["text"]
            assert [item[-1] for item in after[key]] == pytest.approx(
                [item[-1] for item in before[key]], abs=1e-4
            )
        assert after["ents"] == before["ents"]
