"""Progress on long work: shown on a terminal, silent in a log (and with --json)."""

from __future__ import annotations

import io
import sys

from validation import run


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _fake(monkeypatch, stream):
    monkeypatch.setattr(sys, "stderr", stream)
    monkeypatch.setattr(run, "measure", lambda case: {"label": case.label, "errors": {"total": 0.01},
                                                      "seconds": 0.1, "case": {}})
    monkeypatch.setattr(run, "violations", lambda row: [])
    monkeypatch.setattr(run, "summarize", lambda rows: {})


def test_validation_run_shows_progress_on_a_terminal(monkeypatch, capsys):
    terminal = Terminal()
    _fake(monkeypatch, terminal)
    assert run.main(["--fast", "--no-write"]) == 0
    text = terminal.getvalue()
    n = len(run.FAST)
    assert f"[{n}/{n}]" in text and "measuring " in text and "done in" in text


def test_validation_run_is_quiet_in_a_log_and_with_quiet(monkeypatch):
    log = io.StringIO()
    _fake(monkeypatch, log)
    assert run.main(["--fast", "--no-write"]) == 0
    assert log.getvalue() == ""
    terminal = Terminal()
    _fake(monkeypatch, terminal)
    assert run.main(["--fast", "--no-write", "--quiet"]) == 0
    assert terminal.getvalue() == ""


def test_measure_progress_only_when_enabled():
    from llmsize.commands.measure import Progress

    terminal = Terminal()
    sys_stderr, sys.stderr = sys.stderr, terminal
    try:
        on, off = Progress(2, enabled=True), Progress(2, enabled=False)
        for p in (on, off):
            p("step")
            p.finish()
    finally:
        sys.stderr = sys_stderr
    assert terminal.getvalue().count("[1/2] step") == 1
