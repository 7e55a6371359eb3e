"""How often a served answer depends on the requests batched with it, by precision.

The server's micro-batches put a document into one ``nlp.pipe`` call with whatever
requests arrived with it. This script runs the CoNLL04 test documents through the
server's own model code (:class:`spacy_stsn.serve.pipeline.Annotator`) alone (batch 1)
and in batches of ``--batch-size`` requests, in corpus order and in ``--shuffles``
random orders (other companions), per precision, and counts the documents whose
annotations (entity offsets and labels, relations and their arguments) differ from
their answer alone, and the largest score difference among those that agree.

    python benchmarks/serve_consistency.py training/conll04/model-best
"""

import json
import random
from typing import Any, Dict, List, Optional, Tuple

from harness import Benchmark, data_dir, markdown_table

Key = Tuple[Any, ...]


def annotations(record: Dict[str, Any]) -> Key:
    """A record without its scores."""
    entities = tuple((e["start"], e["end"], e["label"]) for e in record["entities"])
    relations = tuple((r["head"], r["tail"], r["label"]) for r in record["relations"])
    return entities, relations


def scores(record: Dict[str, Any]) -> List[float]:
    return [x["score"] for x in record["entities"] + record["relations"]]


def batched(annotator: Any, texts: List[str], order: List[int], size: int) -> Dict:
    """The records of ``texts``, ``size`` requests of one text per batch, batched in
    ``order``."""
    from spacy_stsn.serve.pipeline import Task

    records = {}
    for start in range(0, len(order), size):
        chunk = order[start : start + size]
        results = annotator.annotate([Task([texts[i]]) for i in chunk])
        for i, result in zip(chunk, results):
            records[i] = result[0]
    return records


def compare(alone: Dict[int, Dict], other: Dict[int, Dict]) -> Dict[str, Any]:
    differ = [i for i in alone if annotations(alone[i]) != annotations(other[i])]
    agree = [i for i in alone if i not in set(differ)]
    drift = max(
        (abs(a - b) for i in agree for a, b in zip(scores(alone[i]), scores(other[i]))),
        default=0.0,
    )
    return {"differ": len(differ), "documents": differ, "max_score_drift": drift}


def measure(model: str, precision: str, texts: List[str], args: Any) -> List[Dict]:
    from spacy_stsn.serve.pipeline import Annotator

    annotator = Annotator(model, precision)
    everyone = list(range(len(texts)))
    alone = batched(annotator, texts, everyone, 1)
    arrangements = [("corpus order", everyone)]
    for seed in range(args.shuffles):
        order = everyone[:]
        random.Random(seed).shuffle(order)
        arrangements.append((f"shuffled (seed {seed})", order))
    runs = []
    for name, order in arrangements:
        other = batched(annotator, texts, order, args.batch_size)
        runs.append({"precision": precision, "batches": name, **compare(alone, other)})
    return runs


def smoke(args: Any, kit: Any) -> None:
    args.model, args.docs, args.batch_size, args.shuffles = str(kit.model), 16, 8, 1


def main(argv: Optional[List[str]] = None) -> None:
    bench = Benchmark(__doc__, __file__)
    add = bench.parser.add_argument
    add("model", nargs="?", default="training/conll04/model-best")
    add("--precisions", nargs="+", default=["float32", "bfloat16"])
    add("--batch-size", type=int, default=32)
    add("--shuffles", type=int, default=2)
    add("--docs", type=int, default=None, help="the first N test documents only")
    args = bench.parse(argv, smoke)
    path = data_dir() / "conll04" / "conll04_test.json"
    records = json.loads(path.read_text("utf8"))[: args.docs]
    texts = [" ".join(r["tokens"]) for r in records]
    runs = [
        run
        for precision in args.precisions
        for run in measure(str(args.model), precision, texts, args)
    ]
    rows = [
        [r["precision"], r["batches"], f"{r['differ']} of {len(texts)}"]
        + [f"{r['max_score_drift']:.1e}"]
        for r in runs
    ]
    header = ["precision", f"batches of {args.batch_size}", "answers that change"]
    header += ["largest score drift (the others)"]
    text = "\n".join(
        [
            f"{args.model}, CoNLL04 test, each document alone against batched:",
            "",
            markdown_table(header, rows),
        ]
    )
    bench.finish({"documents": len(texts), "runs": runs}, text)


if __name__ == "__main__":
    main()
