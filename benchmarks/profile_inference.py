"""Where inference time goes: a stage breakdown of ``nlp.pipe`` over a corpus, plus the top torch operators.

Stage timers are installed by wrapping functions of the loaded pipeline at run time (nothing in the package is
edited): the transformer's tokenization, encoder forward and alignment; the stsn listener/pooling, the
STSN module's attention layers, span decoder and pair classification; and ``set_annotations`` of both
components. Times are inclusive and nested, so each stage's "self" time is what its listed children do not
explain (Python glue, conversions). A second pass runs under ``torch.profiler`` for operator-level totals.
``--pyspy-summary RAW`` instead summarises a ``py-spy record --format raw`` file by function.

    python benchmarks/profile_inference.py training/conll04/model-best corpus/conll04/test.spacy
"""

import argparse
import collections
import functools
import resource
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_common import (  # noqa: E402
    RESULTS,
    cpu_seconds,
    corpus_words,
    fmt,
    machine_info,
    make_docs,
    markdown_table,
    wait_for_idle,
    write_json,
)


class StageTimer:
    """Inclusive wall time per call path (``a/b/c``), collected by wrappers that push and pop a stack."""

    def __init__(self) -> None:
        self.stack: List[str] = []
        self.seconds: Dict[Tuple[str, ...], float] = collections.defaultdict(float)
        self.calls: Dict[Tuple[str, ...], int] = collections.defaultdict(int)
        self.first_seen: Dict[Tuple[str, ...], int] = {}

    def wrap(self, name: str, func: Callable) -> Callable:
        @functools.wraps(func)
        def timed(*args: Any, **kwargs: Any) -> Any:
            self.stack.append(name)
            path = tuple(self.stack)
            self.first_seen.setdefault(path, len(self.first_seen))
            start = time.perf_counter()
            try:
                return func(*args, **kwargs)
            finally:
                self.seconds[path] += time.perf_counter() - start
                self.calls[path] += 1
                self.stack.pop()

        return timed

    def rows(self, total: float) -> List[List[str]]:
        """Depth-first tree rows: stage, calls, inclusive s, self s, % of the pass."""
        out = []
        # depth-first, siblings in the order they first ran
        order = sorted(
            self.seconds,
            key=lambda p: [self.first_seen[p[:i]] for i in range(1, len(p) + 1)],
        )
        for path in order:
            children = sum(
                s
                for p, s in self.seconds.items()
                if len(p) == len(path) + 1 and p[:-1] == path
            )
            inclusive = self.seconds[path]
            out.append(
                [
                    "&nbsp;&nbsp;" * (len(path) - 1) + path[-1],
                    str(self.calls[path]),
                    fmt(inclusive, 3),
                    fmt(inclusive - children, 3),
                    fmt(100 * inclusive / total, 1),
                ]
            )
        return out

    def as_dict(self) -> Dict[str, Dict[str, float]]:
        return {
            "/".join(p): {"seconds": s, "calls": self.calls[p]}
            for p, s in self.seconds.items()
        }


def instrument(nlp: Any, timer: StageTimer) -> None:
    """Wrap the stages of a ``["transformer", "stsn"]`` pipeline with ``timer`` (this process only)."""
    import spacy_transformers.layers.transformer_model as trf_model

    import spacy_stsn.pipe as stsn_pipe
    import spacy_stsn.stsn_torch as stsn_torch
    from spacy_stsn.model import torch_module

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
    module.extract = timer.wrap("STSN.extract", module.extract)
    module.encode = timer.wrap("encode: projections + attention layers", module.encode)
    for i, layer in enumerate(module.layers):
        layer.forward = timer.wrap(f"attention layer {i}", layer.forward)
    if module.tag_decoder is not None:
        module.tag_decoder.forward = timer.wrap(
            "tag decoder", module.tag_decoder.forward
        )
    module.span_linear = timer.wrap("span parts (per token)", module.span_linear)
    module.span_logits_factored = timer.wrap(
        "span decoder", module.span_logits_factored
    )
    module.relation_logits_factored = timer.wrap(
        "pair classification", module.relation_logits_factored
    )
    stsn_torch.range_max = timer.wrap(
        "context max-pool (range_max)", stsn_torch.range_max
    )
    stsn_torch.enumerate_spans = timer.wrap(
        "enumerate_spans", stsn_torch.enumerate_spans
    )


def profile(
    model: str,
    corpus: Path,
    batch_size: int,
    warmup_docs: int,
    top: int,
    torch_profiler: bool,
) -> Dict[str, Any]:
    import spacy
    import torch

    import spacy_stsn  # noqa: F401

    words = corpus_words(corpus)
    nlp = spacy.load(model)
    list(nlp.pipe(make_docs(nlp.vocab, words[:warmup_docs]), batch_size=batch_size))
    timer = StageTimer()
    instrument(nlp, timer)
    docs = make_docs(nlp.vocab, words)
    start = time.perf_counter()
    list(nlp.pipe(docs, batch_size=batch_size))
    total = time.perf_counter() - start
    top_level = sum(s for p, s in timer.seconds.items() if len(p) == 1)
    result: Dict[str, Any] = {
        "total_s": total,
        "n_docs": len(docs),
        "stages": timer.as_dict(),
        "outside_stages_s": total - top_level,
        "stage_rows": timer.rows(total),
    }
    if torch_profiler:
        from torch.profiler import ProfilerActivity, profile as torch_profile

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
    """``"Linear.forward (torch/nn/modules/linear.py:134)"`` -> ``"Linear.forward (torch/nn/modules/linear.py)"``."""
    name, _, where = frame.partition(" (")
    return f"{name} ({where.rsplit(':', 1)[0]})" if where else name


def pyspy_summary(
    raw: Path, top: int, match: Optional[str] = None, wrapper_share: float = 0.97
) -> Dict[str, Any]:
    """Top functions of a ``py-spy record --format raw`` file (collapsed stacks, one "stack count" a line),
    lines merged per function: self samples (the innermost frame) and inclusive samples (anywhere on the
    stack, once per stack). Inclusive entries seen in more than ``wrapper_share`` of the samples (the call
    chain every sample shares: main, nlp.pipe, ...) are left out. ``match`` keeps only stacks containing that
    text (e.g. "Language.pipe" for the inference part)."""
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
    parts = [
        f"Stage times for one `nlp.pipe` pass over {result['n_docs']} documents: {result['total_s']:.2f} s "
        f"({result['outside_stages_s']:.2f} s outside the listed stages: spaCy's pipe loop, Doc handling; "
        f"other processes used {result.get('other_busy_cores', float('nan')):.2f} cores meanwhile).",
        "",
        markdown_table(
            ["stage", "calls", "inclusive s", "self s", "% of pass"],
            result["stage_rows"],
        ),
    ]
    if "torch_ops" in result:
        parts += [
            "",
            f"Top torch operators by self CPU time (torch.profiler, {result['torch_threads']} threads):",
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
                "Inclusive (anywhere on the stack; the call chain shared by all samples left out):",
                "",
                markdown_table(["function (file:line)", "samples", "%"], inc),
            ]
        )
        + "\n"
    )


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "model", nargs="?", help="trained pipeline directory (transformer + stsn)"
    )
    parser.add_argument(
        "corpus", nargs="?", type=Path, help=".spacy DocBin to run inference on"
    )
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--warmup-docs", type=int, default=64)
    parser.add_argument(
        "--top", type=int, default=15, help="rows of the operator / function tables"
    )
    parser.add_argument(
        "--no-torch-profiler", action="store_true", help="skip the torch.profiler pass"
    )
    parser.add_argument(
        "--pyspy-summary", type=Path, help="summarise this py-spy raw file and exit"
    )
    parser.add_argument(
        "--match", help="with --pyspy-summary: keep only stacks containing this text"
    )
    parser.add_argument(
        "--max-wait",
        type=float,
        default=900,
        help="seconds to wait for an idle machine",
    )
    parser.add_argument(
        "--output",
        type=Path,
        help="JSON output (default benchmarks/results/profile.json, "
        "or pyspy.json with --pyspy-summary)",
    )
    args = parser.parse_args(argv)
    if args.pyspy_summary:
        summary = pyspy_summary(args.pyspy_summary, args.top, args.match)
        write_json(
            args.output or RESULTS / "pyspy.json",
            {
                "machine": machine_info(),
                "raw": str(args.pyspy_summary),
                "match": args.match,
                **summary,
            },
        )
        print(pyspy_markdown(summary))
        return
    if not args.model or not args.corpus:
        parser.error("MODEL and CORPUS are required")
    idle = wait_for_idle(args.max_wait)
    info = machine_info()
    start, (busy0, _), own0 = (
        time.perf_counter(),
        cpu_seconds(),
        resource.getrusage(resource.RUSAGE_SELF),
    )
    result = profile(
        args.model,
        args.corpus,
        args.batch_size,
        args.warmup_docs,
        args.top,
        not args.no_torch_profiler,
    )
    wall, (busy1, _), own1 = (
        time.perf_counter() - start,
        cpu_seconds(),
        resource.getrusage(resource.RUSAGE_SELF),
    )
    own = (own1.ru_utime - own0.ru_utime) + (own1.ru_stime - own0.ru_stime)
    result["idle_wait"] = idle
    result["other_busy_cores"] = max(0.0, busy1 - busy0 - own) / wall
    write_json(
        args.output or RESULTS / "profile.json",
        {"machine": info, "model": args.model, "corpus": str(args.corpus), **result},
    )
    print(markdown(result))


if __name__ == "__main__":
    main()
