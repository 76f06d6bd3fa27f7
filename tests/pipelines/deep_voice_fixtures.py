"""A miniature DEEP-VOICE corpus at 22050 Hz with files of several seconds, and its feature table made by librosa.

The make-corpus generator (`tfrecord_builder.synthetic.other_corpora.generate_deep_voice`) writes clips of 0.3 to
0.6 s, shorter than the one-second windows the DEEP-VOICE table is made of; this writes the same layout
(`KAGGLE/AUDIO/REAL/<speaker>-original.wav`, `KAGGLE/AUDIO/FAKE/<source>-to-<target>.wav`) with the same
synthesis (`other_corpora.render`) but longer files, so each file gives table rows.

The table follows the DEEP-VOICE definition (pipelines/features/deep_voice.py): the audio as `librosa.load` gives
it at 22050 Hz, consecutive one-second windows (a trailing partial window dropped), and per window the `np.mean` of
each librosa feature computed with its default parameters (mfcc per coefficient). librosa is the reference here:
nothing of ours computes the rows.
"""

import csv
import pathlib
import warnings

import librosa
import numpy as np

from tfrecord_builder.synthetic import other_corpora, speech

SAMPLE_RATE = 22050
SPEAKERS = ("biden", "linus", "musk", "obama")
COLUMNS = ("chroma_stft", "rms", "spectral_centroid", "spectral_bandwidth", "rolloff", "zero_crossing_rate") + tuple(
    f"mfcc{i}" for i in range(1, 21))  # the header of DEEP-VOICE's DATASET-balanced.csv, without LABEL
# The per-column agreement of DeepVoiceFeatures with librosa that tests/pipelines/features/test_deep_voice.py
# asserts (absolute, relative; an element passes when |ours - librosa| <= absolute + relative * |librosa|).
TOLERANCES = {"chroma_stft": (1e-2, 0.0), "rms": (1e-6, 0.0), "spectral_centroid": (1e-3, 1e-5),
              "spectral_bandwidth": (1e-3, 2e-5), "rolloff": (1e-3, 1e-3), "zero_crossing_rate": (1e-6, 0.0),
              **{f"mfcc{i}": (2e-3, 0.0) for i in range(1, 21)}}


def write_corpus(root, seconds=(2.0, 3.2), seed=0, speakers=SPEAKERS):
    """Writes the layout under `root/KAGGLE`; returns `{path: "REAL" | "FAKE"}` of every file written."""
    rng = np.random.default_rng([seed, 17])
    audio = pathlib.Path(root) / "KAGGLE" / "AUDIO"
    labels = {}
    for speaker in speakers:
        voice = speech.make_voice(rng)
        path = audio / "REAL" / f"{speaker}-original.wav"
        other_corpora.write_wav(path, other_corpora.render(rng, voice, None, SAMPLE_RATE, seconds), SAMPLE_RATE)
        labels[path] = "REAL"
        for source in speakers:
            if source != speaker:
                path = audio / "FAKE" / f"{source}-to-{speaker}.wav"
                samples = other_corpora.render(rng, voice, "A05", SAMPLE_RATE, seconds)
                other_corpora.write_wav(path, samples, SAMPLE_RATE)
                labels[path] = "FAKE"
    return labels


def librosa_row(y, sr=SAMPLE_RATE):
    """One DEEP-VOICE row: every feature with librosa's defaults, averaged over the window's frames."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tuning estimate warns on a window without pitch
        frame_features = [librosa.feature.chroma_stft(y=y, sr=sr), librosa.feature.rms(y=y),
                          librosa.feature.spectral_centroid(y=y, sr=sr),
                          librosa.feature.spectral_bandwidth(y=y, sr=sr),
                          librosa.feature.spectral_rolloff(y=y, sr=sr), librosa.feature.zero_crossing_rate(y)]
        mfcc = librosa.feature.mfcc(y=y, sr=sr)
    return np.array([np.mean(f) for f in frame_features] + list(np.mean(mfcc, axis=1)))


def librosa_rows(path):
    """(windows, 26): the rows of one file, from `librosa.load` (mono, 22050 Hz) in whole one-second windows."""
    y, sr = librosa.load(path)
    return np.stack([librosa_row(y[k * sr:(k + 1) * sr], sr) for k in range(len(y) // sr)])


def write_table(path, labels):
    """Writes the table of the files in `labels` (file order: sorted paths); returns `{file: rows}` as computed."""
    rows = {file: librosa_rows(file) for file in sorted(labels)}
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(COLUMNS + ("LABEL",))
        for file, table in rows.items():
            writer.writerows([repr(float(v)) for v in row] + [labels[file]] for row in table)
    return rows
