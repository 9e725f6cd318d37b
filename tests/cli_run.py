"""Run the CLI in-process for the tests: exit code, stdout and stderr; or parsed ``--json``."""

from __future__ import annotations

import json

from llmsize.cli import main


def run(capsys, *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as e:  # argparse's own errors exit
        code = e.code
    out, err = capsys.readouterr()
    return code, out, err


def cli_json(capsys, *argv: str) -> dict:
    code, out, err = run(capsys, *argv, "--json")
    assert code == 0, err
    return json.loads(out)
