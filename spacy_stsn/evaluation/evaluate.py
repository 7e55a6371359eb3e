"""Evaluate a trained pipeline on a .spacy corpus the way the paper reports it, and show
what it extracts.

``evaluate`` writes ``metrics.json`` (every score, per type, and the Figure 5/6
breakdowns), ``metrics.md`` (the tables) and ``breakdowns.png``; ``show`` prints gold
and predicted entities and relations side by side.
"""

import json
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

import spacy
from spacy.tokens import Doc
from spacy.training import Example

from ..formats.docbin import read_docbin
from ..ml.precision import describe
from ..pipeline.annotations import get_entities
from ..pipeline.loading import load_pipeline
from .scorer import breakdowns, score_relations
from .tasks import TASKS

# what :func:`write_report` writes into its folder
REPORT_FILES = ("metrics.json", "metrics.md", "breakdowns.png")


def load_examples(nlp: spacy.Language, corpus: Path) -> List[Example]:
    """Gold docs from ``corpus`` paired with fresh docs of the same tokens (the
    benchmark's tokenization)."""
    gold = list(read_docbin(corpus, nlp.vocab))  # a .spacy file or a folder of parts
    return [
        Example(
            Doc(
                nlp.vocab,
                words=[t.text for t in d],
                spaces=[bool(t.whitespace_) for t in d],
            ),
            d,
        )
        for d in gold
    ]


def predict(
    nlp: spacy.Language, examples: List[Example], batch_size: int = 32
) -> float:
    """Run the pipeline over the examples' predicted docs in place; returns sentences
    per second."""
    start = time.perf_counter()
    docs = list(nlp.pipe((eg.predicted for eg in examples), batch_size=batch_size))
    elapsed = time.perf_counter() - start
    for eg, doc in zip(examples, docs):
        eg.predicted = doc
    return len(docs) / max(elapsed, 1e-9)


def evaluate(
    model: str,
    corpus: Path,
    gpu_id: int = -1,
    precision: Optional[str] = None,
) -> Dict[str, Any]:
    """All metrics of one model on one corpus."""
    nlp, stsn = load_pipeline(model, gpu_id, precision)
    examples = load_examples(nlp, corpus)
    speed = predict(nlp, examples)
    scores = score_relations(
        examples, spans_key=stsn.spans_key, symmetric_labels=stsn.symmetric_labels
    )
    return {
        "model": str(model),
        "corpus": str(corpus),
        "n_docs": len(examples),
        "sents_per_sec": speed,
        "precision": describe(nlp),
        "scores": scores,
        "breakdowns": breakdowns(
            examples, spans_key=stsn.spans_key, symmetric_labels=stsn.symmetric_labels
        ),
    }


def markdown(result: Dict[str, Any]) -> str:
    """The main table (micro and macro P/R/F1 for NER, RE, RE+), per-type F1 and the
    breakdown tables."""
    s = result["scores"]
    lines = [
        f"Model `{result['model']}` on `{result['corpus']}` ({result['n_docs']} documents)",
        "",
        "| task | micro P | micro R | micro F1 | macro P | macro R | macro F1 |",
        "|---|---|---|---|---|---|---|",
    ]
    for task in TASKS:
        row = [s[f"{task.prefix}_{m}"] for m in ("p", "r", "f")] + [
            s[f"{task.prefix}_macro_{m}"] for m in ("p", "r", "f")
        ]
        cells = " | ".join(f"{100 * v:.1f}" for v in row)
        lines.append(f"| {task.name} | {cells} |")
    for task in TASKS:
        lines += [
            "",
            f"{task.name} per type:",
            "",
            "| type | P | R | F1 |",
            "|---|---|---|---|",
        ]
        for label, prf in sorted(s[f"{task.prefix}_per_type"].items()):
            lines.append(
                f"| {label} | "
                + " | ".join(f"{100 * prf[m]:.1f}" for m in ("p", "r", "f"))
                + " |"
            )
    for name, table in result["breakdowns"].items():
        lines += [
            "",
            f"F1 by {name}:",
            "",
            "| bucket | " + " | ".join(table) + " |",
            "|---|" + "---|" * len(table),
        ]
        buckets = list(next(iter(table.values())))
        for bucket in buckets:
            lines.append(
                f"| {bucket} | "
                + " | ".join(f"{100 * table[t][bucket]:.1f}" for t in table)
                + " |"
            )
    return "\n".join(lines) + "\n"


def plot_breakdowns(result: Dict[str, Any], path: Path) -> None:
    """The paper's Figures 5 and 6 for this model: F1 by entity length and by sentence
    length."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tables = result["breakdowns"]
    fig, axes = plt.subplots(
        1, len(tables), figsize=(5 * len(tables), 3.5), squeeze=False
    )
    for ax, (name, table) in zip(axes[0], tables.items()):
        for task, values in table.items():
            ax.plot(
                list(values), [100 * v for v in values.values()], marker="o", label=task
            )
        ax.set_title(f"F1 by {name}")
        ax.set_ylabel("F1")
        ax.set_ylim(0, 100)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_report(result: Dict[str, Any], output: Path) -> None:
    """The :data:`REPORT_FILES` in the folder ``output``."""
    json_file, md_file, png_file = (output / name for name in REPORT_FILES)
    output.mkdir(parents=True, exist_ok=True)
    json_file.write_text(json.dumps(result, indent=2), encoding="utf8")
    md_file.write_text(markdown(result), encoding="utf8")
    plot_breakdowns(result, png_file)


def show(model: str, corpus: Path, n: int = 5, gpu_id: int = -1) -> str:
    """Gold vs predicted entities and relations for the first ``n`` documents, as
    text."""
    nlp, stsn = load_pipeline(model, gpu_id)
    examples = load_examples(nlp, corpus)[:n]
    predict(nlp, examples)
    out = []
    for eg in examples:
        out.append(eg.reference.text)
        for side, doc in (("gold", eg.reference), ("pred", eg.predicted)):
            ents = ", ".join(
                f"[{doc[s:e].text}]{label}"
                for s, e, label in get_entities(doc, stsn.spans_key)
            )
            rels = ", ".join(
                f"<{doc[r['head'][0] : r['head'][1]].text}, {r['label']}, {doc[r['tail'][0] : r['tail'][1]].text}>"
                + (f" {r['score']:.2f}" if side == "pred" else "")
                for r in doc._.relations
            )
            out.append(f"  {side} entities:  {ents or '-'}")
            out.append(f"  {side} relations: {rels or '-'}")
        if eg.predicted._.stsn_tags is not None:
            out.append("  pred tags: " + " ".join(eg.predicted._.stsn_tags))
        out.append("")
    return "\n".join(out)


def summary_line(result: Dict[str, Any], prefix: Optional[str] = None) -> str:
    s = result["scores"]
    body = "  ".join(f"{t.name} {100 * s[f'{t.prefix}_f']:.1f}" for t in TASKS)
    return f"{prefix + ': ' if prefix else ''}micro F1  {body}  ({result['sents_per_sec']:.1f} sentences/s)"
