r"""Inference speed of a trained ``["transformer", "stsn"]`` pipeline by precision and
batch size, with peak memory.

For every batch size and precision, sentences/s of ``nlp.pipe`` over the corpus for the
encoder alone (the transformer component) and for the whole pipeline; their ratio is how
close the pipeline comes to its encoder-only limit. The stsn component's own time is
also clocked inside the pipeline's passes (a share that drift between processes cannot
distort). Precisions: ``float32``, ``bfloat16`` and ``auto`` are the pipeline's
precision setting (``spacy_stsn.ml.precision``); ``int8`` is torch's dynamic int8
quantisation of the Linear layers that inference calls (encoder and head) on the float32
pipeline, an inference-only measurement. The settings run back to back, in alternating
order from one batch size to the next (A B C, then C B A), so the machine's drift hits
them alike; ``--before DIR`` adds each measurement with another checkout's
``spacy_stsn``; ``--evaluate CORPUS`` scores NER / RE / RE+ F1 at every precision.

    python benchmarks/speed_inference.py MODEL corpus/conll04/test.spacy \
        --torch-threads 1
    python benchmarks/speed_inference.py MODEL corpus/conll04/test.spacy \
        --precisions float32 int8 --evaluate corpus/conll04/test.spacy
"""

import warnings
from contextlib import nullcontext
from pathlib import Path
from typing import Any, Dict, List, Optional

from harness import (
    CONTENTION_NOTE,
    Benchmark,
    fmt,
    markdown_table,
    most_contention,
    synchronizer,
)
from measure import (
    StageTimer,
    corpus_words,
    make_docs,
    median,
    memory,
    n_wordpieces,
    reset_peak_rss,
    rss_mib,
    time_call,
)

INT8 = "int8"
MODES = {"encoder": ["transformer"], "pipeline": None}  # None: every component


def load(model: str, precision: str, warmup: List[Any]) -> Any:
    """The pipeline at ``precision``; ``int8``: at float32, then quantised after a pass
    over the ``warmup`` documents' words."""
    import spacy

    base = "float32" if precision == INT8 else precision
    try:
        from spacy_stsn.ml.precision import overrides
    except ImportError:  # --before with a checkout older than the precision setting
        if base != "float32":
            raise
        overrides = lambda _: {}  # noqa: E731
    nlp = spacy.load(model, config=overrides(base))
    if precision == INT8:
        nlp.meta["int8_linear_layers"] = quantize_int8(nlp, warmup)
    return nlp


def quantize_int8(nlp: Any, words: List[Any]) -> Dict[str, Dict[str, int]]:
    """Dynamic int8 quantisation of every Linear layer that ``nlp`` calls as a module
    while it runs over ``words``, in each torch module of the pipeline (the Hugging Face
    encoder, the STSN head). A Linear whose weight the code reads itself (the head's
    factored decoders) stays float32, as does anything inference does not call. Returns,
    per torch module, how many Linear layers were quantised and how many stayed
    float32."""
    import torch
    from torch.ao.quantization import quantize_dynamic

    modules = {
        f"{name}/{node.name}": shim._model
        for name, pipe in nlp.pipeline
        if hasattr(pipe, "model")
        for node in pipe.model.walk()
        for shim in node.shims
        if isinstance(getattr(shim, "_model", None), torch.nn.Module)
    }
    called, hooks = set(), []
    for key, module in modules.items():
        for sub, layer in module.named_modules():
            if isinstance(layer, torch.nn.Linear):
                hooks.append(
                    layer.register_forward_pre_hook(
                        lambda *_, k=(key, sub): called.add(k)
                    )
                )
    list(nlp.pipe(make_docs(nlp.vocab, words)))
    for hook in hooks:
        hook.remove()
    counts = {}
    for key, module in modules.items():
        linears = {
            sub for sub, m in module.named_modules() if isinstance(m, torch.nn.Linear)
        }
        chosen = {sub for k, sub in called if k == key}
        if chosen:
            with warnings.catch_warnings():  # torch 2.13 points to torchao's successor
                warnings.simplefilter("ignore", (DeprecationWarning, UserWarning))
                quantize_dynamic(module, chosen, dtype=torch.qint8, inplace=True)
        counts[key] = {"int8": len(chosen), "float32": len(linears - chosen)}
    return counts


# -- workers (each runs in a fresh interpreter) ----------------------------------------
def inference_worker(job: Dict[str, Any]) -> Dict[str, Any]:
    """Time ``repeats`` passes of ``nlp.pipe`` over the corpus after a warm-up."""
    import spacy_stsn

    sync = synchronizer(job)
    words = corpus_words(Path(job["corpus"]))
    if job["sort_by_length"]:  # similar lengths in a batch: less padding
        words.sort(key=lambda ws: len(ws[0]))
    warmup = words[: job["warmup_docs"]]
    nlp = load(job["model"], job["precision"], warmup)
    rss_loaded = rss_mib()
    reset_peak_rss()
    enable, batch_size = MODES[job["mode"]], job["batch_size"]
    timer = StageTimer()
    if enable is None:
        stsn = nlp.get_pipe("stsn")
        for name in ("predict", "set_annotations"):
            setattr(stsn, name, timer.wrap(name, getattr(stsn, name)))
    times: List[float] = []
    stsn_times: List[float] = []
    with nlp.select_pipes(enable=enable) if enable else nullcontext():
        list(nlp.pipe(make_docs(nlp.vocab, warmup), batch_size=batch_size))
        for _ in range(job["repeats"]):
            fresh = make_docs(nlp.vocab, words)
            before = timer.total()
            elapsed, docs = time_call(
                lambda fresh=fresh: [
                    list(nlp.pipe(fresh, batch_size=batch_size)),
                    sync(),
                ][0]
            )
            times.append(elapsed)
            stsn_times.append(timer.total() - before)
    t = median(times)
    result = {
        "mode": job["mode"],
        "precision": job["precision"],
        "batch_size": batch_size,
        "times_s": times,
        "median_s": t,
        "n_docs": len(docs),
        "n_tokens": sum(len(doc) for doc in docs),
        "sents_per_s": len(docs) / t,
        "wordpieces_per_s": sum(n_wordpieces(doc) for doc in docs) / t,
        "stsn_code": str(Path(spacy_stsn.__file__).resolve().parents[1]),
        "int8_linear_layers": nlp.meta.get("int8_linear_layers"),
        **memory(rss_loaded),
    }
    if enable is None:
        result["stsn_times_s"] = stsn_times
        result["stsn_share_in_pass"] = median(
            [s / t for s, t in zip(stsn_times, times)]
        )
        result["n_entities"] = sum(len(doc.spans.get("stsn", [])) for doc in docs)
        result["n_relations"] = sum(len(doc._.relations) for doc in docs)
    return result


def accuracy_worker(job: Dict[str, Any]) -> Dict[str, Any]:
    """NER / RE / RE+ micro F1 of the pipeline at ``precision`` on ``evaluate``."""
    from spacy_stsn.evaluation.evaluate import load_examples, predict
    from spacy_stsn.evaluation.scorer import score_relations
    from spacy_stsn.pipeline.loading import stsn_component

    warmup = corpus_words(Path(job["corpus"]))[: job["warmup_docs"]]
    nlp = load(job["model"], job["precision"], warmup)
    stsn = stsn_component(nlp, job["model"])
    examples = load_examples(nlp, Path(job["evaluate"]))
    speed = predict(nlp, examples, job["batch_size"])
    scores = score_relations(
        examples, spans_key=stsn.spans_key, symmetric_labels=stsn.symmetric_labels
    )
    keys = ("ents_f", "rel_f", "rel_strict_f")
    return {
        "precision": job["precision"],
        "n_docs": len(examples),
        "sents_per_s": speed,
        **{key: 100 * scores[key] for key in keys},
    }


# -- tables ----------------------------------------------------------------------------
def speed_table(runs: List[Dict[str, Any]]) -> str:
    """One row per (batch size, code, precision): both modes, their ratio, and each
    precision's speed-up over float32 at the same batch size and code."""
    ok = [
        r for r in runs if "error" not in r["encoder"] and "error" not in r["pipeline"]
    ]
    base = {(r["batch_size"], r["code"]): r for r in ok if r["precision"] == "float32"}
    rows = []
    for run in runs:
        enc, full = run["encoder"], run["pipeline"]
        head = [run["batch_size"], run["code"], run["precision"]]
        if run not in ok:
            rows.append(head + ["failed: " + (enc.get("error") or full["error"])])
            continue
        f32 = base.get((run["batch_size"], run["code"]))
        rows.append(
            head
            + [
                fmt(enc["sents_per_s"]),
                fmt(full["sents_per_s"]),
                f"**{full['sents_per_s'] / enc['sents_per_s']:.2f}**",
                _speedup(enc, f32 and f32["encoder"]),
                _speedup(full, f32 and f32["pipeline"]),
                f"{100 * full['stsn_share_in_pass']:.1f} %",
                fmt(enc["peak_rss_mib"], 0) + " / " + fmt(full["peak_rss_mib"], 0),
                fmt(most_contention(enc, full), 2),
            ]
        )
    header = [
        "batch",
        "code",
        "precision",
        "encoder sentences/s",
        "pipeline sentences/s",
        "pipeline / encoder",
        "encoder x float32",
        "pipeline x float32",
        "stsn in-pass share",
        "peak RSS MiB (encoder / pipeline)",
        "others' cores",
    ]
    return markdown_table(header, rows)


def _speedup(run: Dict[str, Any], float32: Optional[Dict[str, Any]]) -> str:
    return "" if not float32 else f"{run['sents_per_s'] / float32['sents_per_s']:.2f}"


def accuracy_table(rows: List[Dict[str, Any]]) -> str:
    """One row per (code, precision), with the RE+ difference to float32 of the same
    code."""
    keys = ("ents_f", "rel_f", "rel_strict_f")
    base = {
        r["code"]: r for r in rows if r["precision"] == "float32" and "error" not in r
    }
    lines = []
    for row in rows:
        setting = [row["code"], row["precision"]]
        if "error" in row:
            lines.append(setting + ["failed: " + row["error"]])
            continue
        f32 = base.get(row["code"])
        delta = fmt(row["rel_strict_f"] - f32["rel_strict_f"]) if f32 else ""
        scores = [fmt(row[k]) for k in keys]
        lines.append(setting + scores + [delta, fmt(row["sents_per_s"])])
    header = ["code", "precision", "NER F1", "RE F1", "RE+ F1", "RE+ - float32"]
    return markdown_table(header + ["sentences/s"], lines)


def markdown(args: Any, runs: List[Dict[str, Any]], accuracy: List[Any]) -> str:
    first = next((r["pipeline"] for r in runs if "error" not in r["pipeline"]), {})
    parts = [
        f"Inference on `{args.corpus}` ({first.get('n_docs')} documents, "
        f"{first.get('n_tokens')} tokens"
        + (", sorted by length" if args.sort_by_length else "")
        + f"), `nlp.pipe(batch_size=B)`, median of {args.repeats} passes after a "
        f"{args.warmup_docs}-document warm-up, {first.get('device')}, "
        f"{first.get('torch_threads')} torch threads, in the order run:",
        "",
        speed_table(runs),
        "",
        "pipeline / encoder: the pipeline's speed as a fraction of its encoder-only "
        "limit; x float32: speed-up over float32 at the same batch size; stsn in-pass "
        "share: the stsn component's `predict` + `set_annotations` time inside the "
        "pipeline passes. " + CONTENTION_NOTE,
    ]
    int8 = next(
        (r["pipeline"] for r in runs if r["pipeline"].get("int8_linear_layers")), None
    )
    if int8:
        counts = int8["int8_linear_layers"]
        parts += [
            "",
            "int8: Linear layers quantised / left float32 (inference does not call "
            "them as modules), per torch module: "
            + ", ".join(f"{k} {v['int8']} / {v['float32']}" for k, v in counts.items())
            + ".",
        ]
    if accuracy:
        parts += ["", f"Accuracy on `{args.evaluate}` (micro F1):", ""]
        parts.append(accuracy_table(accuracy))
    return "\n".join(parts)


def smoke(args: Any, kit: Any) -> None:
    args.batch_sizes, args.repeats, args.warmup_docs = [1, 4], 1, 2
    args.evaluate, args.torch_threads = kit.test, 1


def main(argv: Optional[List[str]] = None) -> None:
    from spacy_stsn.ml.precision import PRECISIONS

    workers = {"inference": inference_worker, "accuracy": accuracy_worker}
    bench = Benchmark(__doc__, __file__, workers, device=True)
    add = bench.parser.add_argument
    bench.input("model", "model", "trained pipeline directory (transformer + stsn)")
    bench.input("corpus", "test", ".spacy DocBin to run inference on")
    add("--batch-sizes", type=int, nargs="+", default=[1, 32])
    add(
        "--precisions",
        nargs="+",
        choices=[*PRECISIONS, INT8],
        default=["float32", "bfloat16", INT8],
    )
    add("--repeats", type=int, default=3, help="timed passes over the corpus (median)")
    add("--warmup-docs", type=int, default=64, help="documents run before timing")
    add("--sort-by-length", action="store_true", help="shortest documents first")
    add(
        "--before",
        type=Path,
        help="a checkout of the code before a change (`git archive COMMIT | tar -x -C "
        "DIR`): every measurement also runs with its spacy_stsn, back to back",
    )
    add(
        "--evaluate",
        type=Path,
        help=".spacy corpus: also NER / RE / RE+ F1 at every precision (largest batch)",
    )
    args = bench.parse(argv, smoke)
    codes = [str(args.before), "this checkout"] if args.before else ["this checkout"]
    settings = [(code, p) for code in codes for p in args.precisions]
    common = {
        "model": args.model,
        "corpus": args.corpus,
        "repeats": args.repeats,
        "warmup_docs": args.warmup_docs,
        "sort_by_length": args.sort_by_length,
    }
    runs = []
    for i, batch_size in enumerate(args.batch_sizes):
        for code, precision in settings if i % 2 == 0 else settings[::-1]:
            run = {"batch_size": batch_size, "code": code, "precision": precision}
            for mode in MODES:
                job = bench.job(
                    "inference",
                    **common,
                    mode=mode,
                    batch_size=batch_size,
                    precision=precision,
                    code=None if code == "this checkout" else code,
                )
                run[mode] = bench.run(job, f"{mode} {precision} batch {batch_size}")
            runs.append(run)
    accuracy = []
    for code, precision in settings if args.evaluate else ():
        job = bench.job(
            "accuracy",
            **common,
            evaluate=str(args.evaluate),
            batch_size=max(args.batch_sizes),
            precision=precision,
            code=None if code == "this checkout" else code,
        )
        result = bench.run(job, f"accuracy {precision}")
        accuracy.append({**result, "code": code, "precision": precision})
    bench.finish({"runs": runs, "accuracy": accuracy}, markdown(args, runs, accuracy))


if __name__ == "__main__":
    main()
