"""One writer per output, and a resume that continues only its own run: ``extract``
processes started as a user would (tests/doubles.py slows the quick pipeline down so
that they overlap), killed and interrupted."""

import json
import signal
import socket
import subprocess
import time

from doubles import start
from test_extract import _lines, _rounded

from spacy_stsn.cli.main import main
from spacy_stsn.extraction.extract import extract

TEXTS = [f"John Smith lives in Boston number {i} ." for i in range(24)]


def _input(tmp_path):
    source = tmp_path / "in.txt"
    source.write_text("\n".join(TEXTS) + "\n")
    return source


def _wait_for_lines(path, n, process, timeout=120):
    """Wait until ``path`` holds ``n`` complete lines (the run is under way)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().count("\n") >= n:
            return
        assert process.poll() is None, "the run ended before it was under way"
        time.sleep(0.1)
    raise AssertionError(f"{path} did not reach {n} lines")


def _reference(model_dir, source, tmp_path):
    """The records of an uninterrupted run, rounded (a resumed run batches other
    documents together: the scores may differ in their last bits)."""
    out = tmp_path / "reference.jsonl"
    extract(str(model_dir), source, out, batch_size=2, progress=None)
    return _rounded(_lines(out))


def test_a_second_run_is_refused_naming_the_first_and_a_killed_runs_lock_blocks_nothing(
    doubled_pipeline, tmp_path, capsys
):
    source, out = _input(tmp_path), tmp_path / "out.jsonl"
    argv = ["extract", doubled_pipeline, source, "-o", out, "--batch-size", "2"]
    first = start(argv, seconds_per_doc=0.5, stderr=subprocess.DEVNULL)
    try:
        _wait_for_lines(out, 2, first)
        lock = json.loads((tmp_path / "out.jsonl.lock").read_text())
        assert lock["pid"] == first.pid
        # a second run, resuming or starting over, from another process: refused at
        # once, naming the first
        second = start(argv + ["--restart"], stderr=subprocess.PIPE)
        _, stderr = second.communicate(timeout=120)
        assert second.returncode == 1
        assert (
            f"another extract (pid {first.pid} on {socket.gethostname()}, started "
            f"{lock['started']}) is writing this output" in stderr
        )
        for extra in ([], ["--ray"]):  # and from this one, --ray too
            assert main([*map(str, argv), *extra]) == 1
            assert f"(pid {first.pid} on" in capsys.readouterr().err
        assert first.poll() is None
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    # killed: its lock file stays, but no process holds it
    assert (tmp_path / "out.jsonl.lock").exists()
    assert main([*map(str, argv)]) == 0
    assert not (tmp_path / "out.jsonl.lock").exists()
    reference = _reference(doubled_pipeline, source, tmp_path)
    assert _rounded(_lines(out)) == reference


def test_ctrl_c_stops_with_one_line_and_exit_code_130_and_the_rerun_resumes(
    doubled_pipeline, tmp_path
):
    source, out = _input(tmp_path), tmp_path / "out.jsonl"
    argv = ["extract", doubled_pipeline, source, "-o", out, "--batch-size", "2"]
    run = start(argv, seconds_per_doc=0.3, stderr=subprocess.PIPE)
    _wait_for_lines(out, 4, run)
    run.send_signal(signal.SIGINT)
    _, stderr = run.communicate(timeout=120)
    assert run.returncode == 130, stderr
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("stopped (Ctrl-C) after line ") and last.endswith(
        "; run the same command again to resume"
    )
    assert "Traceback" not in stderr
    assert not (tmp_path / "out.jsonl.lock").exists()
    stopped = int(last.split("after line ")[1].split()[0])
    assert len(_lines(out)) == stopped < len(TEXTS)
    assert main([*map(str, argv)]) == 0
    assert _rounded(_lines(out)) == _reference(doubled_pipeline, source, tmp_path)


def test_an_interleaved_or_duplicated_output_is_refused_not_resumed(
    quick_pipeline, tmp_path, capsys
):
    """As two runs onto one output left it before the lock: every document twice,
    interleaved, or one run's after the other's; and an output longer than its
    input."""
    model_dir, _ = quick_pipeline
    source, out = _input(tmp_path), tmp_path / "out.jsonl"
    source.write_text("\n".join(TEXTS[:4]) + "\n")
    argv = ["extract", str(model_dir), str(source), "-o", str(out)]
    assert main(argv) == 0
    lines = out.read_text().splitlines(keepends=True)
    cases = {
        "interleaved": (
            [line for line in lines for _ in (0, 1)],
            r"out.jsonl:2 has 'John Smith lives in Boston number 0 .' where "
            f"{source}:2 has 'John Smith lives in Boston number 1 .'",
        ),
        "one after the other": (
            lines + lines,
            f"out.jsonl:5 has 'John Smith lives in Boston number 0 .', past the end "
            f"of {source}",
        ),
    }
    for name, (content, message) in cases.items():
        out.write_text("".join(content))
        capsys.readouterr()
        assert main(argv) == 1, name
        err = capsys.readouterr().err
        assert message in err and f"holds {len(content)} documents" in err, err
        assert "--restart" in err and out.read_text() == "".join(content)
