"""Decoding thresholds chosen on dev: ``python -m spacy_stsn tune MODEL DEV --output DIR
[--test TEST]``.

The paper's alpha (``threshold = 0.4``) stays the default; this command picks, on a dev
set, after training:

1. ``nested_threshold``, where the model decodes nested entities (``overlaps`` resolved
   to ``nested``);
2. one relation ``threshold`` for all types (a grid, 0.05 ... 0.95 by default, plus the
   current value);
3. per relation type, the best threshold given the global one (the other types at the
   global one), kept in ``relation_thresholds`` for the types where it differs, and only
   if all of them together beat the global threshold alone on dev.

Each choice maximises the selection score of ``spacy train`` (the pipeline's
``[training.score_weights]``: NER F1 and RE+ F1 equally for the shipped configs), or
``metric``; ties go to the value closest to the current one. The chosen values are
written into a copy of the pipeline's ``config.cfg``, so ``spacy.load(DIR)`` uses them
and a config override replaces them (``config={"components.stsn.threshold": 0.5}``).

The sweep is cheap: the network runs once per corpus, with the loosest settings, and
each candidate setting re-decodes the stored scores by counting
(:class:`spacy_stsn.evaluation.sweep.Predictions`).
"""

import json
import shutil
from dataclasses import asdict
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from spacy.language import Language
from thinc.api import Config

from ..pipeline.loading import load_pipeline
from ..pipeline.settings import STSNSettings
from .evaluate import load_examples, predict
from .sweep import Predictions, Thresholds
from .tasks import TASKS

GRID = tuple(round(0.05 * i, 2) for i in range(1, 20))  # 0.05 ... 0.95
NESTED_GRID = (0.0,) + GRID + (1.0,)
# what :func:`write_report` writes into its folder
REPORT_FILES = ("tuning.json", "tuning.md")


def selection_score(
    scores: Dict[str, Any], weights: Dict[str, Optional[float]]
) -> float:
    """spaCy's weighted score (``[training.score_weights]``) over the keys that have a
    weight."""
    return float(sum(scores.get(key, 0.0) * w for key, w in weights.items() if w))


def closest_best(
    candidates: Sequence[float], values: Sequence[float], current: float
) -> float:
    """The candidate of the highest value; ties go to the one closest to ``current``."""
    best = max(values)
    tied = [c for c, v in zip(candidates, values) if v >= best - 1e-12]
    return min(tied, key=lambda c: (abs(c - current), c))


def choose(
    dev: Predictions,
    current: Thresholds,
    weights: Dict[str, Optional[float]],
    nested: bool,
    grid: Sequence[float] = GRID,
    per_type: bool = True,
) -> Tuple[Thresholds, Dict[str, Any]]:
    """The thresholds chosen on ``dev`` (see the module docstring) and every point of
    the sweep."""

    def value(t: Thresholds) -> float:
        return selection_score(dev.scores(t, nested), weights)

    sweep: Dict[str, Any] = {}
    chosen = Thresholds(current.threshold, {}, current.nested_threshold)
    if nested:
        points = sorted(set(NESTED_GRID) | {current.nested_threshold})
        values = [value(Thresholds(chosen.threshold, {}, t)) for t in points]
        chosen.nested_threshold = closest_best(points, values, current.nested_threshold)
        sweep["nested_threshold"] = list(zip(points, values))
    points = sorted(set(grid) | {current.threshold})
    values = [value(Thresholds(t, {}, chosen.nested_threshold)) for t in points]
    chosen.threshold = closest_best(points, values, current.threshold)
    sweep["threshold"] = list(zip(points, values))
    if per_type:
        sweep["relation_thresholds"] = {}
        for label in dev.model_types:
            per_values = [
                value(Thresholds(chosen.threshold, {label: t}, chosen.nested_threshold))
                for t in points
            ]
            best = closest_best(points, per_values, chosen.threshold)
            sweep["relation_thresholds"][label] = list(zip(points, per_values))
            if best != chosen.threshold:
                chosen.relation_thresholds[label] = best
        if chosen.relation_thresholds and value(chosen) <= value(
            Thresholds(chosen.threshold, {}, chosen.nested_threshold)
        ):
            chosen.relation_thresholds = {}
    return chosen, sweep


def grid_edges(chosen: Thresholds, grid: Sequence[float]) -> List[str]:
    """The chosen relation thresholds that sit on the highest or the lowest point of
    ``grid``: the best may lie beyond it (ADE's dev chose 0.95, the default grid's top,
    in 4 runs of 6), so the report says so instead of passing an edge off as an
    optimum."""
    low, high = min(grid), max(grid)
    named = [("threshold", chosen.threshold)] + [
        (f"relation_thresholds.{label}", value)
        for label, value in sorted(chosen.relation_thresholds.items())
    ]
    return [
        f"{name} = {value} is the grid's {'highest' if value == high else 'lowest'} "
        "point: the best may lie beyond it (widen the grid: tune --grid ...)"
        for name, value in named
        if value in (low, high) and low != high
    ]


def stsn_name(config: Config) -> str:
    """The name of the pipeline's stsn component in its config."""
    names = [
        name
        for name, block in config["components"].items()
        if block.get("factory") == "stsn"
    ]
    if not names:
        raise ValueError(
            f"the pipeline {list(config['components'])} has no stsn component"
        )
    return names[0]


def read_config(model: Path) -> Config:
    path = Path(model) / "config.cfg"
    if not path.exists():
        raise ValueError(
            f"{model} is not a pipeline directory (no config.cfg): tune reads and writes pipeline folders"
        )
    return Config().from_disk(path, interpolate=False)


def collect(
    nlp: Language,
    corpus: Path,
    spans_key: str,
    symmetric: Sequence[str],
    types: Sequence[str],
) -> Predictions:
    """Predict ``corpus`` once and keep what the sweep re-decodes."""
    examples = load_examples(nlp, corpus)
    predict(nlp, examples)
    return Predictions(examples, spans_key, symmetric, types)


def tune(
    model: Path,
    dev: Path,
    output: Path,
    test: Optional[Path] = None,
    grid: Sequence[float] = GRID,
    metric: Optional[str] = None,
    per_type: bool = True,
    gpu_id: int = -1,
) -> Dict[str, Any]:
    """Choose the thresholds on ``dev``, write the pipeline with them to ``output``
    (which may be ``model``), and return the report: the choice, the sweep and the
    scores before and after on dev (and ``test``)."""
    if not grid or not all(0.0 <= t <= 1.0 for t in grid):
        raise ValueError(
            f"the threshold grid must hold values in [0, 1], not {list(grid)}"
        )
    config = read_config(model)
    name = stsn_name(config)
    settings = {**STSNSettings.defaults(), **config["components"][name]}
    current = Thresholds(
        float(settings["threshold"]),
        {k: float(v) for k, v in settings["relation_thresholds"].items()},
        float(settings["nested_threshold"]),
    )
    lowest = min([*grid, current.threshold, *current.relation_thresholds.values()])
    loose = {
        f"components.{name}.threshold": lowest,
        f"components.{name}.nested_threshold": 0.0,
    }
    loose.update(
        {
            f"components.{name}.relation_thresholds.{k}": lowest
            for k in current.relation_thresholds
        }
    )
    nlp, stsn = load_pipeline(str(model), gpu_id, overrides=loose)
    nested = stsn.overlaps == "nested" and stsn.cfg["entities"] == "predict"
    weights = (
        {metric: 1.0}
        if metric
        else dict(
            config["training"].get("score_weights")
            or {"ents_f": 0.5, "rel_strict_f": 0.5}
        )
    )
    args = (stsn.spans_key, stsn.symmetric_labels, stsn.relation_labels)
    corpora = {"dev": collect(nlp, dev, *args)}
    if metric and metric not in corpora["dev"].scores(current, nested):
        raise ValueError(
            f"unknown metric {metric!r}; use a key of the scorer such as rel_strict_f or rel_strict_macro_f"
        )
    chosen, sweep = choose(corpora["dev"], current, weights, nested, grid, per_type)
    if test is not None:
        corpora["test"] = collect(nlp, test, *args)
    results = {}
    for corpus, predictions in corpora.items():
        results[corpus] = {}
        for when, thresholds in (("before", current), ("after", chosen)):
            scores = predictions.scores(thresholds, nested)
            scores["score"] = selection_score(scores, weights)
            results[corpus][when] = scores
    write_pipeline(Path(model), Path(output), name, chosen, nested)
    return {
        "model": str(model),
        "output": str(output),
        "dev": str(dev),
        "test": None if test is None else str(test),
        "weights": weights,
        "nested": nested,
        "before": asdict(current),
        "after": asdict(chosen),
        "grid": sorted(set(grid)),
        "at_grid_edge": grid_edges(chosen, grid),
        "scores": results,
        "sweep": sweep,
    }


def write_pipeline(
    model: Path, output: Path, name: str, chosen: Thresholds, nested: bool
) -> None:
    """A copy of ``model`` (unless it is ``output``) whose ``config.cfg`` holds the
    chosen thresholds."""
    if model.resolve() != output.resolve():
        shutil.copytree(model, output, dirs_exist_ok=True)
    config = read_config(output)
    settings = config["components"][name]
    settings["threshold"] = chosen.threshold
    settings["relation_thresholds"] = dict(chosen.relation_thresholds)
    if nested:
        settings["nested_threshold"] = chosen.nested_threshold
    text = config.to_str()
    if Config().from_str(text, interpolate=False)["components"][name] != settings:
        raise ValueError(
            f"relation types {sorted(chosen.relation_thresholds)} cannot be written as config keys"
        )
    (output / "config.cfg").write_text(text, encoding="utf8")


def markdown(report: Dict[str, Any]) -> str:
    """The choice, then one row per corpus and setting: NER, RE, RE+ micro F1, RE+ macro
    F1, selection score, and RE+ F1 per relation type."""
    after = report["after"]
    lines = [
        f"Thresholds chosen on `{report['dev']}` for `{report['model']}` (written to `{report['output']}`):",
        "",
        f"- threshold: {report['before']['threshold']} -> {after['threshold']}",
        f"- relation_thresholds: {report['before']['relation_thresholds'] or '{}'} -> "
        f"{after['relation_thresholds'] or '{}'}",
    ]
    if report["nested"]:
        lines.append(
            f"- nested_threshold: {report['before']['nested_threshold']} -> {after['nested_threshold']}"
        )
    lines += [f"- warning: {note}" for note in report.get("at_grid_edge", [])]
    types = sorted(
        {
            t
            for c in report["scores"].values()
            for s in c.values()
            for t in s["rel_strict_per_type"]
        }
    )
    lines += [
        "",
        "| corpus | thresholds | NER F1 | RE F1 | RE+ F1 | RE+ macro F1 | score | "
        + " | ".join(f"RE+ {t}" for t in types)
        + " |",
        "|---|---|---|---|---|---|---|" + "---|" * len(types),
    ]
    for corpus, rows in report["scores"].items():
        for when, s in rows.items():
            cells = [s[f"{task.prefix}_f"] for task in TASKS] + [
                s["rel_strict_macro_f"],
                s["score"],
            ]
            cells += [s["rel_strict_per_type"].get(t, {"f": 0.0})["f"] for t in types]
            row = [corpus, when] + [f"{100 * v:.1f}" for v in cells]
            lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


def write_report(report: Dict[str, Any], folder: Path) -> None:
    """The :data:`REPORT_FILES` in ``folder``."""
    json_file, md_file = (folder / name for name in REPORT_FILES)
    folder.mkdir(parents=True, exist_ok=True)
    json_file.write_text(json.dumps(report, indent=2), encoding="utf8")
    md_file.write_text(markdown(report), encoding="utf8")
