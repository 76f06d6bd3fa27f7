"""`POST /api/score` of `fakespeech serve` over real HTTP on the loopback interface: answers and rejections."""

import json
import urllib.error
import urllib.request
import uuid

import numpy as np
import pytest
import soundfile as sf

from pipelines.commands.predict import main as predict_main

pytestmark = pytest.mark.slow  # builds the shipped AASIST once per session (about 10 s)


def _post(url, body, content_type):
    request = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def _multipart(field, filename, data):
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{filename}\"\r\n"
            "Content-Type: application/octet-stream\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def test_multipart_upload_answers_what_predict_json_prints(served, flac, capsys):
    url, *_ = served
    path, data = flac
    status, answer = _post(f"{url}/api/score", *_multipart("file", "clip.flac", data))
    assert predict_main([path, "--format", "json", "--quiet"]) == 0
    printed = json.loads(capsys.readouterr().out)
    printed["results"][0]["path"] = "clip.flac"  # the API names the upload, predict the path it was given
    assert status == 200
    assert answer.keys() == printed.keys() and answer["results"][0].keys() == printed["results"][0].keys()
    assert {k: v for k, v in answer.items() if k != "results"} == {k: v for k, v in printed.items() if k != "results"}
    for key, value in printed["results"][0].items():
        assert answer["results"][0][key] == (pytest.approx(value, abs=1e-5) if isinstance(value, float) else value)


def test_raw_body_upload_with_timeline_and_waveform(served, flac):
    url, *_ = served
    status, answer = _post(f"{url}/api/score?timeline=1&waveform=100&filename=x.flac", flac[1], "audio/flac")
    (result,) = answer["results"]
    assert status == 200 and result["path"] == "x.flac"
    assert [w["start"] for w in result["timeline"]] == [0.0, 64600 / 16000]
    assert result["score"] == pytest.approx(np.mean([w["score"] for w in result["timeline"]]), abs=1e-9)
    audio, _ = sf.read(flac[0], dtype="int16")
    columns = np.array_split(audio.astype(np.float64) / 32768, 100)
    np.testing.assert_allclose(result["waveform"]["max"], [c.max() for c in columns], atol=1e-4)


def test_upload_above_the_limit_is_413_and_the_server_keeps_serving(served):
    url, _, limit = served
    status, answer = _post(f"{url}/api/score", b"RIFF" + bytes(limit), "audio/wav")
    assert status == 413 and "limit" in answer["error"]
    with urllib.request.urlopen(f"{url}/api/model", timeout=30) as response:
        assert response.status == 200 and json.loads(response.read())["model"] == "aasist_asvspoof2019_la"


@pytest.mark.parametrize("body, status, words", [
    (b"", 400, "empty"),
    (b"hello, this is a text file\n" * 20, 415, "not an audio file"),
    (b"\x89PNG\r\n\x1a\n" + bytes(64), 415, "not an audio file"),
    (b"fLaC" + bytes(range(256)) * 4, 422, "could not decode"),
], ids=["empty", "text", "png", "broken_flac"])
def test_bad_uploads_get_a_4xx_with_a_message(served, body, status, words):
    url, *_ = served
    answer_status, answer = _post(f"{url}/api/score", *_multipart("file", "bad.flac", body))
    assert answer_status == status and words in answer["error"]


def test_form_without_a_file_field_is_400(served, flac):
    url, *_ = served
    status, answer = _post(f"{url}/api/score", *_multipart("audio", "clip.flac", flac[1]))
    assert status == 400 and "'file' field" in answer["error"]
