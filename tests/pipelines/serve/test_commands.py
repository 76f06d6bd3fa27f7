"""`fakespeech predict --help` names the default detector; `serve` and `predict` refuse bad flags before any model
is built."""

import pytest

from models.pretrained import DEFAULT_PRETRAINED
from pipelines.commands.predict import main as predict_main
from pipelines.commands.serve import main as serve_main


def test_predict_help_names_the_default_shipped_model_and_the_stream_format(capsys):
    with pytest.raises(SystemExit) as exit_:
        predict_main(["--help"])
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    assert exit_.value.code == 0
    assert f"the shipped AASIST ({DEFAULT_PRETRAINED}" in text
    assert "--rate" in text and "--sample-format {s16le,s32le,f32le}" in text and "--channels" in text


@pytest.mark.parametrize("argv, words", [
    (["--port", "70000"], "--port"),
    (["--max-upload-mb", "0"], "--max-upload-mb"),
])
def test_serve_refuses_bad_flags_with_exit_2(capsys, argv, words):
    assert serve_main(argv) == 2
    assert words in capsys.readouterr().err


@pytest.mark.parametrize("argv, words", [
    (["clip.wav", "--stream", "-"], "not both"),
    (["--stream", "-", "--output", "out.txt"], "redirect standard output"),
    (["--stream", "/no/such/fifo"], "no such file or FIFO"),
    (["clip.wav", "--calibration", "/no/such/calibration.json"], "--calibration"),
])
def test_predict_refuses_inconsistent_flags_with_exit_2(capsys, argv, words):
    assert predict_main(argv) == 2
    assert words in capsys.readouterr().err
