"""One training step of a pipeline, its losses and gradients compared bit for bit
between this checkout and another (``--code DIR``, e.g. the code before a change): does
a change leave training on a corpus as it was?

Each run loads the pipeline, fixes the seed, and runs ``update`` of every component once
on the first ``--docs`` documents of the corpus, without an optimizer step; it reports
the losses and a digest of every gradient of the pipeline's PyTorch modules (the stsn
head, the transformer). Without ``--code`` this checkout runs twice (is the step
deterministic?).

    # results/training_step.{json,md}
    python benchmarks/training_step.py training/conll04/model-best --code ../old
"""

import hashlib
from pathlib import Path
from typing import Any, Dict, List, Optional

from harness import REPO, Benchmark, markdown_table


def worker(job: Dict[str, Any]) -> Dict[str, Any]:
    import spacy
    from spacy.util import fix_random_seed
    from thinc.api import PyTorchShim

    from spacy_stsn.evaluation.evaluate import load_examples

    nlp = spacy.load(job["model"])
    examples = load_examples(nlp, Path(job["corpus"]))[: job["docs"]]
    fix_random_seed(job["seed"])
    losses: Dict[str, float] = {}
    for _, proc in nlp.pipeline:
        if hasattr(proc, "update"):
            proc.update(examples, drop=0.1, losses=losses, sgd=None)
    digests = {}
    for name, proc in nlp.pipeline:
        for node in proc.model.walk() if hasattr(proc, "model") else []:
            for shim in node.shims:
                if isinstance(shim, PyTorchShim):
                    for key, param in shim._model.named_parameters():
                        if param.grad is not None:
                            data = param.grad.detach().cpu().numpy().tobytes()
                            digest = hashlib.sha256(data).hexdigest()
                            digests[f"{name}/{key}"] = digest
    return {"losses": {k: repr(v) for k, v in losses.items()}, "digests": digests}


def markdown(runs: List[Dict[str, Any]]) -> str:
    first, second = runs
    same = [k for k, v in first["digests"].items() if second["digests"].get(k) == v]
    keys = set(first["digests"]) | set(second["digests"])
    rows = [
        [r["job"].get("code") or "this checkout"]
        + [r["losses"].get(k, "-") for k in sorted(first["losses"])]
        + [f"{len(r['digests'])}"]
        for r in runs
    ]
    header = ["code"] + [f"loss {k}" for k in sorted(first["losses"])] + ["gradients"]
    return (
        markdown_table(header, rows)
        + f"\n\nBit-identical gradients: {len(same)} of {len(keys)}; losses "
        + ("identical" if first["losses"] == second["losses"] else "DIFFERENT")
        + ".\n"
    )


def smoke(args: Any, kit: Any) -> None:
    args.corpus = str(kit.train)
    args.docs = 4


def main(argv: Optional[List[str]] = None) -> None:
    bench = Benchmark(__doc__, __file__, {"step": worker})
    add = bench.parser.add_argument
    bench.input("model", "model", "trained or initialised pipeline directory")
    add("--corpus", default=str(REPO / "corpus" / "conll04" / "train.spacy"))
    add("--docs", type=int, default=8, help="documents in the step")
    add("--seed", type=int, default=0)
    add("--code", help="the other checkout (default: this one, twice)")
    args = bench.parse(argv, smoke)
    runs = []
    for code in (None, args.code):
        job = bench.job("step", model=args.model, corpus=args.corpus, docs=args.docs)
        job.update(seed=args.seed, code=code)
        runs.append(bench.run(job, code or "this checkout"))
    if any("error" in r for r in runs):
        bench.finish({"runs": runs}, "failed")
    bench.finish({"runs": runs}, markdown(runs))


if __name__ == "__main__":
    main()
