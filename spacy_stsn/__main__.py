"""Command line: ``python -m spacy_stsn {convert,evaluate,show,extract} ...``."""

import argparse
import json
import sys
from pathlib import Path
from typing import List, Optional

from .stsn_torch import PRECISIONS

PRECISION_HELP = (
    "run the stsn head's stacked layers in this precision (default: the pipeline's config); "
    "bfloat16 made the head about 1.35x faster on an AVX512-BF16 CPU (see benchmarks/README.md)"
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
        "--inference-precision", choices=PRECISIONS, default=None, help=PRECISION_HELP
    )

    show = sub.add_parser(
        "show",
        help="print gold and predicted entities and relations of a few documents",
    )
    show.add_argument("model")
    show.add_argument("corpus", type=Path)
    show.add_argument("-n", type=int, default=5)
    show.add_argument("--gpu-id", type=int, default=-1)
    extract = sub.add_parser(
        "extract",
        help="text or JSONL in, JSONL with entities and relations out (resumable)",
    )
    extract.add_argument("model")
    extract.add_argument(  # a str: --ray also takes URIs (s3://...), which Path would mangle
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
    extract.add_argument("--text-key", default="text")
    extract.add_argument("--batch-size", type=int, default=64)
    extract.add_argument("--n-process", type=int, default=1)
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
        "--inference-precision", choices=PRECISIONS, default=None, help=PRECISION_HELP
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
        "--on-error",
        choices=("stop", "skip"),
        default="stop",
        help="a malformed line stops the job (FILE:LINE), or is skipped and listed in "
        "OUTPUT/_errors/ (OUTPUT.errors.jsonl for a file)",
    )
    ray.add_argument(
        "--docs-per-shard",
        type=int,
        default=None,
        help="documents per shard of a folder OUTPUT (a multiple of --batch-size; "
        "default 16 batches)",
    )
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "convert":
            if args.format == "brat" or (args.format == "auto" and args.input.is_dir()):
                from .brat import convert_brat

                stats = convert_brat(
                    args.input,
                    args.output,
                    args.types,
                    args.lang,
                    args.model,
                    args.spans_key,
                )
            else:
                from .convert import convert_file

                stats = convert_file(
                    args.input, args.output, args.types, args.spans_key
                )
            print(f"{args.input} -> {args.output}: {json.dumps(stats)}")
        elif args.command == "evaluate":
            from .evaluate import evaluate, markdown, summary_line, write_report

            result = evaluate(
                args.model, args.corpus, args.gpu_id, args.inference_precision
            )
            write_report(result, args.output)
            print(markdown(result))
            print(summary_line(result))
        elif args.command == "extract" and args.ray:
            from .ray_extract import extract_on_ray  # Ray is imported only here

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
                inference_precision=args.inference_precision,
                on_error=args.on_error,
                restart=args.restart,
                output_format=None
                if args.output_format == "jsonl"
                else args.output_format,
                docs_per_shard=args.docs_per_shard,
            )
        elif args.command == "extract":
            from .extract import extract

            if (
                args.on_error != "stop"
                or args.docs_per_shard
                or args.output_format == "parquet"
            ):
                raise ValueError(
                    "--on-error, --docs-per-shard and --output-format parquet are --ray's"
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
                inference_precision=args.inference_precision,
                output_format=args.output_format,
            )
            if args.html is not None:
                write_html(
                    args.model,
                    Path(args.input),
                    args.format,
                    args.text_key,
                    args.html,
                    args.html_docs,
                )
        elif args.command == "show":
            from .evaluate import show

            print(show(args.model, args.corpus, args.n, args.gpu_id))
    except (ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


def write_html(
    model: str, input_path: Path, fmt: str, text_key: str, output: Path, n_docs: int
) -> None:
    """displaCy rendering of the first ``n_docs`` input documents."""
    from itertools import islice

    from .extract import read_inputs
    from .loading import load_pipeline
    from .visualize import render

    nlp, _ = load_pipeline(model)
    texts = (
        text for text, _ in islice(read_inputs(input_path, fmt, text_key, 0), n_docs)
    )
    output.write_text(render(nlp.pipe(texts)), encoding="utf8")
    print(f"wrote {output}")


if __name__ == "__main__":
    sys.exit(main())
