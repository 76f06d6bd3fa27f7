"""`manifest.json`: what a build produced (counts, checksums, config, skipped files), read by every consumer.

Structure::

    {"format_version": 1, "package_version": "0.1.0", "build_config": {...}, "sample_rate": 16000,
     "resampler": "scipy.signal.resample_poly", "resampled": [files], "downmixed": [files],
     "splits": {split: {"num_examples", "counts": {"bonafide", "spoof"}, "attacks": {"A01": n, "-": n},
                        "num_shards", "shards": [{"file", "num_examples", "counts", "attacks", "bytes", "sha256"}]}},
     "totals": {"num_examples", "counts", "attacks", "num_shards", "bytes"},
     "skipped": [{"file", "line", "reason"}, ...],
     "corpus": {"name", "track", "split_method", ...},  # corpora other than ASVspoof2019 only
     "variants": {"vocoders": {value: {"system_id", "id_suffix", "params", "versions", "copies": {split: n}}},
                  "codecs": {value: {"id_suffix", "format", "subtype", "compression_level", "delay_samples",
                                     "bitrate_kbps" | "vorbis_quality", "versions", "copies": {split: n}}},
                  "vocode_splits", "codec_splits"}}  # builds with --vocode or --codecs only

File paths in `resampled`, `downmixed` and `skipped` are relative to the corpus root. `corpus` records how the
splits were made: `"split_method": "official"` with the folders read, or `"group-disjoint hash"` with `group_by`,
`split_ratios`, `seed`, the group count per split, `group_assignment` (group -> split; left out above
`corpora.common.MAX_LISTED_GROUPS` groups) and its `group_assignment_sha256`. ASVspoof2019 manifests carry no `corpus` entry, so
they stay as they were; `corpus_info` fills it in for readers. `variants` (see `tfrecord_builder.variants`) records
the vocoded and codec copies a build added: what made them and how many each split holds.
"""

import collections
import json
import pathlib

from tfrecord_builder.protocols import KEYS

MANIFEST_FILE = "manifest.json"
FORMAT_VERSION = 1
SHARD_KEYS = ("file", "num_examples", "counts", "attacks", "bytes", "sha256")


def package_version():
    from importlib import metadata

    try:
        return metadata.version("fakespeech")
    except metadata.PackageNotFoundError:
        return "0+unknown"


def assemble_manifest(config, plans, records, protocol_skips, split_info=None):
    """Builds the manifest from the shard records (`records["split/index"]`), in plan order.

    `split_info` is the corpus reader's record of how the splits were made (None for ASVspoof2019).
    """
    split_records, resampled, downmixed, skipped = {}, [], [], list(protocol_skips)
    for split in config.splits:
        split_records[split] = [records[plan_key(p)] for p in plans if p.split == split]
        for record in split_records[split]:
            resampled += record["resampled"]
            downmixed += record["downmixed"]
            skipped += record["skipped"]
    corpus = {"name": config.corpus, **split_info} if split_info is not None else None
    manifest = summarise_shards(split_records, config.sample_rate, config.to_dict(), corpus)
    manifest.update(resampled=resampled, downmixed=downmixed, skipped=skipped)
    return manifest


def summarise_shards(split_records, sample_rate, build_config, corpus=None):
    """The manifest of finished shards: `split_records` maps each split to its shard records (`SHARD_KEYS`)."""
    splits = {}
    for split, shard_records in split_records.items():
        shards = [{key: r[key] for key in SHARD_KEYS} for r in shard_records]
        splits[split] = {**_summarise(shards), "shards": shards}
    totals = _summarise(list(splits.values()))
    totals["num_shards"] = sum(s["num_shards"] for s in splits.values())
    totals["bytes"] = sum(shard["bytes"] for s in splits.values() for shard in s["shards"])
    manifest = {
        "format_version": FORMAT_VERSION,
        "package_version": package_version(),
        "build_config": build_config,
        "sample_rate": sample_rate,
        "resampler": "scipy.signal.resample_poly",
        "resampled": [],
        "downmixed": [],
        "splits": splits,
        "totals": totals,
        "skipped": [],
    }
    if corpus is not None:
        manifest["corpus"] = corpus
    return manifest


def _summarise(parts):
    counts = {key: 0 for key in KEYS}
    attacks = collections.Counter()
    for part in parts:
        for key, n in part["counts"].items():
            counts[key] += n
        attacks.update(part["attacks"])
    return {
        "num_examples": sum(counts.values()),
        "counts": counts,
        "attacks": dict(sorted(attacks.items())),
        "num_shards": len(parts),
    }


def corpus_info(manifest):
    """The manifest's `corpus` record; for ASVspoof2019 manifests, which have none, its official-split equivalent."""
    if "corpus" in manifest:
        return manifest["corpus"]
    return {"name": "asvspoof2019", "track": manifest["build_config"]["track"], "split_method": "official"}


def plan_key(plan):
    return f"{plan.split}/{plan.index:05d}"


def load_manifest(directory):
    """Reads `manifest.json` from a local shard folder (or the file itself); `ShardSet` reads any location."""
    path = pathlib.Path(directory)
    if path.is_dir():
        path = path / MANIFEST_FILE
    if not path.is_file():
        raise FileNotFoundError(f"no {MANIFEST_FILE} at {path}; build shards with 'fakespeech build' first")
    return parse_manifest(path.read_bytes(), path)


def parse_manifest(data, path):
    """The manifest in `data` (bytes), checked: valid JSON, a mapping, a supported `format_version`."""
    try:
        manifest = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{path}: not a valid {MANIFEST_FILE} ({error}); rebuild with 'fakespeech build'") from None
    if not isinstance(manifest, dict) or "splits" not in manifest:
        raise ValueError(f"{path}: not a fakespeech {MANIFEST_FILE} (no 'splits'); rebuild with 'fakespeech build'")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{path}: unsupported manifest format_version {manifest.get('format_version')!r} "
                         f"(this fakespeech reads {FORMAT_VERSION})")
    return manifest
