"""The `--vocode` and `--codecs` values of a build: their syntax, and the ids the extra examples get.

A build can add two kinds of extra examples made from the corpus's own train/dev utterances:

- vocoded copies (`--vocode world,griffinlim,...`): every bona fide utterance resynthesised through a vocoder
  becomes a SPOOF example (Wang & Yamagishi, ICASSP 2023), with the system id `V-<vocoder>` and the utterance id
  `<source id>-<vocoder>`, e.g. `V-world` and `LA_T_1138215-world`;
- codec round trips (`--codecs mp3:32k,ogg:q2,opus:24k`): every utterance encoded and decoded through a lossy codec
  keeps its source's key and system id, with the utterance id `<source id>-<codec>-<setting>`, e.g.
  `LA_T_1138215-mp3-32k`.

This module only parses and names (pure Python, so `BuildConfig` can validate its values anywhere); whether a
vocoder's dependency is installed or soundfile can write a codec is checked by `tfrecord_builder.variants` when a
build starts.
"""

import collections
import pathlib
import re

# vocoder -> the options it takes after a colon (None: any value, here a weights file).
VOCODER_OPTIONS = {
    "world": ("dio", "harvest"),  # the F0 estimator; `world` alone is `world:dio`
    "griffinlim": ("mel", "linear"),  # which magnitude is inverted; `griffinlim` alone is `griffinlim:mel`
    "lpc": (),
    "phase_vocoder": (),
    "keras": None,  # keras:/path/generator.keras, with its mel parameters in /path/generator.json
}
DEFAULT_VOCODER_OPTION = {"world": "dio", "griffinlim": "mel"}
VOCODER_SYSTEM_PREFIX = "V-"

# codec -> (setting letter or unit, the range the setting may take, what it means).
CODECS = {
    "mp3": ("k", (8, 320), "constant bitrate in kbit/s (MPEG-1 above 32 kHz, MPEG-2 at 16-24 kHz)"),
    "ogg": ("q", (0.0, 10.0), "Ogg Vorbis quality 0-10, as oggenc -q"),
    "opus": ("k", (6, 256), "Ogg Opus bitrate in kbit/s"),
}
# The bitrates LAME accepts per MPEG version; others would silently become the nearest one.
MP3_BITRATES = {
    "mpeg1": (32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    "mpeg2": (8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
    "mpeg2.5": (8, 16, 24, 32, 40, 48, 56, 64),
}
OPUS_RATES = (8000, 12000, 16000, 24000, 48000)

VocoderSpec = collections.namedtuple("VocoderSpec", ["text", "name", "option", "system_id", "id_suffix"])
CodecSpec = collections.namedtuple("CodecSpec", ["text", "codec", "value", "id_suffix"])


def parse_vocoder(text, flag="--vocode"):
    """`world`, `world:harvest`, `griffinlim:linear`, `keras:/path/x.keras` -> `VocoderSpec`.

    Raises:
        ValueError: naming `flag` and the value, for an unknown vocoder or option.
    """
    text = str(text).strip()
    name, _, option = text.partition(":")
    if name not in VOCODER_OPTIONS:
        raise ValueError(f"{flag} {text!r}: unknown vocoder {name!r}; choose from {', '.join(VOCODER_OPTIONS)}")
    allowed = VOCODER_OPTIONS[name]
    if allowed is None:
        if not option:
            raise ValueError(f"{flag} {text!r}: give the generator's weights file, e.g. keras:/path/vocoder.keras")
        stem = re.sub(r"[^A-Za-z0-9_.]+", "_", pathlib.Path(option).stem) or "model"
        tail = f"{name}-{stem}"
    else:
        option = option or DEFAULT_VOCODER_OPTION.get(name, "")
        if option and option not in allowed:
            choices = ", ".join(f"{name}:{o}" for o in allowed) if allowed else name
            raise ValueError(f"{flag} {text!r}: unknown option {option!r} of {name}; choose from {choices}")
        tail = name if option in ("", DEFAULT_VOCODER_OPTION.get(name)) else f"{name}-{option}"
    return VocoderSpec(text, name, option, VOCODER_SYSTEM_PREFIX + tail, "-" + tail)


def parse_codec(text, flag="--codecs"):
    """`mp3:32k`, `ogg:q2`, `opus:24k` -> `CodecSpec` (value: kbit/s for mp3/opus, the quality for ogg).

    Raises:
        ValueError: naming `flag` and the value, for an unknown codec or a malformed or out-of-range setting.
    """
    text = str(text).strip()
    codec, _, setting = text.partition(":")
    if codec not in CODECS:
        raise ValueError(f"{flag} {text!r}: unknown codec {codec!r}; choose from "
                         + ", ".join(f"{c}:{_example(c)}" for c in CODECS))
    unit, (low, high), meaning = CODECS[codec]
    number = setting[1:] if unit == "q" else setting[:-1]
    well_formed = setting.startswith("q") if unit == "q" else setting.endswith("k")
    try:
        value = float(number) if well_formed else None
    except ValueError:
        value = None
    if value is None or not low <= value <= high or (unit == "k" and not value.is_integer()):
        raise ValueError(f"{flag} {text!r}: expected {codec}:{_example(codec)} ({meaning}, {low}-{high})")
    value = int(value) if unit == "k" or value.is_integer() else value
    return CodecSpec(text, codec, value, f"-{codec}-{_setting_text(unit, value)}")


def _example(codec):
    return {"mp3": "32k", "ogg": "q2", "opus": "24k"}[codec]


def _setting_text(unit, value):
    return f"q{value}" if unit == "q" else f"{value}k"


def mp3_version(sample_rate):
    """The MPEG version LAME writes at `sample_rate`, or None when MP3 has no such rate."""
    if sample_rate in (32000, 44100, 48000):
        return "mpeg1"
    if sample_rate in (16000, 22050, 24000):
        return "mpeg2"
    if sample_rate in (8000, 11025, 12000):
        return "mpeg2.5"
    return None


def check_codec_rate(spec, sample_rate, flag="--codecs"):
    """Refuses a codec setting the build's sample rate cannot carry (before soundfile is even asked)."""
    if spec.codec == "mp3":
        version = mp3_version(sample_rate)
        if version is None:
            raise ValueError(f"{flag} {spec.text!r}: MP3 cannot store {sample_rate} Hz audio (the build's "
                             f"sample rate); use ogg or opus, or another --sample-rate")
        if spec.value not in MP3_BITRATES[version]:
            raise ValueError(f"{flag} {spec.text!r}: {spec.value} kbit/s is not an MP3 bitrate at {sample_rate} Hz; "
                             f"choose from {', '.join(map(str, MP3_BITRATES[version]))}")
    if spec.codec == "opus" and sample_rate not in OPUS_RATES:
        raise ValueError(f"{flag} {spec.text!r}: Opus cannot store {sample_rate} Hz audio (the build's sample rate); "
                         f"it takes {', '.join(map(str, OPUS_RATES))}")


def parse_all(vocode, codecs, sample_rate):
    """Parses every value and refuses duplicates (two values giving the same ids); returns both spec tuples."""
    vocoders = tuple(parse_vocoder(v) for v in vocode)
    codec_specs = tuple(parse_codec(c) for c in codecs)
    for spec in codec_specs:
        check_codec_rate(spec, sample_rate)
    for flag, specs in (("--vocode", vocoders), ("--codecs", codec_specs)):
        seen = {}
        for spec in specs:
            if spec.id_suffix in seen:
                raise ValueError(f"{flag}: {seen[spec.id_suffix]!r} and {spec.text!r} give the same utterance ids "
                                 f"(*{spec.id_suffix}); keep one")
            seen[spec.id_suffix] = spec.text
    return vocoders, codec_specs
