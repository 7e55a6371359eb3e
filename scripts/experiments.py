"""Train-and-evaluate runs for the benchmark scripts (ADE cross-validation, ablations,
seeds).

Each run is a separate ``spacy train`` process (memory is returned between runs; a crash
names its run), followed by :func:`spacy_stsn.evaluate.evaluate` on the test corpus.
"""

import argparse
import json
import os
import platform
import random
import re
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import spacy
from spacy.cli._util import parse_config_overrides
from spacy.tokens import DocBin

from spacy_stsn.evaluate import TASKS, evaluate, summary_line
from spacy_stsn.outputs import check_writable

METRICS = [f"{key}_{avg}f" for _, key in TASKS for avg in ("", "macro_")]


def train_and_evaluate(
    config: Path,
    train: Path,
    dev: Path,
    test: Path,
    output: Path,
    overrides: Dict[str, Any],
    use: str = "model-best",
    gpu_id: int = -1,
) -> Dict[str, Any]:
    """Train with ``overrides`` (config paths -> values), then evaluate ``output/use``
    on ``test``."""
    cmd = [
        sys.executable,
        "-m",
        "spacy",
        "train",
        str(config),
        "--output",
        str(output),
        "--paths.train",
        str(train),
        "--paths.dev",
        str(dev),
        "--gpu-id",
        str(gpu_id),
    ]
    cmd += override_args(overrides)
    log = output.with_suffix(".log")
    output.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as handle:
        if subprocess.run(cmd, stdout=handle, stderr=subprocess.STDOUT).returncode != 0:
            raise RuntimeError(f"training run {output} failed; see {log}")
    return evaluate(str(output / use), test, gpu_id)


def override_args(overrides: Dict[str, Any]) -> List[str]:
    """``spacy train``'s ``--section.key value`` arguments: a string as it is, any other
    value as JSON, which spaCy parses back (``str(True)`` would reach the config as the
    string ``"True"``)."""
    args = []
    for key, value in overrides.items():
        args += [f"--{key}", value if isinstance(value, str) else json.dumps(value)]
    return args


def run_grid(
    config: Path,
    corpus: Path,
    variants: Dict[str, Dict[str, Any]],
    seeds: Sequence[int],
    steps: int,
    encoder: str,
    runs_dir: Path,
    train: str = "train.spacy",
    use: str = "model-best",
    gpu_id: int = -1,
    only: Optional[Sequence[str]] = None,
    finished_only: bool = False,
) -> Dict[str, List[Dict[str, Any]]]:
    """Train and test every variant (config overrides) with every seed on the same
    budget; F1s per row, each run with its ``seed`` and its :func:`dev_curve`.

    ``corpus`` holds ``train`` (file name), ``dev.spacy`` (model selection) and
    ``test.spacy``. ``finished_only`` reports the runs that have finished and trains
    nothing (rows without any are left out)."""
    rows: Dict[str, List[Dict[str, Any]]] = {}
    for number, (name, change) in enumerate(variants.items()):
        if only and name not in only:
            continue
        rows[name] = []
        for seed in seeds:
            overrides = {**schedule_overrides(steps, encoder, seed), **change}
            output = runs_dir / f"{number}_seed{seed}"
            result = run_once(
                config,
                corpus / train,
                corpus / "dev.spacy",
                corpus / "test.spacy",
                output,
                overrides,
                use=use,
                gpu_id=gpu_id,
                finished_only=finished_only,
            )
            if result is None:
                print(f"{name} seed {seed}: not run yet ({output})", flush=True)
                continue
            rows[name].append(
                {
                    **f1s(result),
                    "seed": seed,
                    "dev_curve": dev_curve(output.with_suffix(".log")),
                }
            )
            print(summary_line(result, f"{name} seed {seed}"), flush=True)
    return {name: runs for name, runs in rows.items() if runs}


def run_once(
    config: Path,
    train: Path,
    dev: Path,
    test: Path,
    output: Path,
    overrides: Dict[str, Any],
    use: str = "model-best",
    gpu_id: int = -1,
    finished_only: bool = False,
) -> Optional[Dict[str, Any]]:
    """:func:`train_and_evaluate`, unless ``output`` already holds a finished run with
    the same overrides.

    A grid of 25-50 minute CPU runs gets interrupted, or split over processes
    (``only``); the test result is recorded next to the run (``output.result.json``) and
    reused, so rerunning the command resumes it. With ``finished_only`` a run that has
    not finished gives ``None`` instead of being trained."""
    result = recorded_result(output, overrides)
    if result is not None or finished_only:
        return result
    result = train_and_evaluate(
        config, train, dev, test, output, overrides, use=use, gpu_id=gpu_id
    )
    record_result(output, overrides, result)
    return result


def recorded_result(output: Path, overrides: Dict[str, Any]) -> Optional[Any]:
    """The result recorded next to ``output`` (``output.result.json``) when the run
    there finished with these ``overrides``, else ``None`` (nothing finished there).

    A run that finished there with other overrides (another ``--set``, budget or
    encoder in the same ``--runs``) is refused rather than trained over: it may be hours
    of someone's CPU, and its table would silently change meaning."""
    record = output.with_suffix(".result.json")
    if not record.exists():
        return None
    saved = json.loads(record.read_text())
    wanted = json.loads(json.dumps(overrides))
    if saved["overrides"] == wanted:
        return saved["result"]
    there, unset = saved["overrides"], "(unset)"
    pairs = {k: (there.get(k, unset), wanted.get(k, unset)) for k in there | wanted}
    differ = "; ".join(
        f"{key}: {old!r} there, {new!r} here"
        for key, (old, new) in sorted(pairs.items())
        if old != new
    )
    raise FileExistsError(
        f"{output} holds a run that finished with other settings ({differ}): put "
        "these runs in a folder of their own (accuracy.py's --runs, cv_ade.py's "
        f"--tag), or remove {record.name} and the run beside it to train it again; "
        "nothing was changed"
    )


def record_result(output: Path, overrides: Dict[str, Any], result: Any) -> None:
    """Record a finished run's result for :func:`recorded_result`; written to a
    temporary name and renamed, so a run killed while writing leaves no half record."""
    record = output.with_suffix(".result.json")
    record.parent.mkdir(parents=True, exist_ok=True)
    partial = record.with_name(f".{record.name}.{os.getpid()}")
    partial.write_text(json.dumps({"overrides": overrides, "result": result}, indent=2))
    os.replace(partial, record)


def split_dev(train: Path, fraction: float, seed: int = 0) -> Tuple[Path, Path]:
    """Cut a dev set off a corpus that has none (ADE's folds): ``fraction`` of the
    documents of ``train``, drawn with ``seed``, go to ``{stem}_dev{pct}.spacy`` and the
    rest to ``{stem}_rest{pct}.spacy`` beside it; their paths are returned.

    The cut depends on the file and ``seed`` only, never on a run's training seed, so
    every run of a comparison is chosen on the same documents. A file already there is
    kept if it holds this cut, replaced if it holds another cut of ``train`` (another
    seed or fraction) and refused otherwise (it is someone else's, or ``train`` changed
    since): nothing that cannot be cut again is overwritten. New files are written to a
    temporary name and renamed, so runs started together cannot read half a file.
    ``train`` itself is only read."""
    if not 0 < fraction < 1:
        raise ValueError(f"the dev fraction must be between 0 and 1, not {fraction}")
    tag = f"{round(100 * fraction):d}"
    rest_path = train.with_name(f"{train.stem}_rest{tag}.spacy")
    dev_path = train.with_name(f"{train.stem}_dev{tag}.spacy")
    vocab = spacy.blank("xx").vocab
    docs = list(DocBin().from_disk(train).get_docs(vocab))
    n_dev = round(fraction * len(docs))
    if not 0 < n_dev < len(docs):
        raise ValueError(
            f"{train}: {len(docs)} documents cannot give {fraction:.0%} to dev and keep "
            "the rest for training"
        )
    keys = [_doc_key(doc) for doc in docs]
    chosen = set(random.Random(seed).sample(range(len(docs)), n_dev))
    # both files are checked before either is written, so a refusal writes nothing
    to_write = []
    for path, keep in ((dev_path, True), (rest_path, False)):
        part = [i for i in range(len(docs)) if (i in chosen) == keep]
        if path.exists():
            there = [_doc_key(d) for d in DocBin().from_disk(path).get_docs(vocab)]
            if there == [keys[i] for i in part]:
                continue
            if not set(there) <= set(keys):
                raise ValueError(
                    f"{path} exists and is not a cut of {train} (another file, or "
                    f"{train.name} changed since): move it away or remove it; nothing "
                    "was written"
                )
        to_write.append((path, part))
    for path, part in to_write:
        partial = path.with_name(f".{path.name}.{os.getpid()}")
        try:
            DocBin(docs=[docs[i] for i in part], store_user_data=True).to_disk(partial)
            os.replace(partial, path)
        finally:
            partial.unlink(missing_ok=True)
    return rest_path, dev_path


def _doc_key(doc: Any) -> str:
    """A document with its annotations (tokens, entities, span groups, user data:
    relations included) as one comparable string."""
    return json.dumps(doc.to_json(), sort_keys=True) + repr(doc.user_data)


def parse_overrides(pairs: Sequence[Sequence[str]]) -> Dict[str, Any]:
    """``--set KEY VALUE`` pairs as config overrides, parsed as ``spacy train`` parses
    its ``--KEY VALUE`` arguments (a number, ``true``, ``null`` as JSON, anything else
    a string)."""
    return parse_config_overrides([arg for k, v in pairs for arg in (f"--{k}", v)])


def schedule_overrides(steps: int, encoder: str, seed: int) -> Dict[str, Any]:
    """Step budget with the 10 % linear warm-up of the paper, 8 evaluations on dev (as
    project.yml: 2,000 steps, every 250), and the encoder."""
    return {
        "training.max_steps": steps,
        "training.optimizer.learn_rate.total_steps": steps,
        "training.optimizer.learn_rate.warmup_steps": max(1, steps // 10),
        "training.eval_frequency": max(1, steps // 8),
        "paths.encoder": encoder,
        "system.seed": seed,
    }


def batch_size(config: Path, overrides: Dict[str, Any]) -> Any:
    """The batch size (sentences a step) the runs train with: an override's, else the
    config's, so a table says what its steps were."""
    if "training.batcher.size" in overrides:
        return overrides["training.batcher.size"]
    return spacy.util.load_config(config)["training"]["batcher"]["size"]


def dev_curve(log: Path) -> List[Dict[str, float]]:
    """Dev NER and RE+ F1 (percent) at every evaluation, read from the table ``spacy
    train`` printed to the run's log; ``[]`` when there is no log (a linked run). A
    short-budget table is only as good as its rows' curves: a variant still rising at
    its last evaluation is ranked by how fast it learns, not how good it gets."""
    if not log.exists():
        return []
    columns: List[str] = []
    curve = []
    for line in re.sub(
        r"\x1b\[[0-9;]*m", "", log.read_text(errors="replace")
    ).splitlines():
        if "ENTS_F" in line and "REL_STRICT_F" in line:
            columns = re.split(r"\s{2,}", line.strip())
            continue
        values = line.split()
        if (
            columns
            and len(values) == len(columns)
            and values[0].isdigit()
            and values[1].isdigit()
        ):
            row = dict(zip(columns, values))
            curve.append(
                {
                    "step": int(row["#"]),
                    "ents_f": float(row["ENTS_F"]),
                    "rel_strict_f": float(row["REL_STRICT_F"]),
                }
            )
    return curve


def add_grid_arguments(
    parser: argparse.ArgumentParser, seeds: Sequence[int], steps: int = 2000
) -> None:
    """The options every grid script shares (budget, seeds, encoder, device, partial
    runs)."""
    parser.add_argument("--steps", type=int, default=steps)
    parser.add_argument("--seeds", type=int, nargs="+", default=list(seeds))
    parser.add_argument("--encoder", default="all-MiniLM-L6-v2")
    parser.add_argument("--gpu-id", type=int, default=-1)
    parser.add_argument(
        "--only",
        nargs="*",
        default=None,
        help="run only these rows (names as in the table)",
    )
    parser.add_argument(
        "--finished-only",
        action="store_true",
        help="train nothing: summarise the runs that have finished (a partial grid)",
    )


def add_set_argument(parser: argparse.ArgumentParser, help: str) -> None:
    """``--set KEY VALUE``, repeatable: a config override of every run, read with
    :func:`parse_overrides`."""
    parser.add_argument(
        "--set",
        nargs=2,
        action="append",
        default=[],
        metavar=("KEY", "VALUE"),
        help=help,
    )


def provenance(args: argparse.Namespace) -> Dict[str, Any]:
    """What a results JSON needs to be reproduced: the command's arguments, the commit,
    the machine."""
    root = Path(__file__).resolve().parents[1]
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        cwd=root,
        capture_output=True,
        text=True,
    )
    return {
        "args": {k: str(v) for k, v in vars(args).items()},
        "commit": commit.stdout.strip(),
        "machine": platform.platform(),
    }


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
        f"{task} {avg}F1" for task, _ in TASKS for avg in ("micro ", "macro ")
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
    (:func:`spacy_stsn.outputs.check_writable`), before hours of training find it."""
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
