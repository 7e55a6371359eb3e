"""Long documents against their sentences one by one: the CoNLL04 test sentences joined
into one text (once, 10 times over, and cycled to 1 MB of text), and the same sentences
as documents of their own.

For each text and each way of giving it sentences: the relations found (against what the
same sentences find one by one), RE+ F1 against the gold (offsets shifted into the
joined text), the peak RSS (the loaded pipeline included; "extra" is the peak over the
RSS after loading and a one-sentence warm-up) and sentences per second. The ways:

* ``sentences``: one document per sentence (``nlp.pipe``), the reference;
* ``tokens``: the joined text without sentence boundaries: token windows;
* ``sentence starts``: the joined text with the sentence starts from the input;
* ``sentencizer``: the joined text, with spaCy's ``sentencizer`` first in the pipeline;
* ``document``: the joined text as one window (``windows = "document"``, the
  behaviour before windows), on the first text only.

``--phases`` adds, per text, a run of the joined text (token windows) component by
component, with the peak RSS over the RSS before each phase: the transformer, the stsn
component's listener alone (its input: the transformer's output pooled per token), and
the whole stsn component (listener and head): where the memory goes. ``--code DIR``
runs that with another checkout's ``spacy_stsn`` too (the code before a change).

Each measurement runs in its own process (its peak RSS is its own); run it on one
machine in one go, as the ratios are what count on a loaded machine.

    # results/long_documents.{json,md}
    python benchmarks/long_documents.py training/conll04/model-best
"""

from pathlib import Path
from typing import Any, Dict, List, Optional

from harness import REPO, Benchmark, fmt, markdown_table
from measure import memory, peak_rss_mib, reset_peak_rss, rss_mib, time_call

WAYS = ("sentences", "tokens", "sentence starts", "sentencizer", "document")
SIZES = ("1x", "10x", "1MB")


def gold_sentences(nlp: Any, corpus: str, size: str) -> List[Any]:
    """The corpus's gold sentences, once (1x), n times over (nx) or cycled until their
    text reaches n MB (nMB)."""
    from spacy_stsn.formats.docbin import read_docbin

    gold = list(read_docbin(Path(corpus), nlp.vocab))
    if size.endswith("x"):
        return gold * int(size[:-1])
    target, out, chars = float(size[:-2]) * 1_000_000, [], 0
    while chars < target:
        for doc in gold:
            out.append(doc)
            chars += len(doc.text_with_ws) + 1
            if chars >= target:
                break
    return out


def joined(nlp: Any, sentences: List[Any], sent_starts: bool) -> Any:
    """The sentences' tokens as one unannotated document, a space between sentences;
    with their sentence starts or without any."""
    from spacy.tokens import Doc

    words = [t.text for doc in sentences for t in doc]
    spaces = [
        bool(t.whitespace_) or t.i == len(doc) - 1 for doc in sentences for t in doc
    ]
    starts = [t.i == 0 for doc in sentences for t in doc] if sent_starts else None
    return Doc(nlp.vocab, words=words, spaces=spaces, sent_starts=starts)


def joined_gold(sentences: List[Any]) -> Any:
    """The gold sentences as one document, entities and relations shifted."""
    from spacy.tokens import Doc

    from spacy_stsn.pipeline.annotations import make_relation

    doc = Doc.from_docs(sentences, ensure_whitespace=True)
    relations, offset = [], 0
    for sentence in sentences:
        for rel in sentence._.relations:
            head = [i + offset for i in rel["head"]]
            tail = [i + offset for i in rel["tail"]]
            shifted = (head, rel["head_label"], tail, rel["tail_label"], rel["label"])
            relations.append(make_relation(*shifted))
        offset += len(sentence)
    doc._.relations = relations
    return doc


def phases(nlp: Any, doc: Any) -> Dict[str, Dict[str, float]]:
    """Peak and retained RSS (over the RSS before) and seconds of each pipeline
    component on ``doc``, and of the stsn component's listener alone."""
    from spacy_stsn.ml.runtime import release_free_memory

    out = {}

    def measure(name: str, call: Any) -> Any:
        release_free_memory(every=1)  # what earlier phases freed, out of the RSS
        base = rss_mib()
        reset_peak_rss()
        seconds, value = time_call(call)
        out[name] = {"peak": peak_rss_mib() - base, "kept": rss_mib() - base}
        out[name]["seconds"] = seconds
        return value

    for name, proc in nlp.pipeline:
        if name == "stsn":
            tok2vec = proc.model.get_ref("tok2vec")
            measure(
                "stsn listener alone",
                lambda tok2vec=tok2vec, doc=doc: tok2vec.predict([doc]),
            )
        doc = measure(name, lambda proc=proc, doc=doc: proc(doc))
    return out


def worker(job: Dict[str, Any]) -> Dict[str, Any]:
    import spacy
    from spacy.tokens import Doc
    from spacy.training import Example

    import spacy_stsn  # noqa: F401

    way = job["way"]
    config = (
        {"components": {"stsn": {"windows": "document"}}} if way == "document" else {}
    )
    nlp = spacy.load(job["model"], config=config)
    if way == "phases":
        sentences = gold_sentences(nlp, job["corpus"], job["size"])
        nlp(Doc(nlp.vocab, words=[t.text for t in sentences[0]]))  # warm-up
        text = joined(nlp, sentences, False)
        nlp.max_length = max(nlp.max_length, len(text.text) + 1)
        return {"size": job["size"], "way": way, "phases": phases(nlp, text)}
    if way == "sentencizer":
        nlp.add_pipe("sentencizer", first=True)
    sentences = gold_sentences(nlp, job["corpus"], job["size"])
    fresh = [Doc(nlp.vocab, words=[t.text for t in s]) for s in sentences]
    nlp(fresh[0])  # warm-up
    if way == "sentences":
        rss_loaded = rss_mib()
        reset_peak_rss()
        elapsed, predicted = time_call(lambda: list(nlp.pipe(fresh)))
        examples = [Example(p, g) for p, g in zip(predicted, sentences)]
        per_sentence = [len(p._.relations) for p in predicted]
    else:
        text = joined(nlp, sentences, way == "sentence starts")
        nlp.max_length = max(nlp.max_length, len(text.text) + 1)
        rss_loaded = rss_mib()
        reset_peak_rss()
        elapsed, predicted = time_call(lambda: nlp(text))
        examples = [Example(predicted, joined_gold(sentences))]
        per_sentence = None
    scores = nlp.get_pipe("stsn").score(examples)
    return {
        "size": job["size"],
        "way": way,
        "sentences": len(sentences),
        "tokens": sum(len(s) for s in sentences),
        "characters": sum(len(s.text_with_ws) + 1 for s in sentences),
        "relations": sum(len(eg.predicted._.relations) for eg in examples),
        "relations_per_sentence": per_sentence,
        "rel_strict_f": 100 * scores["rel_strict_f"],
        "ents_f": 100 * scores["ents_f"],
        "seconds": elapsed,
        "sentences_per_s": len(sentences) / elapsed,
        **memory(rss_loaded),
    }


def phases_markdown(runs: List[Dict[str, Any]]) -> str:
    rows = [
        [r["size"], r["job"].get("code") or "this checkout", name]
        + [fmt(v[key], 0) for key in ("peak", "kept")]
        + [fmt(v["seconds"], 1)]
        for r in runs
        if "phases" in r
        for name, v in r["phases"].items()
    ]
    header = ["text", "code", "phase", "peak MiB", "kept MiB", "seconds"]
    note = (
        "\n\nWhere the memory goes (joined text, token windows), phase by phase: peak "
        "and kept = peak RSS during the phase and RSS after it, over the RSS before.\n\n"
    )
    return note + markdown_table(header, rows) + "\n" if rows else ""


def markdown(runs: List[Dict[str, Any]]) -> str:
    ok = [r for r in runs if "error" not in r and "phases" not in r]
    reference = next((r for r in ok if r["way"] == "sentences"), None)
    rows = []
    for r in ok:
        if reference is not None:
            counts = reference["relations_per_sentence"]
            expected = sum(counts[i % len(counts)] for i in range(r["sentences"]))
            share = fmt(100 * r["relations"] / max(expected, 1), 1)
            delta = fmt(r["rel_strict_f"] - reference["rel_strict_f"], 2)
            speed = fmt(100 * r["sentences_per_s"] / reference["sentences_per_s"], 0)
        else:
            share = delta = speed = "n/a"
        rows.append(
            [
                r["size"],
                r["way"],
                f"{r['sentences']:,}",
                f"{r['tokens']:,}",
                f"{r['characters'] / 1000:,.0f} K",
                f"{r['relations']:,}",
                share,
                fmt(r["rel_strict_f"], 2),
                delta,
                fmt(r["peak_rss_mib"], 0),
                fmt(r["peak_rss_mib"] - (r["rss_after_load_mib"] or 0), 0),
                fmt(r["sentences_per_s"], 1),
                speed,
            ]
        )
    header = [
        "text",
        "sentences given as",
        "sentences",
        "tokens",
        "chars",
        "relations",
        "% of one by one",
        "RE+ F1",
        "Δ F1",
        "peak MiB",
        "extra MiB",
        "sentences/s",
        "% of one by one",
    ]
    note = (
        "% of one by one: relations found against those the same sentences find as "
        "documents of their own (1x `sentences` row, counted over the sentences used), "
        "and sentences/s against that row's; Δ F1: RE+ F1 minus that row's; peak: peak "
        "RSS during the call, loaded pipeline included; extra: peak minus the RSS after "
        "loading and a one-sentence warm-up."
    )
    table = markdown_table(header, rows)
    return note + "\n\n" + table + "\n" + phases_markdown(runs)


def smoke(args: Any, kit: Any) -> None:
    args.corpus = str(kit.test)
    args.sizes = ["1x", "0.003MB"]
    args.phases = True


def main(argv: Optional[List[str]] = None) -> None:
    bench = Benchmark(__doc__, __file__, {"long": worker})
    add = bench.parser.add_argument
    bench.input("model", "model", "trained pipeline directory (transformer + stsn)")
    add(
        "--corpus",
        default=str(REPO / "corpus" / "conll04" / "test.spacy"),
        help="gold sentences (DocBin) to join",
    )
    add("--sizes", nargs="+", default=list(SIZES), help="1x, 10x, 1MB, ...")
    add("--ways", nargs="*", default=list(WAYS), choices=WAYS)
    add("--phases", action="store_true", help="memory phase by phase, per text")
    add("--code", help="another checkout for the --phases runs (code before a change)")
    args = bench.parse(argv, smoke)
    runs = []
    for size in args.sizes if args.phases else []:
        for code in [None, args.code] if args.code else [None]:
            job = bench.job("long", model=args.model, corpus=args.corpus, size=size)
            job.update(way="phases", code=code)
            runs.append(bench.run(job, f"{size} phases {code or ''}"))
    for size in args.sizes:
        for way in args.ways:
            if (way == "sentences" or way == "document") and size != args.sizes[0]:
                continue  # one by one: the rate is per sentence; document: 1x only
            job = bench.job(
                "long", model=args.model, corpus=args.corpus, size=size, way=way
            )
            runs.append(bench.run(job, f"{size} {way}"))
    bench.finish({"runs": runs}, markdown(runs))


if __name__ == "__main__":
    main()
