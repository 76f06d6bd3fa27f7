"""Extra examples made from a build's own utterances: vocoded spoofs (`--vocode`) and codec copies (`--codecs`).

The builder lists the corpus, keeps its subset (`--max-per-class`, `--balance`), and then `expand_entries` adds
per split, for the splits of `vocode_splits` / `codec_splits` (never eval):

- one copy per vocoder of every bona fide utterance: key `spoof`, system id `V-<vocoder>`, utterance id
  `<source>-<vocoder>`;
- one copy per codec of every corpus utterance (not of the vocoded copies): the source's key and system id,
  utterance id `<source>-<codec>-<setting>`.

A copy keeps its source's speaker, environment, group, audio file and listing line, so it is stratified, sharded,
resumed and reported (a bad source file names its protocol line) like every other example. Its audio is made in
the decoding workers (`example_job`), from the source file and a seed drawn from the build seed and the copy's id,
so it is the same whatever the worker count or shard layout. Only this module and the worker import the vocoders
and codecs; it does not import TensorFlow.
"""

import collections
import zlib

import numpy as np

from tfrecord_builder import codecs, vocoders
from tfrecord_builder.audio_io import DecodedAudio, decode_job
from tfrecord_builder.corpora.common import BuildError, CorpusEntry
from tfrecord_builder.variant_specs import parse_all, parse_codec, parse_vocoder

# A `CorpusEntry` plus what makes it a copy: `variant` is ("vocoder" | "codec", the option's value) and
# `source_id` the utterance it was made from. Plain entries have neither field.
VariantEntry = collections.namedtuple("VariantEntry", CorpusEntry._fields + ("variant", "source_id"))


def specs(config):
    """`(vocoder specs, codec specs)` of a config."""
    return parse_all(config.vocode, config.codecs, config.sample_rate)


def check_available(config):
    """Before any work: every vocoder can run here and soundfile can write every codec, else a `ValueError`
    naming the option and value (e.g. `--vocode 'world': needs the package pyworld ...`)."""
    vocoder_specs, codec_specs = specs(config)
    for spec in vocoder_specs:
        vocoders.check(spec, config.sample_rate)
    for spec in codec_specs:
        codecs.check(spec, config.sample_rate)


def describe(config):
    """What the copies are made with (parameters, versions), or None without copies; resume compares it."""
    vocoder_specs, codec_specs = specs(config)
    if not vocoder_specs and not codec_specs:
        return None
    return {
        "vocoders": {s.text: vocoders.describe(s, config.sample_rate) for s in vocoder_specs},
        "codecs": {s.text: codecs.describe(s, config.sample_rate) for s in codec_specs},
        "vocode_splits": [s for s in config.vocode_splits if s in config.splits] if vocoder_specs else [],
        "codec_splits": [s for s in config.codec_splits if s in config.splits] if codec_specs else [],
    }


def expand_entries(entries, split, config):
    """`entries` followed by the copies `config` asks for in `split` (see the module docstring)."""
    vocoder_specs, codec_specs = specs(config)
    copies = []
    if split in config.vocode_splits:
        for spec in vocoder_specs:
            copies += [_copy(e, spec.id_suffix, ("vocoder", spec.text), "spoof", spec.system_id)
                       for e in entries if e.key == "bonafide"]
    if split in config.codec_splits:
        for spec in codec_specs:
            copies += [_copy(e, spec.id_suffix, ("codec", spec.text), e.key, e.system_id) for e in entries]
    expanded = list(entries) + copies
    ids = collections.Counter(e.utt_id for e in expanded)
    clashes = sorted(utt for utt, n in ids.items() if n > 1)
    if clashes:
        raise BuildError(f"{split}: the copy id {clashes[0]} is also a corpus utterance id; the corpus already "
                         f"holds copies, or drop the option that makes them")
    return expanded


def _copy(entry, suffix, variant, key, system_id):
    fields = entry._asdict()
    fields.pop("variant", None)
    fields.pop("source_id", None)
    fields.update(utt_id=entry.utt_id + suffix, key=key, system_id=system_id)
    return VariantEntry(**fields, variant=variant, source_id=entry.utt_id)


def job(entry, config):
    """The arguments of `example_job` for one planned entry (a plain utterance or a copy)."""
    variant = getattr(entry, "variant", None)
    if variant is None:
        return (str(entry.path), config.sample_rate)
    seed = [config.seed, zlib.crc32(entry.utt_id.encode("utf-8"))]
    return (str(entry.path), config.sample_rate, variant, seed)


def example_job(path, sample_rate, variant=None, seed=None):
    """Runs in a decoding worker: the `DecodedAudio` of a plain utterance or of a copy, or the reason string."""
    audio = decode_job(path, sample_rate)
    if variant is None or isinstance(audio, str):
        return audio
    kind, text = variant
    try:
        if kind == "vocoder":
            samples = vocoders.vocode(parse_vocoder(text), audio.samples, sample_rate, np.random.default_rng(seed))
        else:
            samples = codecs.round_trip(parse_codec(text), audio.samples, sample_rate)
    except (vocoders.VocoderError, codecs.CodecError) as exc:
        return str(exc)
    return DecodedAudio(samples, audio.source_rate, audio.channels)


def count(record, entry):
    """Counts a written copy in its shard record (`record["variants"][option value]`); False for a plain entry."""
    variant = getattr(entry, "variant", None)
    if variant is None:
        return False
    record.setdefault("variants", {})
    record["variants"][variant[1]] = record["variants"].get(variant[1], 0) + 1
    return True


def manifest_section(description, plans, records, plan_key):
    """The manifest's `variants` entry: `description` plus, per vocoder and codec, the copies written per split."""
    section = {key: value for key, value in description.items()}
    section["vocoders"] = {text: dict(info, copies={}) for text, info in description["vocoders"].items()}
    section["codecs"] = {text: dict(info, copies={}) for text, info in description["codecs"].items()}
    for plan in plans:
        for text, n in records[plan_key(plan)].get("variants", {}).items():
            kind = "vocoders" if text in section["vocoders"] else "codecs"
            copies = section[kind][text]["copies"]
            copies[plan.split] = copies.get(plan.split, 0) + n
    return section
