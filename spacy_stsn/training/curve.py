"""The dev curve of a training run: one JSON line per evaluation (``curve.jsonl``) and
its picture (``curve.png``), redrawn whole at each evaluation so that a viewer never
sees half a file.

matplotlib draws the picture and is optional: without it the JSONL is still written and
``PNG_NEEDS_MATPLOTLIB`` says what is missing. The picture is drawn on a
``matplotlib.figure.Figure`` (the Agg renderer), never through pyplot, so it works
headless and leaves the backend of a notebook or GUI session alone.
"""

import itertools
import json
import math
import os
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np

from ..evaluation.tasks import TASKS

JSONL = "curve.jsonl"
PNG = "curve.png"
PNG_NEEDS_MATPLOTLIB = (
    "curve.png needs matplotlib (pip install matplotlib, or spacy-stsn[plots])"
)
# one colour per task, the same for its micro (solid) and macro (dashed) F1; the losses
# take others, so that no loss line looks like a task's
COLOURS = ("tab:blue", "tab:orange", "tab:green")
# and one marker, so that RE and RE+ stay apart where their F1 is the same
MARKERS = ("o", "s", "^")
LOSS_COLOURS = ("tab:purple", "tab:brown", "tab:gray", "tab:olive", "tab:cyan")
# legends right of the panels, where no curve runs
LEGEND = {"loc": "upper left", "bbox_to_anchor": (1.01, 1.0), "fontsize": "small"}
Record = Dict[str, Any]


def matplotlib_missing() -> bool:
    """Whether matplotlib cannot be imported (the picture is then skipped)."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return True
    return False


def evaluation_record(info: Dict[str, Any], previous_step: int) -> Record:
    """One evaluation of spaCy's training loop as a line of ``curve.jsonl``.

    info: the dict spaCy's loop hands its logger at an evaluation
    previous_step: the step of the evaluation before (-1 for the first): spaCy's
        ``losses`` are sums since then, ``losses_per_step`` divides them by the steps
    """
    steps = max(info["step"] - previous_step, 1)
    losses = {name: float(value) for name, value in info["losses"].items()}
    return {
        "step": info["step"],
        "epoch": info["epoch"],
        "words": info["words"],
        "seconds": info["seconds"],
        "score": float(info["score"]),
        # the scorer's numbers (fractions, as in meta.json), not its per-type tables
        "scores": {
            key: float(value)
            for key, value in info["other_scores"].items()
            if isinstance(value, (int, float))
        },
        "losses": losses,
        "losses_per_step": {name: value / steps for name, value in losses.items()},
    }


def append_record(directory: Path, record: Record, fresh: bool) -> None:
    """Add ``record`` to ``directory/curve.jsonl`` as one write of one line; ``fresh``
    starts the file anew (a run's first evaluation)."""
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / JSONL).open("w" if fresh else "a", encoding="utf8") as handle:
        handle.write(json.dumps(record) + "\n")


def read_curve(directory: Path) -> List[Record]:
    """The records of ``directory/curve.jsonl``, in order."""
    lines = (directory / JSONL).read_text(encoding="utf8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def best_record(records: List[Record]) -> Record:
    """The evaluation spaCy saved as model-best: the highest score, the earliest step on
    ties."""
    return max(records, key=lambda r: (r["score"], -r["step"]))


def describe(records: List[Record]) -> str:
    """The last evaluation and the best one in words, for titles and messages."""
    last, best = records[-1], best_record(records)
    tasks = ", ".join(
        f"{task.name} {100 * best['scores'][task.prefix + '_f']:.1f}"
        for task in TASKS
        if task.prefix + "_f" in best["scores"]
    )
    return (
        f"step {last['step']}, epoch {last['epoch']}, {last['words']:,} words, "
        f"{last['seconds'] / 60:.0f} min; best score {100 * best['score']:.1f} at step "
        f"{best['step']}" + (f" ({tasks})" if tasks else "")
    )


def _series(records: List[Record], field: str, key: str, scale: float = 1.0):
    return [
        scale * r[field][key] if r[field].get(key) is not None else math.nan
        for r in records
    ]


def _plot_scores(ax, records: List[Record]) -> None:
    steps = [r["step"] for r in records]
    for task, colour, marker in zip(TASKS, COLOURS, MARKERS):
        key = task.prefix
        for suffix, style, name in (("_f", "-", "F1"), ("_macro_f", "--", "macro F1")):
            if any(key + suffix in r["scores"] for r in records):
                ax.plot(
                    steps,
                    _series(records, "scores", key + suffix, 100),
                    style,
                    color=colour,
                    marker=marker,
                    markersize=5 if suffix == "_f" else 3,
                    linewidth=1.8 if suffix == "_f" else 1.0,
                    label=f"{task.name} {name}",
                )
    ax.plot(
        steps,
        [100 * r["score"] for r in records],
        ":",
        color="black",
        label="score (selects model-best)",
    )
    best = best_record(records)
    ax.plot(
        [best["step"]],
        [100 * best["score"]],
        "*",
        color="black",
        markersize=13,
        label=f"model-best (step {best['step']})",
    )
    # 0 to the next ten above the highest point: early progress is not a flat line
    highest = max(float(np.nanmax(line.get_ydata())) for line in ax.get_lines())
    ax.set_ylim(0, min(100, 10 * math.ceil(1.05 * highest / 10 + 1e-9)))
    ax.set_ylabel("dev score (%)")
    ax.grid(alpha=0.3)
    ax.legend(**LEGEND)


def _plot_losses(ax, records: List[Record]) -> None:
    steps = [r["step"] for r in records]
    names = sorted({name for r in records for name in r["losses_per_step"]})
    for name, colour in zip(names, itertools.cycle(LOSS_COLOURS)):
        values = _series(records, "losses_per_step", name)
        # a component that reports only zeros (a frozen one) has nothing to draw on a
        # log axis
        if any(value > 0 for value in values):
            ax.plot(steps, values, color=colour, marker="o", markersize=3, label=name)
    ax.set_yscale("log")
    ax.set_ylabel("train loss per step")
    ax.set_xlabel("step")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.grid(alpha=0.3, which="both")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(**LEGEND)


def draw_curve(records: List[Record], directory: Path, title: str) -> Path:
    """Draw ``directory/curve.png``: dev F1 of NER, RE and RE+ (micro solid, macro
    dashed) and the score above, the loss of each component per step below.

    records: the evaluations so far (at least one)
    directory: where curve.png goes; written to a temporary file, then renamed over it
    title: names the run (its output directory)
    RETURNS: the PNG's path. Raises ImportError without matplotlib.
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 7), layout="constrained")
    scores_ax, loss_ax = fig.subplots(
        2, 1, sharex=True, gridspec_kw={"height_ratios": [2, 1]}
    )
    _plot_scores(scores_ax, records)
    _plot_losses(loss_ax, records)
    fig.suptitle(f"{title}: dev curve\n{describe(records)}", fontsize="medium")
    path = directory / PNG
    partial = path.with_name(path.name + ".partial")
    fig.savefig(partial, format="png", dpi=100)
    os.replace(partial, path)
    return path


def redraw(directory: Path, title: Optional[str] = None) -> str:
    """Redraw ``directory/curve.png`` from its ``curve.jsonl`` (after a run without
    matplotlib, or to name the picture at the end of a workflow).

    directory: a training output directory with curve.jsonl
    title: names the run in the picture (default: the directory as given)
    RETURNS: a line naming the picture (or the JSONL, without matplotlib) and the best
        evaluation
    """
    records = read_curve(directory)
    if not records:
        raise ValueError(f"{directory / JSONL} has no evaluation yet")
    if matplotlib_missing():
        return f"dev curve: {directory / JSONL} ({PNG_NEEDS_MATPLOTLIB})"
    path = draw_curve(records, directory, title or str(directory))
    return f"dev curve: {path} ({len(records)} evaluations; {describe(records)})"
