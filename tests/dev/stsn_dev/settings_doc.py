"""docs/settings.md, written from the code: the ``stsn`` component's settings from
:class:`spacy_stsn.pipeline.settings.STSNSettings` and the model settings of
``spacy_stsn.STSN.v1`` from the signature and docstring of its builder.

    python -m stsn_dev.settings_doc > docs/settings.md

tests/test_settings_doc.py fails when docs/settings.md is not what this writes."""

import inspect
import json
import re
from typing import Callable, Dict, List

from spacy_stsn.ml.model import build_stsn_model
from spacy_stsn.pipeline.settings import STSNSettings, allowed

HEADER = """# Settings

Generated from the code by `python -m stsn_dev.settings_doc > docs/settings.md`; edit
the code, not this page.

## The `stsn` component

Set in `[components.stsn]` of a config, or as `nlp.add_pipe("stsn", config={...})`.
Each value is checked when the component is created: a value out of range is an error
naming the setting and the values it allows. The "Paper" column says which value is
the paper's behaviour and which settings go beyond the paper.

| Setting | Type | Default | Allowed | What it does | Paper |
| --- | --- | --- | --- | --- | --- |
"""

MODEL_HEADER = """
## The model: `spacy_stsn.STSN.v1`

Set in `[components.stsn.model]` (`@architectures = "spacy_stsn.STSN.v1"`).

| Setting | Type | Default | What it does |
| --- | --- | --- | --- |
"""

# "name (type): text", continued on the lines indented deeper
ARGUMENT = re.compile(r"^(\w+) \((.+?)\): (.*)$")


def cell(text: str) -> str:
    """``text`` (reStructuredText, as docstrings write it) as one Markdown table
    cell."""
    text = re.sub(r":[a-z]+:`~?([^`]+)`", r"`\1`", text)
    return " ".join(text.replace("``", "`").split()).replace("|", "\\|")


def docstring_arguments(function: Callable) -> Dict[str, str]:
    """What a spaCy-style docstring says of each argument (``name (type): text``, one
    per line, continued on more deeply indented lines).

    function (Callable): the documented function.
    RETURNS (Dict[str, str]): the text per argument name.
    """
    described: Dict[str, List[str]] = {}
    current = None
    for line in inspect.getdoc(function).splitlines():
        match = ARGUMENT.match(line)
        if match:
            current = match.group(1)
            described[current] = [match.group(3)]
        elif current is not None and line.startswith(" "):
            described[current].append(line.strip())
        else:
            current = None
    return {name: " ".join(lines) for name, lines in described.items()}


def component_rows() -> List[str]:
    """One table row per setting of the component."""
    defaults = STSNSettings.defaults()
    rows = []
    for item, kind in STSNSettings.described():
        rules = item.metadata
        cells = [
            f"`{item.name}`",
            f"`{kind}`",
            f"`{json.dumps(defaults[item.name])}`",
            cell(allowed(rules)) or "any",
            cell(rules["doc"]),
            cell(rules["paper"] or ""),
        ]
        rows.append("| " + " | ".join(cells) + " |")
    return rows


def model_rows() -> List[str]:
    """One table row per setting of ``spacy_stsn.STSN.v1`` but its tok2vec."""
    described = docstring_arguments(build_stsn_model)
    rows = []
    for name, parameter in inspect.signature(build_stsn_model).parameters.items():
        if parameter.default is inspect.Parameter.empty:
            continue  # the tok2vec, a sub-model of its own
        kind = inspect.formatannotation(parameter.annotation).replace("typing.", "")
        cells = [
            f"`{name}`",
            f"`{kind}`",
            f"`{json.dumps(parameter.default)}`",
            cell(described[name]),
        ]
        rows.append("| " + " | ".join(cells) + " |")
    return rows


def settings_page() -> str:
    """docs/settings.md."""
    component = "\n".join(component_rows())
    return f"{HEADER}{component}\n{MODEL_HEADER}" + "\n".join(model_rows()) + "\n"


if __name__ == "__main__":
    print(settings_page(), end="")
