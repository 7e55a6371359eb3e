"""The tables of the experiment scripts: each run's F1s, their mean and standard
deviation per row, the dev curves, written as JSON and Markdown beside each other."""

import json
import statistics
from pathlib import Path
from typing import Any, Dict, List, Optional

from spacy_stsn.evaluation.tasks import TASKS
from spacy_stsn.files import check_writable

METRICS = [f"{task.prefix}_{avg}f" for task in TASKS for avg in ("", "macro_")]


def f1s(result: Dict[str, Any]) -> Dict[str, float]:
    """The micro and macro F1 of NER, RE and RE+ in percent."""
    return {m: 100 * result["scores"][m] for m in METRICS}


def summarize(
    rows: Dict[str, List[Dict[str, Any]]],
) -> Dict[str, Dict[str, Dict[str, Optional[float]]]]:
    """Mean and (sample) standard deviation of every metric over the runs of each row
    (std None for one run: a single run says nothing about the spread, and 0.0 would
    claim there is none)."""
    out = {}
    for name, runs in rows.items():
        out[name] = {
            m: {
                "mean": statistics.mean(r[m] for r in runs),
                "std": statistics.stdev(r[m] for r in runs) if len(runs) > 1 else None,
                "n": len(runs),
            }
            for m in METRICS
        }
    return out


def curves_table(rows: Dict[str, List[Dict[str, Any]]]) -> str:
    """Dev NER / RE+ F1 of every run at every evaluation, one line per run ("" when no
    run has a curve)."""
    runs = [
        (f"{name} (seed {run.get('seed', '?')})", run["dev_curve"])
        for name, row in rows.items()
        for run in row
        if run.get("dev_curve")
    ]
    if not runs:
        return ""
    steps = sorted(
        {point["step"] for _, curve in runs for point in curve if point["step"] > 0}
    )
    lines = [
        "Dev NER / RE+ micro F1 at each evaluation (step):",
        "",
        "| run | " + " | ".join(f"{step:,}" for step in steps) + " |",
        "|---|" + "---|" * len(steps),
    ]
    for label, curve in runs:
        at = {
            point["step"]: f"{point['ents_f']:.1f} / {point['rel_strict_f']:.1f}"
            for point in curve
        }
        lines.append(
            f"| {label} | " + " | ".join(at.get(step, "") for step in steps) + " |"
        )
    return "\n".join(lines) + "\n"


def _cell(stats: Dict[str, Optional[float]]) -> str:
    """ "mean ± std", or the bare value when there is no spread to show (one run)."""
    return (
        f"{stats['mean']:.1f}"
        if stats["std"] is None
        else f"{stats['mean']:.1f} ± {stats['std']:.1f}"
    )


def markdown_table(
    summary: Dict[str, Dict[str, Dict[str, Optional[float]]]], title: str
) -> str:
    header = " | ".join(
        f"{task.name} {avg}F1" for task in TASKS for avg in ("micro ", "macro ")
    )
    lines = [title, "", f"| run | n | {header} |", "|---|---|" + "---|" * len(METRICS)]
    for name, metrics in summary.items():
        cells = " | ".join(_cell(metrics[m]) for m in METRICS)
        lines.append(f"| {name} | {metrics[METRICS[0]]['n']} | {cells} |")
    return "\n".join(lines) + "\n"


def summary_files(output: Path, stem: str) -> List[Path]:
    """The table files :func:`write_summary` writes: ``output/STEM.json`` and
    ``.md``."""
    return [output / f"{stem}.json", output / f"{stem}.md"]


def check_outputs(*paths: Optional[Path]) -> None:
    """Exit with one line naming the first of ``paths`` that cannot be written
    (:func:`spacy_stsn.files.check_writable`), before hours of training find it."""
    try:
        check_writable(*paths)
    except ValueError as err:
        raise SystemExit(f"error: {err}") from None


def write_summary(
    output: Path,
    stem: str,
    rows: Dict[str, List[Dict[str, Any]]],
    title: str,
    extra: Dict[str, Any],
) -> str:
    summary = summarize(rows)
    table = markdown_table(summary, title)
    curves = curves_table(rows)
    if curves:
        table += "\n" + curves
    json_file, md_file = summary_files(output, stem)
    output.mkdir(parents=True, exist_ok=True)
    json_file.write_text(
        json.dumps({"summary": summary, "runs": rows, **extra}, indent=2)
    )
    md_file.write_text(table)
    return table
