"""Decoding policies compared on one trained model: which entities to keep when the span
decoder's predictions overlap (issue: decoding that follows the data). Nothing is
retrained: each row decodes the same model.

Rows run by the component (the overlap policy is applied on the device, before relation
candidates are built):

* ``nested`` (the paper): every predicted entity is kept, overlaps included;
* ``nested, threshold t``: an entity that overlaps a better-scored one is kept only if
  its score reaches t;
* ``flat``: the greedy non-overlapping rule (highest score first, then the longer span,
  then the earlier one).

Rows computed after the fact from the ``nested`` predictions (relations whose argument
is dropped are dropped, where the component would also re-pair the kept entities;
compare them with ``flat, post hoc``, which applies the same approximation to the score
rule):

* ``flat, post hoc``: the score rule on the nested predictions;
* ``flat, tags break ties``: spans that the tagging decoder's own tags agree with (same
  boundaries and label in ``doc._.stsn_tags``) rank before those it disagrees with, then
  by score;
* ``flat, tags veto``: a span the tags disagree with is dropped when it overlaps one
  they agree with.

For each row: NER and RE+ micro P/R/F1, and the recall on gold entities that overlap
another gold entity (the paper's nested-entity capability). Prints a table and writes
``benchmarks/results/decoding_{name}.{json,md}`` (or ``--output``)::

    python benchmarks/decoding.py MODEL corpus/conll04/dev.spacy --name conll04_dev
"""

from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import spacy
from harness import Benchmark, named_rows
from spacy.tokens import Doc, DocBin
from spacy.training import Example

from spacy_stsn.evaluation.scorer import score_relations
from spacy_stsn.pipeline.annotations import set_entities
from spacy_stsn.pipeline.decoding import select_non_overlapping
from spacy_stsn.pipeline.tags import decode_tags

Span3 = Tuple[int, int, str]


def overlapping_gold(doc: Doc, spans_key: str) -> List[Span3]:
    """Gold entities that share a token with another gold entity."""
    ents = [(s.start, s.end, s.label_) for s in doc.spans[spans_key]]
    return [
        a for a in ents if any(a is not b and a[0] < b[1] and b[0] < a[1] for b in ents)
    ]


def overlap_recall(examples: Sequence[Example], spans_key: str) -> Tuple[int, int]:
    """(found, total) of the gold entities that overlap another gold entity."""
    found = total = 0
    for eg in examples:
        gold = overlapping_gold(eg.reference, spans_key)
        predicted = {(s.start, s.end, s.label_) for s in eg.predicted.spans[spans_key]}
        total += len(gold)
        found += sum(entity in predicted for entity in gold)
    return found, total


def post_hoc(
    doc: Doc, spans_key: str, rank: Callable[[Span3, float, bool], tuple], veto: bool
) -> Doc:
    """A copy of ``doc`` whose entities are a non-overlapping subset of its (nested)
    predictions, chosen by ``rank`` (larger first); relations with a dropped argument
    are dropped."""
    group = doc.spans[spans_key]
    spans = [(s.start, s.end, s.label_) for s in group]
    scores = list(group.attrs["scores"])
    agree = set(decode_tags(doc._.stsn_tags or []))
    agrees = [span in agree for span in spans]
    if veto:
        keep_idx = [
            i
            for i, span in enumerate(spans)
            if agrees[i]
            or not any(
                agrees[j] and spans[j][0] < span[1] and span[0] < spans[j][1]
                for j in range(len(spans))
                if j != i
            )
        ]
    else:
        keep_idx = list(range(len(spans)))
    keys = [rank(spans[i], scores[i], agrees[i]) for i in keep_idx]
    # select_non_overlapping ranks by score: feed it the rank order as descending
    # pseudo-scores
    order = sorted(range(len(keep_idx)), key=lambda j: keys[j], reverse=True)
    pseudo = [0.0] * len(keep_idx)
    for position, j in enumerate(order):
        pseudo[j] = float(len(order) - position)
    chosen = [
        keep_idx[j]
        for j in select_non_overlapping([spans[i][:2] for i in keep_idx], pseudo)
    ]
    out = Doc(
        doc.vocab,
        words=[t.text for t in doc],
        spaces=[bool(t.whitespace_) for t in doc],
    )
    set_entities(
        out, [spans[i] for i in chosen], [scores[i] for i in chosen], spans_key
    )
    kept = {spans[i] for i in chosen}
    out._.relations = [
        r
        for r in doc._.relations
        if (*r["head"], r["head_label"]) in kept
        and (*r["tail"], r["tail_label"]) in kept
    ]
    return out


def row(
    examples: Sequence[Example], spans_key: str, symmetric: Sequence[str]
) -> Dict[str, Any]:
    scores = score_relations(examples, spans_key=spans_key, symmetric_labels=symmetric)
    found, total = overlap_recall(examples, spans_key)
    result = {
        key: round(100 * scores[key], 1)
        for key in (
            "ents_p",
            "ents_r",
            "ents_f",
            "rel_strict_p",
            "rel_strict_r",
            "rel_strict_f",
        )
    }
    result["overlap_recall"] = round(100 * found / total, 1) if total else None
    result["overlap_found"], result["overlap_total"] = found, total
    return result


def predict(
    model: str, gold: List[Doc], overrides: Dict[str, Any]
) -> Tuple[List[Example], Any]:
    nlp = spacy.load(model, config=overrides)
    stsn = nlp.get_pipe("stsn")
    words = [
        Doc(
            nlp.vocab,
            words=[t.text for t in d],
            spaces=[bool(t.whitespace_) for t in d],
        )
        for d in gold
    ]
    return [Example(p, g) for p, g in zip(nlp.pipe(words, batch_size=64), gold)], stsn


def smoke(args: Any, kit: Any) -> None:
    args.name, args.thresholds = args.name or "smoke", [0.5]


def main(argv: Optional[List[str]] = None) -> None:
    bench = Benchmark(__doc__, __file__)
    add = bench.parser.add_argument
    bench.input("model", "model", "trained pipeline directory")
    bench.input("corpus", "test", ".spacy corpus to decode", type=Path)
    add("--name", help="results go to benchmarks/results/decoding_NAME.*")
    add("--thresholds", type=float, nargs="*", default=[0.5, 0.7, 0.9])
    args = bench.parse(argv, smoke)
    if not args.name:
        bench.parser.error("--name is required")
    nlp = spacy.load(args.model)
    gold = list(DocBin().from_disk(args.corpus).get_docs(nlp.vocab))
    rows: Dict[str, Dict[str, Any]] = {}
    nested, stsn = predict(
        args.model,
        gold,
        {"components.stsn.overlaps": "nested", "components.stsn.nested_threshold": 0.0},
    )
    key, symmetric = stsn.spans_key, stsn.symmetric_labels
    rows["nested (the paper)"] = row(nested, key, symmetric)
    for t in args.thresholds:
        examples, _ = predict(
            args.model,
            gold,
            {
                "components.stsn.overlaps": "nested",
                "components.stsn.nested_threshold": t,
            },
        )
        rows[f"nested, threshold {t}"] = row(examples, key, symmetric)
    flat, _ = predict(args.model, gold, {"components.stsn.overlaps": "flat"})
    rows["flat"] = row(flat, key, symmetric)
    rules = {
        "flat, post hoc": (
            lambda span, score, agrees: (score, span[1] - span[0], -span[0]),
            False,
        ),
        "flat, tags break ties": (
            lambda span, score, agrees: (agrees, score, span[1] - span[0], -span[0]),
            False,
        ),
        "flat, tags veto": (
            lambda span, score, agrees: (score, span[1] - span[0], -span[0]),
            True,
        ),
    }
    for name, (rank, veto) in rules.items():
        rows[name] = row(
            [
                Example(post_hoc(eg.predicted, key, rank, veto), eg.reference)
                for eg in nested
            ],
            key,
            symmetric,
        )
    meta = {"trained_with_overlaps": stsn.cfg.get("data_overlaps")}
    columns = [
        "ents_p",
        "ents_r",
        "ents_f",
        "rel_strict_p",
        "rel_strict_r",
        "rel_strict_f",
        "overlap_recall",
    ]
    title = (
        f"Decoding policies on {args.corpus} ({args.model}); overlap_recall: of the "
        f"{rows['flat']['overlap_total']} gold entities that overlap another gold "
        "entity, those found"
    )
    text = f"{title}\n\n{named_rows(columns, rows)}"
    bench.finish({**meta, "rows": rows}, text, stem=f"decoding_{args.name}")


if __name__ == "__main__":
    main()
