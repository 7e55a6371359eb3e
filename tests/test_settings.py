"""The ``stsn`` component's settings: one dataclass that the factory's signature and
``default_config``, the component's cfg and docs/settings.md follow, and that checks
every value in one place."""

import dataclasses
import inspect
from pathlib import Path

import pytest
import spacy
from spacy.language import Language

from spacy_stsn.ml.model import build_stsn_model
from spacy_stsn.pipeline.factory import make_stsn
from spacy_stsn.pipeline.settings import STSNSettings, initial_cfg
from stsn_dev.settings_doc import docstring_arguments, settings_page

ROOT = Path(__file__).parent.parent


def test_the_factory_takes_every_setting_with_its_type_and_default():
    parameters = inspect.signature(make_stsn).parameters
    fields = {item.name: item for item in dataclasses.fields(STSNSettings)}
    own = {"nlp", "name", "model", "scorer"}
    assert set(parameters) - own == set(fields)
    for name, item in fields.items():
        assert parameters[name].annotation == item.type, name
    config = Language.get_factory_meta("stsn").default_config
    assert {key: config[key] for key in fields} == STSNSettings.defaults()
    for name in fields:
        assert f"\n    {name} (" in make_stsn.__doc__, name


@pytest.mark.parametrize(
    "settings,message",
    [
        ({"overlap": "flat"}, r"unknown stsn settings \['overlap'\]"),
        ({"tag_scheme": "BIOES"}, r"tag_scheme must be one of \('BIO', "),
        ({"entities": "gold"}, r"entities must be one of \('predict', 'given'\)"),
        ({"precision": "fp16"}, r"precision must be one of .*not 'fp16'"),
        ({"windows": "pages"}, r"windows must be one of"),
        ({"threshold": 1.5}, r"threshold must be in \[0, 1\], not 1.5"),
        ({"threshold": "high"}, r"threshold must be a number, not 'high'"),
        ({"nested_threshold": -0.1}, r"nested_threshold must be in \[0, 1\]"),
        ({"relation_thresholds": {"Kill": 2}}, r"relation_thresholds\['Kill'\]"),
        ({"neg_entity_samples": -1}, r"neg_entity_samples must be >= 0, not -1"),
        ({"max_batch_items": 0}, r"max_batch_items must be >= 1, not 0"),
        ({"window_overlap": 128}, r"window_overlap must be >= 0 and less than"),
    ],
)
def test_a_bad_setting_is_named_with_the_values_it_allows(settings, message):
    with pytest.raises(ValueError, match=message):
        STSNSettings.from_dict(settings)
    if "unknown" in message or "a number" in message:
        return  # the config's own checks (names and types) answer first
    nlp = spacy.blank("en")
    with pytest.raises(ValueError, match=message):
        nlp.add_pipe("stsn", config=settings)


def test_the_cfg_holds_the_settings_between_the_labels_and_what_is_learned():
    cfg = initial_cfg({"symmetric_relations": ["b", "a"], "threshold": 0.5})
    assert cfg["labels"]["symmetric"] == ["a", "b"]
    assert "symmetric_relations" not in cfg and cfg["threshold"] == 0.5
    keys = list(cfg)
    assert keys[0] == "labels" and keys[-2:] == ["input_width", "data_overlaps"]
    defaults = STSNSettings.defaults()
    del defaults["symmetric_relations"]
    assert keys[1:-2] == list(defaults)


def test_the_model_docstring_describes_every_model_setting():
    described = docstring_arguments(build_stsn_model)
    assert set(described) - {"RETURNS"} == set(
        inspect.signature(build_stsn_model).parameters
    )


def test_docs_settings_md_is_what_the_generator_writes():
    page = (ROOT / "docs" / "settings.md").read_text(encoding="utf8")
    assert page == settings_page(), (
        "docs/settings.md is out of date: run "
        "`python -m stsn_dev.settings_doc > docs/settings.md`"
    )
    for item in dataclasses.fields(STSNSettings):
        assert f"| `{item.name}` |" in page
