"""The page of `fakespeech serve` in a real browser: Debian's headless chromium, driven by selenium + chromedriver.

Needs `apt-get install chromium chromium-driver` and the dev and serve extras (the README's test command installs
them). `FAKESPEECH_SCREENSHOT=docs/serve.png` saves a screenshot of the scored page there.
"""

import os
import shutil
import tempfile

import pytest

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (the dev extra)")
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

pytestmark = pytest.mark.slow

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
# The network is closed here and must stay unused: no sandbox (root in a container), no background services.
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--window-size=1100,1400",
                  # a fake microphone (a beep) that needs no permission prompt, for the record button
                  "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream")
SCORE_TIMEOUT = 180  # seconds: the first upload traces the model


@pytest.fixture(scope="module")
def browser():
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        pytest.skip(f"{CHROMIUM} or {CHROMEDRIVER} missing: apt-get install chromium chromium-driver")
    profile = tempfile.mkdtemp(prefix="fakespeech-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS + (f"--user-data-dir={profile}",):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


def _open(browser, url):
    browser.get(url)
    WebDriverWait(browser, 30).until(
        expected_conditions.text_to_be_present_in_element((By.ID, "model-name"), "aasist_asvspoof2019_la"))


def _upload(browser, path):
    browser.find_element(By.ID, "file-input").send_keys(path)


def _wait_for_verdict(browser, file_name):
    WebDriverWait(browser, SCORE_TIMEOUT).until(
        expected_conditions.text_to_be_present_in_element((By.ID, "file-name"), file_name))
    assert browser.find_element(By.ID, "result").is_displayed()


def _plot_pixels(browser):
    """Counts of the plot's pixels in the colours of bona fide windows, spoof windows and the waveform."""
    return browser.execute_script("""
        const canvas = document.getElementById("timeline");
        const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
        const counts = {bonafide: 0, spoof: 0, wave: 0};
        for (let i = 0; i < data.length; i += 4) {
            const rgb = [data[i], data[i + 1], data[i + 2]].join();
            if (rgb === "32,112,64") counts.bonafide++;
            else if (rgb === "192,48,48") counts.spoof++;
            else if (rgb === "187,187,187") counts.wave++;
        }
        return counts;""")


def test_uploaded_flac_shows_verdict_probability_plot_and_card(browser, served, flac):
    url, detector, _ = served
    path, _ = flac
    (expected,) = detector.predict([path])
    _open(browser, url)
    assert "Known limits" in browser.find_element(By.ID, "card").text
    _upload(browser, path)
    _wait_for_verdict(browser, "clip.flac")
    verdict = browser.find_element(By.ID, "verdict").text
    assert verdict == {"spoof": "spoof", "bonafide": "bona fide"}[expected["decision"]]
    assert browser.find_element(By.ID, "p-spoof").text == f"{expected['p_spoof']:.4f}"
    assert browser.find_element(By.ID, "timeline").get_attribute("data-windows") == str(expected["windows"])
    pixels = _plot_pixels(browser)
    window_colour = "bonafide" if expected["decision"] == "bonafide" else "spoof"
    assert pixels[window_colour] > 100 and pixels["wave"] > 100, pixels
    if os.environ.get("FAKESPEECH_SCREENSHOT"):
        browser.save_screenshot(os.environ["FAKESPEECH_SCREENSHOT"])


@pytest.mark.parametrize("name, content, message", [
    ("notes.txt", b"not audio at all\n", "not an audio file"),
    ("empty.wav", b"", "empty"),
    ("broken.flac", b"fLaC" + bytes(2000), "could not decode"),
], ids=["text", "empty", "broken_flac"])
def test_bad_files_show_a_message_on_the_page(browser, served, tmp_path, name, content, message):
    url, *_ = served
    _open(browser, url)
    bad = tmp_path / name
    bad.write_bytes(content)
    _upload(browser, str(bad))
    WebDriverWait(browser, 60).until(expected_conditions.visibility_of_element_located((By.ID, "error")))
    assert message in browser.find_element(By.ID, "error").text


def test_file_above_the_limit_shows_a_message(browser, served, tmp_path):
    url, _, limit = served
    _open(browser, url)
    big = tmp_path / "big.wav"
    big.write_bytes(b"RIFF" + bytes(limit + 1))
    _upload(browser, str(big))
    WebDriverWait(browser, 60).until(expected_conditions.visibility_of_element_located((By.ID, "error")))
    assert "above the upload limit" in browser.find_element(By.ID, "error").text


def test_recording_from_the_microphone_is_scored(browser, served):
    url, *_ = served
    _open(browser, url)
    record = browser.find_element(By.ID, "record")
    record.click()
    WebDriverWait(browser, 30).until(expected_conditions.text_to_be_present_in_element((By.ID, "status"), "Recording"))
    browser.execute_script("return new Promise((done) => setTimeout(done, 1500));")  # 1.5 s of the fake microphone
    record.click()
    _wait_for_verdict(browser, "recording.wav")
    assert browser.find_element(By.ID, "verdict").text in ("spoof", "bona fide")
