"""Command line: ``python -m spacy_stsn {convert,evaluate,show} ...``."""
import argparse
import json
import sys
from pathlib import Path
from typing import List, Optional


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m spacy_stsn", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    convert = sub.add_parser("convert", help="SpERT JSON -> .spacy (DocBin with relations and span groups)")
    convert.add_argument("input", type=Path)
    convert.add_argument("output", type=Path)
    convert.add_argument("--types", type=Path, default=None, help="SpERT types file: reject unknown labels")
    convert.add_argument("--spans-key", default="stsn")

    evaluate = sub.add_parser("evaluate", help="NER/RE/RE+ metrics, per type and by length, of a pipeline")
    evaluate.add_argument("model")
    evaluate.add_argument("corpus", type=Path)
    evaluate.add_argument("--output", type=Path, required=True, help="folder for metrics.json/.md/.png")
    evaluate.add_argument("--gpu-id", type=int, default=-1)

    show = sub.add_parser("show", help="print gold and predicted entities and relations of a few documents")
    show.add_argument("model")
    show.add_argument("corpus", type=Path)
    show.add_argument("-n", type=int, default=5)
    show.add_argument("--gpu-id", type=int, default=-1)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "convert":
            from .convert import convert_file

            stats = convert_file(args.input, args.output, args.types, args.spans_key)
            print(f"{args.input} -> {args.output}: {json.dumps(stats)}")
        elif args.command == "evaluate":
            from .evaluate import evaluate, markdown, summary_line, write_report

            result = evaluate(args.model, args.corpus, args.gpu_id)
            write_report(result, args.output)
            print(markdown(result))
            print(summary_line(result))
        elif args.command == "show":
            from .evaluate import show

            print(show(args.model, args.corpus, args.n, args.gpu_id))
    except (ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
