"""Miniature copies of the other corpora's download layouts (FoR, DEEP-VOICE, WaveFake + LJSpeech, In-the-Wild,
class folders and a labels CSV), with the audio of `speech` and the spoofing processings of `attacks`.

Each generator writes the exact folder and file names of its corpus at tiny sizes and returns the folder a user
would pass as `--data`. The same seed writes the same bytes.
"""

import csv
import io
import os
import pathlib
import zlib

import numpy as np
import soundfile as sf

from tfrecord_builder.synthetic import attacks, speech
from tfrecord_builder.synthetic.layout import write_text

SECONDS = (0.3, 0.6)
FOR_SPLIT_FOLDERS = {"train": "training", "dev": "validation", "eval": "testing"}
DEEP_VOICE_SPEAKERS = ("biden", "linus", "musk", "obama", "trump")
WAVEFAKE_VOCODERS = {"ljspeech_melgan": "A01", "ljspeech_hifiGAN": "A05", "ljspeech_waveglow": "A06"}
IN_THE_WILD_SPEAKERS = {"Alan Watts": (3, 3), "Barack Obama": (2, 3), "Donald Trump": (2, 2),
                        "Greta Thunberg": (1, 2), "Joe Biden": (2, 2), "Taylor Swift": (1, 2)}
DEEP_VOICE_FEATURES = ("chroma_stft", "rms", "spectral_centroid", "spectral_bandwidth", "rolloff",
                       "zero_crossing_rate") + tuple(f"mfcc{i}" for i in range(1, 21))


def render(rng, voice, attack, sample_rate, seconds=SECONDS):
    """One utterance as int16: bona fide speech of `voice`, or (with an LA `attack` id) its synthetic version."""
    n_samples = int(round(rng.uniform(*seconds) * sample_rate))
    if attack is None:
        x = speech.synthesize(rng, voice, n_samples, sample_rate)
    else:
        x = speech.synthesize(rng, attacks.synthetic_voice(voice), n_samples, sample_rate)
        x = attacks.vocoder_band_edge(attacks.apply_la_attack(attack, x, rng, sample_rate), rng, sample_rate)
    x = x * (rng.uniform(0.25, 0.9) / max(np.max(np.abs(x)), 1e-9))  # loudness says nothing about the label
    return np.clip(np.round(x * 32767.0), -32768, 32767).astype(np.int16)


def write_wav(path, samples, sample_rate):
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp.wav")
    sf.write(tmp, samples, sample_rate, subtype="PCM_16")
    os.replace(tmp, path)


def _csv_text(rows):
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue()


def _voice(seed, name):
    """The same talker for the same name: Python's `hash` of a str changes per process, crc32 does not."""
    return speech.make_voice(np.random.default_rng([seed, zlib.crc32(name.encode("utf-8"))]))


def generate_for(out_dir, version="for-norm", counts=None, seed=0, sample_rate=16000):
    """FoR: `OUT/<version>/{training,validation,testing}/{real,fake}/file<N>.wav`; returns `OUT/<version>`.

    Args:
        counts: split -> (n_real, n_fake); default 4/4 train, 2/2 dev and eval.
    """
    counts = counts or {"train": (4, 4), "dev": (2, 2), "eval": (2, 2)}
    root = pathlib.Path(out_dir) / version
    rng = np.random.default_rng([seed, 1])
    number = 0
    for split, (n_real, n_fake) in counts.items():
        for label, n, attack_ids in (("real", n_real, None), ("fake", n_fake, ("A01", "A03", "A05"))):
            for i in range(n):
                number += 1
                attack = attack_ids[i % len(attack_ids)] if attack_ids else None
                samples = render(rng, speech.make_voice(rng), attack, sample_rate)
                write_wav(root / FOR_SPLIT_FOLDERS[split] / label / f"file{number}.wav", samples, sample_rate)
    return root


def generate_deep_voice(out_dir, speakers=DEEP_VOICE_SPEAKERS, seed=0, sample_rate=16000, feature_rows=120):
    """DEEP-VOICE: `OUT/KAGGLE/AUDIO/REAL/<s>-original.wav`, `.../FAKE/<a>-to-<b>.wav` for every ordered pair, and
    `OUT/KAGGLE/DATASET-balanced.csv`; returns `OUT`."""
    kaggle = pathlib.Path(out_dir) / "KAGGLE"
    rng = np.random.default_rng([seed, 2])
    for speaker in speakers:
        write_wav(kaggle / "AUDIO" / "REAL" / f"{speaker}-original.wav",
                  render(rng, _voice(seed, speaker), None, sample_rate), sample_rate)
        for source in speakers:
            if source != speaker:
                # The converted voice is the target's; A05 (spectral warp) stands in for the RVC conversion.
                write_wav(kaggle / "AUDIO" / "FAKE" / f"{source}-to-{speaker}.wav",
                          render(rng, _voice(seed, speaker), "A05", sample_rate), sample_rate)
    write_deep_voice_features(kaggle / "DATASET-balanced.csv", feature_rows, seed)
    return pathlib.Path(out_dir)


def deep_voice_feature_table(n_rows, seed=0):
    """`(columns, rows)`: the DEEP-VOICE feature table, half REAL and half FAKE, with plausible values.

    Values follow the ranges librosa gives for 1 s windows of 16 kHz speech; FAKE rows have a lower roll-off,
    centroid and zero-crossing rate (the vocoder's missing top band) and shifted MFCCs, about one standard
    deviation apart, so a small DNN learns them.
    """
    rng = np.random.default_rng([seed, 6])
    mean = np.array([0.40, 0.05, 2400.0, 2300.0, 4600.0, 0.08, -250.0, 100.0] + [10.0 / k for k in range(3, 21)])
    std = np.array([0.05, 0.02, 350.0, 250.0, 700.0, 0.02, 60.0, 20.0] + [6.0] * 18)
    shift = np.zeros_like(mean)
    shift[[2, 4, 5]] = -1.0
    shift[6:] = rng.choice([-0.8, 0.8], size=20)
    labels = np.array(["REAL", "FAKE"] * (n_rows // 2) + ["REAL"] * (n_rows % 2))
    values = mean + std * (rng.standard_normal((n_rows, len(mean))) + np.outer(labels == "FAKE", shift))
    values[:, [0, 1, 5]] = np.abs(values[:, [0, 1, 5]])
    rows = [[f"{v:.6g}" for v in row] + [label] for row, label in zip(values, labels)]
    return list(DEEP_VOICE_FEATURES) + ["LABEL"], rows


def write_deep_voice_features(path, n_rows=120, seed=0):
    columns, rows = deep_voice_feature_table(n_rows, seed)
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text(path, _csv_text([columns] + rows))
    return path


def generate_wavefake(out_dir, chapters=4, per_chapter=2, vocoders=WAVEFAKE_VOCODERS, seed=0, sample_rate=22050):
    """WaveFake + LJSpeech: `OUT/LJSpeech-1.1/{wavs/LJccc-nnnn.wav,metadata.csv}` and
    `OUT/generated_audio/<vocoder>/LJccc-nnnn_gen.wav`, all in one voice at LJSpeech's 22050 Hz; returns `OUT`."""
    root = pathlib.Path(out_dir)
    rng = np.random.default_rng([seed, 3])
    voice = speech.make_voice(rng)  # LJSpeech has a single speaker
    metadata = []
    for chapter in range(1, chapters + 1):
        for number in range(1, per_chapter + 1):
            utt = f"LJ{chapter:03d}-{number:04d}"
            metadata.append(f"{utt}|Sentence {number} of chapter {chapter}.|sentence {number} of chapter {chapter}.")
            write_wav(root / "LJSpeech-1.1" / "wavs" / f"{utt}.wav", render(rng, voice, None, sample_rate), sample_rate)
            for folder, attack in vocoders.items():
                write_wav(root / "generated_audio" / folder / f"{utt}_gen.wav", render(rng, voice, attack, sample_rate),
                          sample_rate)
    write_text(root / "LJSpeech-1.1" / "metadata.csv", "\n".join(metadata) + "\n")
    return root


def generate_in_the_wild(out_dir, speakers=None, seed=0, sample_rate=16000):
    """In-the-Wild: `OUT/release_in_the_wild/<n>.wav` and `meta.csv` (`file,speaker,label`); returns `OUT`.

    Args:
        speakers: name -> (n_bona_fide, n_spoof); default `IN_THE_WILD_SPEAKERS`.
    """
    folder = pathlib.Path(out_dir) / "release_in_the_wild"
    rng = np.random.default_rng([seed, 4])
    rows, number = [["file", "speaker", "label"]], 0
    for name, (n_bonafide, n_spoof) in (speakers or IN_THE_WILD_SPEAKERS).items():
        voice = _voice(seed, name)
        for label, n in (("bona-fide", n_bonafide), ("spoof", n_spoof)):
            for i in range(n):
                attack = None if label == "bona-fide" else ("A01", "A05", "A06")[i % 3]
                write_wav(folder / f"{number}.wav", render(rng, voice, attack, sample_rate), sample_rate)
                rows.append([f"{number}.wav", name, label])
                number += 1
    write_text(folder / "meta.csv", _csv_text(rows))
    return pathlib.Path(out_dir)


def generate_class_folders(out_dir, n_real=4, fakes=None, seed=0, sample_rate=16000):
    """Class folders: `OUT/real/r<n>.wav` and `OUT/fake/<system>/f<n>.wav`; returns `OUT`.

    Args:
        fakes: system folder -> number of files; default `{"melgan": 3, "vits": 3}`.
    """
    root = pathlib.Path(out_dir)
    rng = np.random.default_rng([seed, 5])
    for i in range(n_real):
        write_wav(root / "real" / f"r{i}.wav", render(rng, speech.make_voice(rng), None, sample_rate), sample_rate)
    for system, n in (fakes or {"melgan": 3, "vits": 3}).items():
        for i in range(n):
            write_wav(root / "fake" / system / f"f{i}.wav", render(rng, speech.make_voice(rng), "A01", sample_rate),
                      sample_rate)
    return root


def generate_labels_csv(out_dir, groups=None, seed=0, sample_rate=16000):
    """A `path,label,group` CSV (`OUT/labels.csv`, with a header) over `OUT/audio/<group>_<n>.wav`; returns the CSV.

    Args:
        groups: group -> (n_bonafide, n_spoof); default six speakers with 1-2 of each.
    """
    root = pathlib.Path(out_dir)
    rng = np.random.default_rng([seed, 7])
    groups = groups or {f"spk{g}": (1 + g % 2, 2) for g in range(6)}
    rows = [["path", "label", "group"]]
    for group, (n_bonafide, n_spoof) in groups.items():
        voice = _voice(seed, group)
        for label, n in (("bonafide", n_bonafide), ("spoof", n_spoof)):
            for i in range(n):
                relative = f"audio/{group}_{label}_{i}.wav"
                write_wav(root / relative, render(rng, voice, None if label == "bonafide" else "A03", sample_rate),
                          sample_rate)
                rows.append([relative, label, group])
    write_text(root / "labels.csv", _csv_text(rows))
    return root / "labels.csv"
