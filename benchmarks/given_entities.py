r"""The relation decoder's upper bound: one trained model scored with joint extraction
and with the gold entities given (``entities = "given"``, as if an upstream NER were
perfect). Prints a table and writes
``benchmarks/results/given_entities_{name}.{json,md}``::

    python benchmarks/given_entities.py training/conll04/model-best \
        corpus/conll04/test.spacy --name conll04_test
"""

from pathlib import Path
from typing import Any, Dict, List, Optional

import spacy
from harness import Benchmark, named_rows
from spacy.tokens import Doc, DocBin, Span
from spacy.training import Example

from spacy_stsn.evaluation.scorer import score_relations

GIVEN_KEY = "given"


def words_only(doc: Doc, with_entities: bool, spans_key: str) -> Doc:
    """A fresh doc with ``doc``'s tokens and, if asked, its gold entities in the span
    group ``given``."""
    out = Doc(
        doc.vocab,
        words=[t.text for t in doc],
        spaces=[bool(t.whitespace_) for t in doc],
    )
    if with_entities:
        out.spans[GIVEN_KEY] = [
            Span(out, s.start, s.end, s.label_) for s in doc.spans[spans_key]
        ]
    return out


def scores(model: str, gold: List[Doc], given: bool) -> Dict[str, float]:
    overrides = (
        {
            "components.stsn.entities": "given",
            "components.stsn.given_spans_key": GIVEN_KEY,
        }
        if given
        else {}
    )
    nlp = spacy.load(model, config=overrides)
    stsn = nlp.get_pipe("stsn")
    docs = nlp.pipe((words_only(d, given, stsn.spans_key) for d in gold), batch_size=64)
    result = score_relations(
        [Example(p, g) for p, g in zip(docs, gold)],
        spans_key=stsn.spans_key,
        symmetric_labels=stsn.symmetric_labels,
    )
    return {
        key: round(100 * result[key], 1)
        for key in (
            "ents_f",
            "rel_p",
            "rel_r",
            "rel_f",
            "rel_strict_p",
            "rel_strict_r",
            "rel_strict_f",
        )
    }


def smoke(args: Any, kit: Any) -> None:
    args.name = args.name or "smoke"


def main(argv: Optional[List[str]] = None) -> None:
    bench = Benchmark(__doc__, __file__)
    add = bench.parser.add_argument
    bench.input("model", "model", "trained pipeline directory")
    bench.input("corpus", "test", ".spacy corpus with gold entities", type=Path)
    add("--name", help="results go to benchmarks/results/given_entities_NAME.*")
    args = bench.parse(argv, smoke)
    if not args.name:
        bench.parser.error("--name is required")
    gold = list(DocBin().from_disk(args.corpus).get_docs(spacy.blank("en").vocab))
    rows: Dict[str, Any] = {
        "joint (entities predicted)": scores(args.model, gold, False),
        "gold entities given": scores(args.model, gold, True),
    }
    title = (
        f"{args.model} on {args.corpus}: joint extraction against gold entities given"
    )
    table = named_rows(list(next(iter(rows.values()))), rows)
    bench.finish(
        {"rows": rows}, f"{title}\n\n{table}", stem=f"given_entities_{args.name}"
    )


if __name__ == "__main__":
    main()
