"""Command line: ``python -m spacy_stsn
{convert,evaluate,tune,show,extract,serve,curve} ...``."""

import argparse
import json
import sys
from pathlib import Path
from typing import List, Optional

from ..extraction.outputs import refuse_overwriting_inputs
from ..files import check_writable
from ..ml.precision import PRECISIONS
from ..serve.options import add_arguments as add_serve_arguments

PRECISION_HELP = (
    "compute in this precision, the transformer and the stsn head (default: the pipeline's own, "
    "[nlp.after_pipeline_creation] spacy_stsn.precision.v1); auto = bfloat16 where the CPU or GPU has it "
    "natively; --inference-precision is the old name"
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m spacy_stsn", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    convert = sub.add_parser(
        "convert", help="SpERT JSON or a brat folder -> .spacy (relations, span groups)"
    )
    convert.add_argument(
        "input",
        type=Path,
        help="a SpERT JSON file, or a folder of brat .txt + .ann files",
    )
    convert.add_argument("output", type=Path)
    convert.add_argument(
        "--format",
        choices=("auto", "spert", "brat"),
        default="auto",
        help="auto: brat for a folder, else SpERT",
    )
    convert.add_argument(
        "--types",
        type=Path,
        default=None,
        help="reject unknown labels: a SpERT types file, or (brat) an annotation.conf",
    )
    convert.add_argument(
        "--lang",
        default="en",
        help="brat: tokenise with a blank pipeline of this language",
    )
    convert.add_argument(
        "--model", default=None, help="brat: tokenise with this pipeline's tokenizer"
    )
    convert.add_argument("--spans-key", default="stsn")
    convert.add_argument(
        "--part-tokens",
        type=int,
        default=None,
        help="past this many tokens (default 500,000) OUTPUT is a folder of .spacy parts "
        "of at most this size, which spacy train reads as one corpus",
    )

    evaluate = sub.add_parser(
        "evaluate", help="NER/RE/RE+ metrics, per type and by length, of a pipeline"
    )
    evaluate.add_argument("model")
    evaluate.add_argument("corpus", type=Path)
    evaluate.add_argument(
        "--output", type=Path, required=True, help="folder for metrics.json/.md/.png"
    )
    evaluate.add_argument("--gpu-id", type=int, default=-1)
    evaluate.add_argument(
        "--precision",
        "--inference-precision",
        dest="precision",
        choices=PRECISIONS,
        default=None,
        help=PRECISION_HELP,
    )

    tune = sub.add_parser(
        "tune",
        help="choose the relation thresholds (global, per type) and nested_threshold on dev; "
        "write the pipeline with them",
    )
    tune.add_argument("model", type=Path, help="a pipeline folder")
    tune.add_argument(
        "dev", type=Path, help="the .spacy corpus the thresholds are chosen on"
    )
    tune.add_argument(
        "--output", type=Path, required=True, help="the tuned pipeline (may be MODEL)"
    )
    tune.add_argument(
        "--test",
        type=Path,
        default=None,
        help="also score this corpus before and after",
    )
    tune.add_argument(
        "--report", type=Path, default=None, help="folder for tuning.json and tuning.md"
    )
    tune.add_argument(
        "--metric",
        default=None,
        help="a scorer key to maximise, e.g. rel_strict_macro_f (default: the pipeline's "
        "[training.score_weights], the selection score of spacy train)",
    )
    tune.add_argument(
        "--global-only", action="store_true", help="no per-type thresholds"
    )
    tune.add_argument(
        "--grid",
        type=float,
        nargs="+",
        default=None,
        help="the relation thresholds to try (default 0.05 ... 0.95 by 0.05); widen it "
        "when the report says the choice sat on an edge",
    )
    tune.add_argument("--gpu-id", type=int, default=-1)

    show = sub.add_parser(
        "show",
        help="print gold and predicted entities and relations of a few documents",
    )
    show.add_argument("model")
    show.add_argument("corpus", type=Path)
    show.add_argument("-n", type=int, default=5)
    show.add_argument("--gpu-id", type=int, default=-1)
    curve = sub.add_parser(
        "curve",
        help="redraw a training run's dev curve (DIR/curve.png from DIR/curve.jsonl, "
        "which spacy_stsn.ProgressLogger.v1 writes) and name it",
    )
    curve.add_argument("directory", type=Path, help="spacy train's --output")
    extract = sub.add_parser(
        "extract",
        help="text or JSONL in, JSONL with entities and relations out (resumable)",
    )
    extract.add_argument("model")
    # a str: --ray also takes URIs (s3://...), which Path would mangle
    extract.add_argument(
        "input",
        help="plain text (one document a line) or JSONL ({'text': ...})",
    )
    extract.add_argument(
        "-o",
        "--output",
        required=True,
        help="JSONL file, or folder for brat",
    )
    extract.add_argument(
        "--output-format",
        choices=("jsonl", "brat", "parquet"),
        default="jsonl",
        help="brat: OUTPUT/NAME.txt + .ann per document (NAME: the input's id or line)",
    )
    extract.add_argument(
        "--format",
        choices=("auto", "text", "jsonl"),
        default="auto",
        help="auto: JSONL for .jsonl/.json files, else text",
    )
    extract.add_argument(
        "--text-key",
        default="text",
        help="the JSONL field to read, and the output field the text is written to",
    )
    extract.add_argument("--batch-size", type=int, default=64)
    extract.add_argument("--n-process", type=int, default=1)
    extract.add_argument(
        "--gpu-id", type=int, default=-1, help="the GPU to run on; -1: the CPU"
    )
    extract.add_argument(
        "--on-error",
        choices=("stop", "skip"),
        default="stop",
        help="a line that is malformed or fails in the pipeline stops the run at its "
        "FILE:LINE, every line before it written (stop); or is listed in "
        "OUTPUT.errors.jsonl (with --ray and a folder OUTPUT: OUTPUT/_errors/) and "
        "the run goes on (skip)",
    )
    extract.add_argument(
        "--tags", action="store_true", help="also write tokens and their predicted tags"
    )
    extract.add_argument(
        "--restart", action="store_true", help="overwrite OUTPUT instead of resuming it"
    )
    extract.add_argument(
        "--html",
        type=Path,
        default=None,
        help="also render the first --html-docs documents with displaCy to this file",
    )
    extract.add_argument("--html-docs", type=int, default=20)
    extract.add_argument(
        "--max-length",
        type=int,
        default=None,
        help="the longest text in characters, spaCy's nlp.max_length (default: the "
        "pipeline's, 1,000,000); a longer one stops the run at its FILE:LINE",
    )
    extract.add_argument(
        "--precision",
        "--inference-precision",
        dest="precision",
        choices=PRECISIONS,
        default=None,
        help=PRECISION_HELP,
    )
    ray = extract.add_argument_group(
        "Ray",
        "run on a Ray cluster with Ray Data (pip install spacy-stsn[ray]): "
        "INPUT and OUTPUT may be local or any URI pyarrow opens (s3://, gs://); INPUT may also be "
        "a folder of text/JSONL files or Parquet; OUTPUT a file (in input order, .parquet for "
        "Parquet; --restart to overwrite) or a folder (ending with '/': shards written by the "
        "workers, resumed by a rerun; --output-format parquet for Parquet shards)",
    )
    ray.add_argument(
        "--ray", action="store_true", help="extract with a pool of Ray actors"
    )
    ray.add_argument(
        "--address",
        default=None,
        help="the cluster to join (default: start a local Ray instance)",
    )
    ray.add_argument(
        "--workers",
        type=int,
        default=1,
        help="actors, each with its own copy of the model",
    )
    ray.add_argument("--cpus-per-worker", type=float, default=1)
    ray.add_argument("--gpus-per-worker", type=float, default=0)
    ray.add_argument(
        "--docs-per-shard",
        type=int,
        default=None,
        help="documents per shard of a folder OUTPUT (a multiple of --batch-size; "
        "default 16 batches)",
    )
    serve = sub.add_parser(
        "serve",
        help="an HTTP service (pip install spacy-stsn[serve]): POST /extract with "
        "micro-batching, a page to try it at /, /health, /ready, /metrics "
        "(docs/serving.md)",
    )
    add_serve_arguments(serve)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        refuse_overwriting_any_input(args)
        check_writable(*outputs(args))
        if args.command == "convert":
            if args.format == "brat" or (args.format == "auto" and args.input.is_dir()):
                from ..formats.brat import convert_brat

                stats = convert_brat(
                    args.input,
                    args.output,
                    args.types,
                    args.lang,
                    args.model,
                    args.spans_key,
                    args.part_tokens,
                )
            else:
                from ..formats.spert import convert_file

                stats = convert_file(
                    args.input,
                    args.output,
                    args.types,
                    args.spans_key,
                    args.part_tokens,
                )
            print(f"{args.input} -> {args.output}: {json.dumps(stats)}")
        elif args.command == "evaluate":
            from ..evaluation.evaluate import (
                evaluate,
                markdown,
                summary_line,
                write_report,
            )

            result = evaluate(args.model, args.corpus, args.gpu_id, args.precision)
            write_report(result, args.output)
            print(markdown(result))
            print(summary_line(result))
        elif args.command == "tune":
            from ..evaluation import tuning

            report = tuning.tune(
                args.model,
                args.dev,
                args.output,
                args.test,
                grid=args.grid or tuning.GRID,
                metric=args.metric,
                per_type=not args.global_only,
                gpu_id=args.gpu_id,
            )
            if args.report is not None:
                tuning.write_report(report, args.report)
            print(tuning.markdown(report))
            for note in report["at_grid_edge"]:
                print(f"warning: {note}", file=sys.stderr)
        elif args.command == "extract" and args.ray:
            if args.html is not None or args.n_process != 1 or args.gpu_id != -1:
                # the workers never hand documents back to render, Ray's actors are its
                # processes, and Ray gives each its GPUs
                raise ValueError(
                    "--html, --n-process and --gpu-id are the local command's "
                    "(--ray: --gpus-per-worker)"
                )
            from ..extraction.ray.driver import (
                extract_on_ray,  # Ray is imported only here
            )

            extract_on_ray(
                args.model,
                args.input,
                args.output,
                address=args.address,
                workers=args.workers,
                cpus_per_worker=args.cpus_per_worker,
                gpus_per_worker=args.gpus_per_worker,
                fmt=args.format,
                text_key=args.text_key,
                batch_size=args.batch_size,
                tags=args.tags,
                precision=args.precision,
                on_error=args.on_error,
                restart=args.restart,
                output_format=None
                if args.output_format == "jsonl"
                else args.output_format,
                docs_per_shard=args.docs_per_shard,
                max_length=args.max_length,
            )
        elif args.command == "extract":
            from ..extraction.extract import extract

            if args.docs_per_shard or args.output_format == "parquet":
                raise ValueError(
                    "--docs-per-shard and --output-format parquet are --ray's"
                )
            extract(
                args.model,
                Path(args.input),
                Path(args.output),
                fmt=args.format,
                text_key=args.text_key,
                batch_size=args.batch_size,
                n_process=args.n_process,
                tags=args.tags,
                resume=not args.restart,
                precision=args.precision,
                output_format=args.output_format,
                max_length=args.max_length,
                on_error=args.on_error,
                gpu_id=args.gpu_id,
            )
            if args.html is not None:
                write_html(
                    args.model,
                    Path(args.input),
                    args.format,
                    args.text_key,
                    args.html,
                    args.html_docs,
                    args.max_length,
                )
        elif args.command == "serve":
            from ..serve import ServeOptions, serve

            serve(ServeOptions.from_namespace(args))
        elif args.command == "show":
            from ..evaluation.evaluate import show

            print(show(args.model, args.corpus, args.n, args.gpu_id))
        elif args.command == "curve":
            from ..training.curve import redraw

            print(redraw(args.directory))
    except (ValueError, OSError) as err:  # OSError: a full disk, a lost mount
        print(f"error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as err:  # extract's says where it stopped
        print(str(err) or "stopped (Ctrl-C)", file=sys.stderr)
        return 130
    return 0


def outputs(args: argparse.Namespace) -> List[Optional[Path]]:
    """The files and folders the command will write, checked before it starts
    (:func:`spacy_stsn.files.check_writable`); ``extract`` checks its own."""
    if args.command == "convert":
        return [args.output]
    if args.command == "evaluate":
        from ..evaluation.evaluate import REPORT_FILES

        return [args.output / name for name in REPORT_FILES]
    if args.command == "tune":
        from ..evaluation.tuning import REPORT_FILES as TUNING_FILES

        report = [args.report / name for name in TUNING_FILES] if args.report else []
        return [args.output, args.output / "config.cfg"] + report
    if args.command == "extract":
        return [args.html]
    return []


def refuse_overwriting_any_input(args: argparse.Namespace) -> None:
    """Before anything is read or written: no output of ``convert`` or ``extract``
    (``--html`` included) may be an input or inside an input folder (see
    :func:`spacy_stsn.extraction.outputs.refuse_overwriting_inputs`)."""
    if args.command == "convert":
        refuse_overwriting_inputs(args.output, [args.input, args.types])
    elif args.command == "extract":
        for output in (args.output, args.html):
            if output is not None:
                refuse_overwriting_inputs(output, [args.input])


def write_html(
    model: str,
    input_path: Path,
    fmt: str,
    text_key: str,
    output: Path,
    n_docs: int,
    max_length: Optional[int] = None,
) -> None:
    """displaCy rendering of the first ``n_docs`` input documents."""
    from itertools import islice

    from ..extraction.extract import read_inputs
    from ..extraction.visualize import render
    from ..pipeline.loading import load_pipeline

    nlp, _ = load_pipeline(model)
    if max_length is not None:
        nlp.max_length = max_length
    inputs = read_inputs(input_path, fmt, text_key, 0, max_length=nlp.max_length)
    texts = (text for text, _ in islice(inputs, n_docs))
    output.write_text(render(nlp.pipe(texts)), encoding="utf8")
    print(f"wrote {output}")
