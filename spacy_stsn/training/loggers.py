"""``spacy_stsn.ProgressLogger.v1``: a spaCy training logger that writes the dev curve
(``curve.jsonl`` and ``curve.png``, see :mod:`spacy_stsn.training.curve`) beside the
trained pipelines at each evaluation, and hands every step on to the logger it wraps
(spaCy's console table by default; spacy-loggers' W&B or MLflow logger, or its chain of
several, just as well).

Where the curve goes: spaCy's loop tells its logger nothing about ``--output`` at the
start, but at each evaluation, once the checkpoint is saved, it puts
``OUTPUT/model-last`` in ``info["output_path"]`` (the key spacy-loggers' W&B logger
uploads its model artifacts from). Its parent directory is where ``spacy train
--output`` writes, whatever command or script called it, with no variable in the config
to keep in step. ``output_dir`` overrides it, and is the way to a curve when training
through the Python API without an output path; with neither, nothing is written and the
logger says so at the end.
"""

import sys
from pathlib import Path
from typing import IO, Any, Callable, Dict, List, Optional, Tuple, Union

from spacy import Language
from spacy.training.loggers import console_logger_v3
from spacy.util import ensure_path
from wasabi import Printer

from .curve import (
    JSONL,
    PNG,
    PNG_NEEDS_MATPLOTLIB,
    append_record,
    draw_curve,
    evaluation_record,
    matplotlib_missing,
)

LogStep = Callable[[Optional[Dict[str, Any]]], None]
LoggerT = Callable[[Language, IO, IO], Tuple[LogStep, Callable[[], None]]]


def curve_directory(
    output_dir: Optional[Path], info: Dict[str, Any]
) -> Optional[Path]:
    """Where an evaluation's curve goes: ``output_dir`` if set, else the directory
    ``spacy train --output`` writes to (the parent of ``info["output_path"]``), else
    ``None``."""
    if output_dir is not None:
        return output_dir
    if info.get("output_path"):
        return Path(info["output_path"]).parent
    return None


def progress_logger_v1(
    logger: Optional[LoggerT] = None,
    output_dir: Optional[Union[str, Path]] = None,
) -> LoggerT:
    """Write the dev curve as training goes, around another logger.

    logger: the logger whose output stays as it was, called first at every step
        (default: spaCy's ConsoleLogger.v3, the table ``spacy train`` prints)
    output_dir: the directory for curve.jsonl and curve.png (default: ``spacy train
        --output``'s, learned from the loop at the first evaluation)
    RETURNS: spaCy's logger interface, ``(nlp, stdout, stderr) -> (log_step,
        finalize)``
    """
    wrapped = logger if logger is not None else console_logger_v3()
    fixed_dir = ensure_path(output_dir) if output_dir else None

    def setup_logger(
        nlp: Language, stdout: IO = sys.stdout, stderr: IO = sys.stderr
    ) -> Tuple[LogStep, Callable[[], None]]:
        msg = Printer(no_print=True)

        def write(text: str) -> None:
            print(text, file=stdout, flush=True)

        draw = not matplotlib_missing()
        where = fixed_dir or "the output directory"
        files = f"{PNG} and {JSONL}" if draw else JSONL
        write(msg.info(f"Writing the dev curve to {where}: {files}"))
        if not draw:
            write(msg.warn(f"{PNG_NEEDS_MATPLOTLIB}: writing {JSONL} only"))
        log_wrapped, finalize_wrapped = wrapped(nlp, stdout, stderr)
        records: List[Dict[str, Any]] = []
        written: Optional[Path] = None  # the file last written, None before

        def log_step(info: Optional[Dict[str, Any]]) -> None:
            nonlocal written
            log_wrapped(info)
            if info is None:  # a step without an evaluation
                return
            previous = records[-1]["step"] if records else -1
            records.append(evaluation_record(info, previous))
            directory = curve_directory(fixed_dir, info)
            if directory is None:
                return
            # a run's first evaluation starts the curve anew, as spaCy replaces
            # model-last and model-best
            append_record(directory, records[-1], fresh=written is None)
            written = directory / JSONL
            if draw:
                written = draw_curve(records, directory, str(directory))

        def finalize() -> None:
            finalize_wrapped()
            if written is not None:
                write(msg.good(f"Dev curve: {written}"))
            elif records:
                write(
                    msg.warn(
                        "No dev curve written: no `spacy train --output` and no "
                        "output_dir in [training.logger]"
                    )
                )

        return log_step, finalize

    return setup_logger
