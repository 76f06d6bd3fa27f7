"""Banks of recorded audio read from a user's folder (impulse responses, noise such as MUSAN) for augment layers.

Files are found recursively and taken in sorted path order, so the same folder always gives the same bank; each is
decoded with soundfile, averaged to mono, resampled to the layer's rate with `scipy.signal.resample_poly` and cut to
`max_seconds`; at most `max_files` decodable files are kept. A folder that is missing, holds no audio file, or
none that decodes is a ValueError naming the layer argument and the path, raised when the layer is built.
"""

import math
import pathlib
import warnings

import numpy as np
import scipy.signal
import soundfile as sf

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff", ".au", ".caf", ".w64")


def _audio_files(folder, argument):
    if not folder:
        raise ValueError(f"{argument}: a folder of audio files is required, got {folder!r}")
    path = pathlib.Path(folder).expanduser()
    if not path.exists():
        raise ValueError(f"{argument}: folder {folder} does not exist")
    if not path.is_dir():
        raise ValueError(f"{argument}: {folder} is not a folder")
    files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES
                   and not p.name.startswith("."))
    if not files:
        raise ValueError(f"{argument}: folder {folder} holds no audio files ({', '.join(AUDIO_SUFFIXES)})")
    return files


def read_mono(path, sample_rate, max_seconds):
    """The first `max_seconds` of a file as mono float32 at `sample_rate` (channels averaged)."""
    info = sf.info(str(path))
    frames = min(info.frames, math.ceil(max_seconds * info.samplerate)) if info.frames > 0 else -1
    audio, rate = sf.read(str(path), frames=frames, dtype="float32", always_2d=True)
    mono = audio.mean(axis=1)
    if rate != sample_rate:
        common = math.gcd(int(rate), int(sample_rate))
        mono = scipy.signal.resample_poly(mono, sample_rate // common, int(rate) // common)
    return mono[:round(max_seconds * sample_rate)].astype(np.float32)


def load_folder(folder, argument, sample_rate, max_files, max_seconds):
    """[(path, mono float32 array at sample_rate)] of the first `max_files` decodable, non-empty files."""
    if max_files < 1 or not max_seconds > 0:
        raise ValueError(f"{argument}: need max_files >= 1 and max_seconds > 0, got {max_files}, {max_seconds}")
    files = _audio_files(folder, argument)
    bank, failures = [], []
    for path in files:
        if len(bank) == max_files:
            break
        try:
            audio = read_mono(path, sample_rate, max_seconds)
        except (RuntimeError, ValueError) as err:  # soundfile reports an undecodable file as one of these
            failures.append(f"{path}: {err}")
            continue
        if audio.size == 0:
            failures.append(f"{path}: no samples")
            continue
        bank.append((path, audio))
    if not bank:
        raise ValueError(f"{argument}: none of the {len(files)} audio files in {folder} could be decoded "
                         f"(first: {failures[0]})")
    if failures:
        warnings.warn(f"{argument}: skipped {len(failures)} undecodable audio files in {folder}, e.g. {failures[0]}",
                      stacklevel=3)
    return bank


def stack(arrays):
    """(files, longest) float32 zero-padded bank and the (files,) int32 lengths."""
    lengths = np.array([len(a) for a in arrays], np.int32)
    bank = np.zeros((len(arrays), lengths.max()), np.float32)
    for row, audio in enumerate(arrays):
        bank[row, :len(audio)] = audio
    return bank, lengths
