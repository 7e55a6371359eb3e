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

``--parts`` measures the encoder (the transformer component) and the head (the stsn
component) apart, per batch size in one process, at every ``--precisions`` setting in
turn (alternating order, ``--repeats`` passes each): each part's time per pass, its
FLOPs counted from the shapes of its matrix products and attention, hence its achieved
arithmetic rate, and its top torch operators with their input shapes (``--with-stack``:
and the calling line). ``--before DIR`` runs the same measurement with another
checkout's ``spacy_stsn`` in a paired process.

    python benchmarks/profile_inference.py training/conll04/model-best \
        corpus/conll04/test.spacy
    python benchmarks/profile_inference.py MODEL corpus/conll04/test.spacy --parts \
        --no-stages --batch-sizes 1 32 --precisions float32 bfloat16 --torch-threads 1
"""

import collections
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

from harness import Benchmark, fmt, markdown_table
from measure import StageTimer, corpus_words, make_docs, median, time_call
from profiling import count_flops, operators_table, top_operators


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


def parts_worker(job: Dict[str, Any]) -> Dict[str, Any]:
    """The encoder and the head timed apart at every precision of the job, in turn, with
    their FLOPs (counted once, in float32: the count does not depend on the precision)
    and top operators."""
    import spacy

    from spacy_stsn.ml.precision import set_model_precision

    words = corpus_words(Path(job["corpus"]))
    nlp = spacy.load(job["model"])
    pipes = {"encoder": nlp.get_pipe("transformer"), "head": nlp.get_pipe("stsn")}
    size, precisions = job["batch_size"], job["precisions"]

    def passes(precision: str, n_docs: Optional[int] = None) -> Dict[str, Any]:
        """The parts' passes over fresh docs, in order: the head needs the encoder's
        output on the same docs."""
        for pipe in pipes.values():
            set_model_precision(pipe.model, precision)
        docs = make_docs(nlp.vocab, words[:n_docs])
        return {
            part: (lambda pipe=pipe: list(pipe.pipe(docs, batch_size=size)))
            for part, pipe in pipes.items()
        }

    for precision in precisions:  # warm-up: first calls, cast copies of the weights
        for run in passes(precision, job["warmup_docs"]).values():
            run()
    flops = {part: count_flops(run)[0] for part, run in passes("float32").items()}
    times: Dict[str, Dict[str, List[float]]] = {p: {} for p in precisions}
    for rep in range(job["repeats"]):
        for precision in precisions if rep % 2 == 0 else precisions[::-1]:
            for part, run in passes(precision).items():
                times[precision].setdefault(part, []).append(time_call(run)[0])
    operators = {}
    for precision in precisions:
        operators[precision] = {
            part: top_operators(run, job["top"], job["with_stack"])
            for part, run in passes(precision).items()
        }
    return {
        "batch_size": size,
        "n_docs": len(words),
        "flops": flops,
        "times_s": times,
        "median_s": {
            p: {part: median(ts) for part, ts in parts.items()}
            for p, parts in times.items()
        },
        "operators": operators,
    }


def parts_markdown(runs: List[Dict[str, Any]]) -> str:
    """The rates table (one row per batch size, code and precision) and the top
    operators of each part."""
    rows, tables = [], []
    for run in runs:
        head = [run["job"]["batch_size"], run["code"]]
        if "error" in run:
            rows.append(head + ["failed: " + run["error"]])
            continue
        base = run["median_s"].get("float32")
        for precision, parts in run["median_s"].items():
            rate = {k: run["flops"][k] / parts[k] / 1e9 for k in parts}
            total = parts["encoder"] + parts["head"]
            speedup = (base["encoder"] + base["head"]) / total if base else None
            rows.append(
                head
                + [
                    precision,
                    fmt(parts["encoder"], 3),
                    fmt(parts["head"], 3),
                    fmt(rate["encoder"], 2),
                    fmt(rate["head"], 2),
                    f"**{rate['head'] / rate['encoder']:.2f}**",
                    fmt(run["n_docs"] / total),
                    fmt(speedup, 2),
                    fmt(run.get("other_busy_cores"), 2),
                ]
            )
            for part, ops in run["operators"][precision].items():
                title = f"{part}, batch {head[0]}, {precision}, {run['code']}"
                tables += ["", f"Top operators: {title}:", "", operators_table(ops)]
    header = ["batch", "code", "precision", "encoder s/pass", "head s/pass"]
    header += ["encoder GFLOP/s", "head GFLOP/s", "head / encoder rate"]
    header += ["pipeline sentences/s", "pipeline x float32", "others' cores"]
    first = next((r for r in runs if "error" not in r), {})
    flops = {k: fmt(v / 1e9, 2) for k, v in first.get("flops", {}).items()}
    return "\n".join(
        [
            f"The encoder (transformer component) and the head (stsn component) timed "
            f"apart, median of {first.get('job', {}).get('repeats')} passes over "
            f"{first.get('n_docs')} documents, precisions interleaved in one process, "
            f"{first.get('device')}, {first.get('torch_threads')} torch threads; "
            f"GFLOP per pass counted from the shapes: {flops} (batch "
            f"{first.get('batch_size')}); pipeline = encoder + head.",
            "",
            markdown_table(header, rows),
            *tables,
        ]
    )


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
    args.batch_sizes, args.warmup_docs, args.top = [4], 2, 5
    args.parts, args.repeats, args.torch_threads = True, 1, 1


def common_fields(args: Any) -> Dict[str, Any]:
    """The job fields of both measurements."""
    return {
        "model": args.model,
        "corpus": str(args.corpus),
        "warmup_docs": args.warmup_docs,
        "top": args.top,
    }


def parts_jobs(bench: Benchmark, args: Any) -> List[Dict[str, Any]]:
    """``--parts``: one process per batch size and code (this checkout, ``--before``),
    alternating the order of the codes from one batch size to the next."""
    codes = [str(args.before), "this checkout"] if args.before else ["this checkout"]
    runs = []
    for i, batch_size in enumerate(args.batch_sizes):
        for code in codes if i % 2 == 0 else codes[::-1]:
            job = bench.job(
                "parts",
                **common_fields(args),
                batch_size=batch_size,
                precisions=args.precisions,
                repeats=args.repeats,
                with_stack=args.with_stack,
                code=None if code == "this checkout" else code,
            )
            result = bench.run(job, f"parts batch {batch_size} ({code})")
            runs.append({**result, "code": code})
    return runs


def main(argv: Optional[List[str]] = None) -> None:
    from spacy_stsn.ml.precision import PRECISIONS

    workers = {"profile": worker, "parts": parts_worker}
    bench = Benchmark(__doc__, __file__, workers, device=True)
    add = bench.parser.add_argument
    bench.input("model", "model", "trained pipeline directory", required=False)
    bench.input("corpus", "test", ".spacy DocBin to run", type=Path, required=False)
    add("--batch-sizes", "--batch-size", type=int, nargs="+", default=[32])
    add("--warmup-docs", type=int, default=64)
    add("--top", type=int, default=15, help="rows of the operator / function tables")
    add("--no-torch-profiler", action="store_true", help="skip the torch.profiler pass")
    add("--no-stages", action="store_true", help="skip the stage-timer profile")
    add("--parts", action="store_true", help="encoder and head apart: rates, operators")
    add(
        "--precisions",
        nargs="+",
        choices=PRECISIONS,
        default=["float32", "bfloat16"],
        help="--parts: the pipeline's precision settings to compare",
    )
    add("--repeats", type=int, default=3, help="--parts: timed passes per setting")
    add("--with-stack", action="store_true", help="--parts: operators' calling lines")
    add("--before", type=Path, help="--parts: also with this checkout's spacy_stsn")
    add("--pyspy-summary", type=Path, help="summarise this py-spy raw file instead")
    add("--match", help="with --pyspy-summary: keep only stacks containing this text")
    args = bench.parse(argv, smoke)
    if args.pyspy_summary:
        summary = pyspy_summary(args.pyspy_summary, args.top, args.match)
        bench.finish(summary, pyspy_markdown(summary), stem="pyspy")
        return
    if not args.model or not args.corpus:
        bench.parser.error("MODEL and CORPUS are required (or --pyspy-summary RAW)")
    result: Dict[str, Any] = {"stages": [], "parts": []}
    texts = []
    for batch_size in [] if args.no_stages else args.batch_sizes:
        job = bench.job(
            "profile",
            **common_fields(args),
            batch_size=batch_size,
            torch_profiler=not args.no_torch_profiler,
        )
        run = bench.run(job, f"profile batch {batch_size}")
        result["stages"].append(run)
        texts.append(markdown(run) if "error" not in run else f"failed: {run['error']}")
    if args.parts:
        result["parts"] = parts_jobs(bench, args)
        texts.append(parts_markdown(result["parts"]))
    stem = "profile" if result["stages"] else "profile_parts"
    bench.finish(result, "\n".join(texts), stem=stem)


if __name__ == "__main__":
    main()
