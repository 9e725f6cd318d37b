"""Start-up: ``main`` builds only the parser the command line needs, and ``params`` imports only
what it uses; what a user sees (help, errors) is the same as with every subcommand built."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from llmsize.cli import SUBCOMMANDS, _terminal_columns, build_parser, main


def _subparser(parser, name):
    (action,) = [a for a in parser._actions if a.dest == "command"]
    return action.choices[name]


def _help(argv, capsys) -> str:
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 0
    return capsys.readouterr().out


def test_top_level_help_lists_every_subcommand(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "100")
    out = _help(["--help"], capsys)
    assert out == build_parser().format_help()  # the parser with every subcommand's flags
    for name, (help_line, _) in SUBCOMMANDS.items():
        assert any(line.split() == [name, *help_line.split()] for line in out.splitlines()), name


@pytest.mark.parametrize("name", list(SUBCOMMANDS))
def test_each_subcommand_help_is_the_full_parsers(name, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "100")
    assert _help([name, "--help"], capsys) == _subparser(build_parser(), name).format_help()


@pytest.mark.parametrize("argv", [["--bogus"], ["params", "gpt2", "--bogus"], ["gpt2", "--bogus"],
                                  ["train", "gpt2", "--bogus"]])
def test_an_unknown_option_names_itself(argv, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unrecognized arguments: --bogus" in err, err


@pytest.mark.parametrize("columns", [None, "100", "37", "0", "-5", "wide"])
def test_help_width_is_shutils(columns, monkeypatch):
    if columns is None:
        monkeypatch.delenv("COLUMNS", raising=False)
    else:
        monkeypatch.setenv("COLUMNS", columns)
    monkeypatch.delenv("LINES", raising=False)
    assert _terminal_columns() == shutil.get_terminal_size().columns


def test_params_imports_only_what_it_uses():
    code = ("import sys; from llmsize.cli import main; main(['params', 'llama-3.1-8b']); "
            "print(' '.join(sorted(sys.modules)))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    loaded = set(proc.stdout.splitlines()[-1].split())
    unneeded = {"shutil", "difflib", "typing", "llmsize.layout", "llmsize.inference", "llmsize.training",
                "llmsize.formats", "llmsize.commands.train", "llmsize.sources.checkpoint", "llmsize.seed"}
    assert not unneeded & loaded, unneeded & loaded
