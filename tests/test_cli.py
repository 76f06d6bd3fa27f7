"""The `fakespeech` console command: every subcommand is listed and answers --help; unknown ones are refused."""

import pytest

from pipelines.cli import COMMANDS, main


def test_help_lists_every_subcommand(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for name in COMMANDS:
        assert name in out


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_each_subcommand_has_help(name, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([name, "--help"])
    assert exit_info.value.code == 0
    assert f"fakespeech {name}" in capsys.readouterr().out


def test_unknown_subcommand_is_refused_by_name(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["trian"])
    assert exit_info.value.code == 2
    assert "trian" in capsys.readouterr().err
