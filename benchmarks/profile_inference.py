r"""Where inference time goes: a stage breakdown of ``nlp.pipe`` over a corpus, plus the
top torch operators.

Stage timers are installed by wrapping functions of the loaded pipeline at run time
(nothing in the package is edited): the transformer's tokenization, encoder forward and
alignment; the stsn listener/pooling, the STSN module's attention layers, span decoder
and pair classification; and ``set_annotations`` of both components. Times are inclusive
and nested, so each stage's "self" time is what its listed children do not explain
(Python glue, conversions). A second pass runs under ``torch.profiler`` for
operator-level totals. ``--pyspy-summary RAW`` instead summarises a ``py-spy record
--format raw`` file by function.

    python benchmarks/profile_inference.py training/conll04/model-best \
        corpus/conll04/test.spacy
"""

import collections
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

from harness import Benchmark, fmt, markdown_table
from measure import StageTimer, corpus_words, make_docs


def instrument(nlp: Any, timer: StageTimer) -> None:
    """Wrap the stages of a ``["transformer", "stsn"]`` pipeline with ``timer`` (this
    process only)."""
    import spacy_transformers.layers.transformer_model as trf_model

    import spacy_stsn.nn.heads as heads
    import spacy_stsn.nn.stsn as stsn_torch
    import spacy_stsn.pipeline.component as stsn_pipe
    from spacy_stsn.ml.model import torch_module

    trf = nlp.get_pipe("transformer")
    trf.predict = timer.wrap("transformer.predict", trf.predict)
    trf.set_annotations = timer.wrap("transformer.set_annotations", trf.set_annotations)
    trf_model.huggingface_tokenize = timer.wrap(
        "HF tokenizer", trf_model.huggingface_tokenize
    )
    trf_model.get_alignment_via_offset_mapping = timer.wrap(
        "word piece alignment", trf_model.get_alignment_via_offset_mapping
    )
    encoder = trf.model.layers[0]
    encoder._func = timer.wrap("encoder forward (torch)", encoder._func)

    stsn = nlp.get_pipe("stsn")
    stsn.predict = timer.wrap("stsn.predict", stsn.predict)
    stsn.set_annotations = timer.wrap("stsn.set_annotations", stsn.set_annotations)
    stsn_pipe.set_entities = timer.wrap(
        "set_entities (spans, ents)", stsn_pipe.set_entities
    )
    stsn_pipe.make_relation = timer.wrap("make_relation", stsn_pipe.make_relation)
    tok2vec, head = stsn.model.get_ref("tok2vec"), stsn.model.get_ref("head")
    tok2vec._func = timer.wrap("listener + reduce_max alignment", tok2vec._func)
    head._func = timer.wrap("STSN head (thinc<->torch incl.)", head._func)
    module = torch_module(stsn.model)
    module.infer = timer.wrap("STSN.infer", module.infer)
    module.encode = timer.wrap("encode: projections + attention layers", module.encode)
    for i, layer in enumerate(module.layers):
        layer.forward = timer.wrap(f"attention layer {i}", layer.forward)
    if module.tag_decoder is not None:
        module.tag_decoder.forward = timer.wrap(
            "tag decoder", module.tag_decoder.forward
        )
    # the module-level functions STSN.infer calls, by the names it calls them
    stages = {
        (stsn_torch, "candidate_spans"): "candidate spans",
        (stsn_torch, "span_logits_factored"): "span decoder",
        (stsn_torch, "predicted_entities"): "entity selection (overlaps, top-k)",
        (stsn_torch, "entity_pairs"): "ordered pairs",
        (stsn_torch, "relation_logits_factored"): "pair classification",
        (heads, "span_linear"): "span parts (per token)",
        (heads, "range_max"): "context max-pool (range_max)",
    }
    for (owner, name), label in stages.items():
        setattr(owner, name, timer.wrap(label, getattr(owner, name)))


def worker(job: Dict[str, Any]) -> Dict[str, Any]:
    """One instrumented ``nlp.pipe`` pass over the corpus, then one under
    torch.profiler."""
    import spacy
    import torch

    import spacy_stsn  # noqa: F401

    batch_size, warmup_docs, top = job["batch_size"], job["warmup_docs"], job["top"]
    words = corpus_words(Path(job["corpus"]))
    nlp = spacy.load(job["model"])
    list(nlp.pipe(make_docs(nlp.vocab, words[:warmup_docs]), batch_size=batch_size))
    timer = StageTimer()
    instrument(nlp, timer)
    docs = make_docs(nlp.vocab, words)
    start = time.perf_counter()
    list(nlp.pipe(docs, batch_size=batch_size))
    total = time.perf_counter() - start
    top_level = timer.total()
    result: Dict[str, Any] = {
        "total_s": total,
        "n_docs": len(docs),
        "stages": timer.as_dict(),
        "outside_stages_s": total - top_level,
        "stage_rows": timer.rows(total),
    }
    if job["torch_profiler"]:
        from torch.profiler import ProfilerActivity
        from torch.profiler import profile as torch_profile

        docs = make_docs(nlp.vocab, words)
        with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
            list(nlp.pipe(docs, batch_size=batch_size))
        averages = sorted(
            prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True
        )
        all_self = sum(e.self_cpu_time_total for e in averages) or 1
        result["torch_ops"] = [
            {
                "op": e.key,
                "calls": e.count,
                "self_cpu_s": e.self_cpu_time_total / 1e6,
                "self_share": e.self_cpu_time_total / all_self,
            }
            for e in averages[:top]
        ]
        result["torch_threads"] = torch.get_num_threads()
    return result


def _function(frame: str) -> str:
    """``"Linear.forward (torch/nn/modules/linear.py:134)"`` -> ``"Linear.forward
    (torch/nn/modules/linear.py)"``."""
    name, _, where = frame.partition(" (")
    return f"{name} ({where.rsplit(':', 1)[0]})" if where else name


def pyspy_summary(
    raw: Path, top: int, match: Optional[str] = None, wrapper_share: float = 0.97
) -> Dict[str, Any]:
    """Top functions of a ``py-spy record --format raw`` file (collapsed stacks, one
    "stack count" a line), lines merged per function: self samples (the innermost frame)
    and inclusive samples (anywhere on the stack, once per stack). Inclusive entries
    seen in more than ``wrapper_share`` of the samples (the call chain every sample
    shares: main, nlp.pipe, ...) are left out. ``match`` keeps only stacks containing
    that text (e.g. "Language.pipe" for the inference part)."""
    own: Dict[str, int] = collections.Counter()
    inclusive: Dict[str, int] = collections.Counter()
    n = 0
    for line in raw.read_text(encoding="utf8").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or (match and match not in stack):
            continue
        samples = int(count)
        frames = [_function(f) for f in stack.split(";")]
        n += samples
        own[frames[-1]] += samples
        for frame in set(frames):
            inclusive[frame] += samples
    shared = [(f, c) for f, c in inclusive.most_common() if c <= wrapper_share * n]
    return {"samples": n, "self": own.most_common(top), "inclusive": shared[:top]}


def markdown(result: Dict[str, Any]) -> str:
    rows = [
        [stage, calls, fmt(inclusive, 3), fmt(own, 3), fmt(share, 1)]
        for stage, calls, inclusive, own, share in result["stage_rows"]
    ]
    parts = [
        f"Stage times for one `nlp.pipe` pass over {result['n_docs']} documents: "
        f"{result['total_s']:.2f} s ({result['outside_stages_s']:.2f} s outside the "
        "listed "
        "stages: spaCy's pipe loop, Doc handling; other processes used "
        f"{fmt(result.get('other_busy_cores'), 2)} cores meanwhile).",
        "",
        markdown_table(["stage", "calls", "inclusive s", "self s", "% of pass"], rows),
    ]
    if "torch_ops" in result:
        parts += [
            "",
            "Top torch operators by self CPU time (torch.profiler, "
            f"{result['torch_threads']} threads):",
            "",
            markdown_table(
                ["op", "calls", "self CPU s", "% of all op self time"],
                [
                    [
                        f"`{o['op']}`",
                        o["calls"],
                        fmt(o["self_cpu_s"], 3),
                        fmt(100 * o["self_share"], 1),
                    ]
                    for o in result["torch_ops"]
                ],
            ),
        ]
    return "\n".join(parts) + "\n"


def pyspy_markdown(summary: Dict[str, Any]) -> str:
    n = max(summary["samples"], 1)
    rows = [
        [f"`{name}`", count, fmt(100 * count / n, 1)] for name, count in summary["self"]
    ]
    inc = [
        [f"`{name}`", count, fmt(100 * count / n, 1)]
        for name, count in summary["inclusive"]
    ]
    return (
        "\n".join(
            [
                f"py-spy, {summary['samples']} samples. Self (innermost Python frame):",
                "",
                markdown_table(["function (file:line)", "samples", "%"], rows),
                "",
                "Inclusive (anywhere on the stack; the call chain shared by all "
                "samples left out):",
                "",
                markdown_table(["function (file:line)", "samples", "%"], inc),
            ]
        )
        + "\n"
    )


def smoke(args: Any, kit: Any) -> None:
    args.batch_size, args.warmup_docs, args.top = 4, 2, 5


def main(argv: Optional[List[str]] = None) -> None:
    bench = Benchmark(__doc__, __file__, {"profile": worker})
    add = bench.parser.add_argument
    bench.input("model", "model", "trained pipeline directory", required=False)
    bench.input("corpus", "test", ".spacy DocBin to run", type=Path, required=False)
    add("--batch-size", type=int, default=32)
    add("--warmup-docs", type=int, default=64)
    add("--top", type=int, default=15, help="rows of the operator / function tables")
    add("--no-torch-profiler", action="store_true", help="skip the torch.profiler pass")
    add("--pyspy-summary", type=Path, help="summarise this py-spy raw file instead")
    add("--match", help="with --pyspy-summary: keep only stacks containing this text")
    args = bench.parse(argv, smoke)
    if args.pyspy_summary:
        summary = pyspy_summary(args.pyspy_summary, args.top, args.match)
        bench.finish(summary, pyspy_markdown(summary), stem="pyspy")
        return
    if not args.model or not args.corpus:
        bench.parser.error("MODEL and CORPUS are required (or --pyspy-summary RAW)")
    job = bench.job(
        "profile",
        model=args.model,
        corpus=str(args.corpus),
        batch_size=args.batch_size,
        warmup_docs=args.warmup_docs,
        top=args.top,
        torch_profiler=not args.no_torch_profiler,
    )
    result = bench.run(job, "profile")
    text = markdown(result) if "error" not in result else f"failed: {result['error']}"
    bench.finish(result, text, stem="profile")


if __name__ == "__main__":
    main()
