"""Batch extraction for people who do not write Python: text or JSONL in, JSONL (or
brat) out, streamed and resumable.

Input is read line by line (:mod:`spacy_stsn.extraction.inputs`) and output is written
and flushed batch by batch, so memory does not grow with the file and a crash loses at
most the batch in flight: run the same command again and it continues after the last
complete output line (one output line per input line, in order, but for the lines
recorded as skipped). A line that is malformed, too long for ``nlp.max_length`` or whose
document fails inside the pipeline stops the run with ``FILE:LINE`` after every
document before it has been written, or (``on_error="skip"``) is recorded and skipped
(:mod:`spacy_stsn.extraction.failures`).

Nothing is lost or mixed up: the output may not be the input
(:mod:`spacy_stsn.extraction.outputs`), and is checked writable and locked for the run
before the pipeline loads (:mod:`spacy_stsn.extraction.output_lock`); a resume checks
the output's sidecar (the input, the model and the options of the run that wrote it)
and that the documents already written are exactly the input's first ones
(:mod:`spacy_stsn.extraction.resume`); input fields named like the predictions are
refused rather than overwritten. The loop itself is :mod:`spacy_stsn.extraction.run`.
"""

from functools import partial
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Union

from spacy.language import Language

from ..files import check_writable
from ..formats.brat_writer import BratWriter
from ..pipeline.loading import load_pipeline
from .failures import ErrorLog, errors_path, recorded_lines
from .inputs import Numbered, input_format, raising, read_numbered
from .jsonl_output import JsonlWriter
from .options import ExtractOptions
from .output_lock import OutputLock
from .outputs import (
    input_fingerprint,
    model_identity,
    refuse_overwriting_inputs,
    sidecar_path,
    write_sidecar,
)
from .records import prediction_fields
from .resume import check_resume
from .run import RunOptions, write_outcomes
from .visualize import FirstDocs

Writer = Union[BratWriter, JsonlWriter]


def extract(
    model: str,
    input_path: Path,
    output_path: Path,
    options: Optional[ExtractOptions] = None,
    **changes: Any,
) -> int:
    """Extract from every input line into ``output_path``: a JSONL file, or a folder for
    ``output_format="brat"`` (see :class:`spacy_stsn.formats.brat_writer.BratWriter`);
    returns the documents written now.

    Args:
        model: the pipeline, a path or an installed package name.
        input_path: plain text (one document a line) or JSONL.
        output_path: the JSONL file, or the brat folder.
        options: how (:class:`spacy_stsn.extraction.options.ExtractOptions`; ``--ray``'s
            options are refused).
        changes: fields of ``options`` given as keywords (``batch_size=4``).

    The output (and ``options.html``) is checked (writable, no input, locked for the
    run: :mod:`spacy_stsn.extraction.output_lock`) before the pipeline loads, once. With
    ``options.html``, the first ``html_docs`` documents annotated by this run are
    rendered with displaCy to that file at the end. Ctrl-C raises
    :class:`spacy_stsn.extraction.run.Interrupted`; the output is then resumable like
    any other."""
    options = ExtractOptions.of(options, **changes)
    options.check_local()
    if options.output == "jsonl" and Path(output_path).is_dir():
        raise ValueError(
            f"{output_path} is a folder: JSONL output is a file (--output-format brat "
            "writes a folder)"
        )
    for output in (output_path, options.html):
        if output is not None:
            refuse_overwriting_inputs(output, [input_path])
    errors = errors_path(output_path)
    check_writable(output_path, sidecar_path(output_path), errors, options.html)
    fingerprint = input_fingerprint(input_path)  # the input is there and readable
    with OutputLock(output_path):
        nlp, stsn = load_pipeline(model, options.gpu_id, options.precision)
        if options.max_length is not None:
            nlp.max_length = options.max_length
        run = {"input": fingerprint, "model": model_identity(model)}
        run["options"] = _recorded(input_path, options)
        inputs = _reader(nlp, input_path, options)
        recorded = recorded_lines(errors) if not options.restart else {}
        writer = _writer(
            input_path, output_path, stsn.spans_key, options, inputs, recorded
        )
        done = 0
        if not options.restart:
            done = check_resume(
                output_path, input_path, run, writer, inputs(0), recorded
            )
        write_sidecar(output_path, run)
        log = ErrorLog(errors, {n: r for n, r in recorded.items() if n <= done})
        how = RunOptions(
            input_path,
            output_path,
            options.batch_size,
            options.n_process,
            options.on_error,
            options.progress,
        )
        if options.html is None:
            return write_outcomes(nlp, inputs(done), writer, log, how, done)
        # the first documents this run writes, rendered at its end
        first = FirstDocs(writer, options.html_docs)
        written = write_outcomes(nlp, inputs(done), first, log, how, done)
        first.render(options.html, stsn.spans_key)
        return written


def _recorded(input_path: Path, options: ExtractOptions) -> Dict[str, Any]:
    """The options a resume must match, as the output's sidecar records them."""
    return {
        "format": input_format(input_path, options.fmt),
        "text_key": options.text_key,
        "tags": options.tags,
        "output_format": options.output,
        "precision": options.precision,
    }


def _reader(
    nlp: Language, input_path: Path, options: ExtractOptions
) -> Callable[[int], Numbered]:
    """``inputs(skip)``: the input's numbered lines after the first ``skip``."""
    # brat output writes no passthrough field, so none can collide with a prediction
    jsonl = options.output == "jsonl"
    return partial(
        read_numbered,
        input_path,
        input_format(input_path, options.fmt),
        options.text_key,
        max_length=nlp.max_length,
        reserved=prediction_fields(options.tags) if jsonl else (),
    )


def _writer(
    input_path: Path,
    output_path: Path,
    spans_key: str,
    options: ExtractOptions,
    inputs: Callable[[int], Numbered],
    recorded: Dict[int, str],
) -> Writer:
    """The output's writer; brat's reads the documents already written from the input
    (``recorded``: the lines an earlier run skipped)."""
    resume = not options.restart
    if options.output == "brat":
        existing = raising(inputs(0)) if resume else None
        return BratWriter(output_path, input_path, spans_key, existing, recorded)
    return JsonlWriter(output_path, spans_key, options.tags, resume, options.text_key)
