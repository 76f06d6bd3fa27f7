"""`build_shards`: a corpus -> stratified TFRecord shards + `manifest.json`.

The corpus reader's listing (for ASVspoof2019, the protocol files) decides what is built. Audio is decoded in parallel and streamed shard by shard (only a bounded
window of utterances is ever in memory); each finished shard is recorded so an interrupted build resumes.
"""

import contextlib
import hashlib
import json
import pathlib

from tqdm.auto import tqdm

from tfrecord_builder import atomic, variants
from tfrecord_builder.config import BuildConfig
from tfrecord_builder.corpora import get_reader, locate
from tfrecord_builder.corpora.common import BuildError
from tfrecord_builder.folder_lock import FolderLock
from tfrecord_builder.manifest import MANIFEST_FILE, assemble_manifest, plan_key
from tfrecord_builder.parallel import ordered_map
from tfrecord_builder.protocols import KEYS
from tfrecord_builder.schema import KEY_TO_TARGET, encode_example
from tfrecord_builder.sharding import assign_shards, select_subset, shard_count
from tfrecord_builder.writer import load_state, save_state, shard_files, shard_is_intact, write_shard

__all__ = ["BuildError", "build_shards", "plan_build", "plan_digest"]  # BuildError lives with the readers that raise it


def build_shards(config, progress=True):
    """Builds the shards of `config.splits` into `config.out` and returns the manifest (also written there).

    Re-running after an interruption keeps the shards whose checksum matches the build record and writes the
    rest; the result equals an uninterrupted build.
    """
    _, root, config = locate(config)  # `corpus: auto` and an unset track become what was found
    variants.check_available(config)  # a vocoder or codec that cannot run here fails before any work
    out = pathlib.Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    with FolderLock(out, "fakespeech build"):  # a second build into the same folder is refused, naming this pid
        return _build_locked(root, out, config, progress)


def _build_locked(root, out, config, progress):
    plans, protocol_skips, split_info = plan_build(root, config, with_split_info=True)
    digest = plan_digest(plans)
    description = variants.describe(config)  # vocoder/codec parameters and versions: a resume must match them
    records = _resumable_records(out, config, digest, plans, description)
    atomic.remove_temp_files(out)
    state = {"content": config.content_dict(), "plan_sha256": digest, "shards": records}
    if description is not None:
        state["variants"] = description
    save_state(out, state)
    todo = [plan for plan in plans if plan_key(plan) not in records]
    if todo:
        (out / MANIFEST_FILE).unlink(missing_ok=True)  # it no longer describes the folder until the build ends
    _write_shards(root, out, config, todo, state, progress)
    manifest = assemble_manifest(config, plans, state["shards"], protocol_skips, split_info)
    if description is not None:
        manifest["variants"] = variants.manifest_section(description, plans, state["shards"], plan_key)
    kept = {shard["file"] for split in manifest["splits"].values() for shard in split["shards"]}
    for path in shard_files(out, config.splits):
        if path.name not in kept:
            path.unlink()  # a shard of an earlier attempt under another count; readers glob every shard
    atomic.write_json(out / MANIFEST_FILE, manifest)
    return manifest


def plan_build(root, config, with_split_info=False):
    """Lists the corpus with its reader and assigns every kept utterance to a shard.

    Returns:
        `(plans, protocol_skips)`: the `ShardPlan`s of all splits, and the malformed listing lines skipped
        under `on_error="skip"`; with `with_split_info`, also the reader's record of how the splits were made
        (None for ASVspoof2019).
    """
    listing = get_reader(config.corpus).read(pathlib.Path(root), config)
    if listing.problems and config.on_error == "fail":
        first = listing.problems[0]
        raise BuildError(f"{first.file}:{first.line}: {first.reason}")
    base = _base(root)
    skipped = [{"file": _relative(p.file, base), "line": p.line, "reason": p.reason} for p in listing.problems]
    plans = []
    for split in config.splits:
        entries = select_subset(listing.splits[split], split, config.max_per_class, config.balance, config.seed)
        entries = variants.expand_entries(entries, split, config)  # vocoded and codec copies of the kept ones
        total = shard_count(len(entries), config.num_shards, config.shard_size)
        plans += assign_shards(entries, split, total, config.seed)
    if with_split_info:
        return plans, skipped, _split_info(listing)
    return plans, skipped


def _split_info(listing):
    if listing.split_info is None:
        return None
    return {"track": listing.track, **listing.split_info}


def _base(root):
    """The folder file paths in the manifest are relative to (a CSV listing's folder for `folders` from a CSV)."""
    root = pathlib.Path(root)
    return root if root.is_dir() else root.parent


def plan_digest(plans):
    """A checksum of which utterance goes to which shard, so a resumed build can tell its plan is unchanged."""
    layout = [[plan.split, plan.index, plan.total, [e.utt_id for e in plan.entries]] for plan in plans]
    return hashlib.sha256(json.dumps(layout).encode()).hexdigest()


def _resumable_records(out, config, digest, plans, description):
    state = load_state(out)
    if state is None:
        return _check_unrecorded_folder(out, config)
    previous = state["content"]
    changed = {k: (previous.get(k), v) for k, v in config.content_dict().items() if previous.get(k) != v}
    if changed:
        details = ", ".join(f"{k}: {old!r} there, {new!r} now" for k, (old, new) in changed.items())
        raise BuildError(f"{out} holds shards of a different config ({details}); use another --out or empty it")
    if state["plan_sha256"] != digest:
        raise BuildError(
            f"{out} holds shards built from different protocol files or corpus; use another --out or empty it"
        )
    if state.get("variants") != description:
        raise BuildError(f"{out} holds shards whose vocoded or codec copies were made with other parameters or "
                         f"versions (see {out / 'manifest.json'} or the build record); use another --out or empty it")
    wanted = {plan_key(plan) for plan in plans}
    return {key: r for key, r in state["shards"].items() if key in wanted and shard_is_intact(out, r)}


def _check_unrecorded_folder(out, config):
    """An output folder without a build record may only hold a manifest of the same config, or no shards."""
    manifest_path = out / MANIFEST_FILE
    if manifest_path.is_file():
        with open(manifest_path, encoding="utf-8") as f:
            previous = BuildConfig.from_dict(json.load(f)["build_config"], where=manifest_path).content_dict()
        if previous != config.content_dict():
            raise BuildError(f"{out} holds shards of a different config ({manifest_path}); use another --out")
    elif shard_files(out):
        raise BuildError(
            f"{out} holds shards ({shard_files(out)[0].name}, ...) of an unknown build; use another --out or empty it"
        )
    return {}


def _write_shards(root, out, config, todo, state, progress):
    jobs = (variants.job(entry, config) for plan in todo for entry in plan.entries)
    total = sum(len(plan.entries) for plan in todo)
    with tqdm(total=total, unit="utt", desc=f"build {config.track or config.corpus}", disable=not progress) as bar:
        with contextlib.closing(ordered_map(variants.example_job, jobs, config.workers)) as decoded:
            for plan in todo:
                state["shards"][plan_key(plan)] = _write_one_shard(root, out, config, plan, decoded, bar)
                save_state(out, state)


def _write_one_shard(root, out, config, plan, decoded, bar):
    record = {"counts": dict.fromkeys(KEYS, 0), "attacks": {}, "resampled": [], "downmixed": [], "skipped": []}
    base = _base(root)

    def examples():
        for entry in plan.entries:
            audio = next(decoded)
            bar.update(1)
            if isinstance(audio, str):
                if config.on_error == "fail":
                    raise BuildError(f"{entry.path}: {audio}{_listed_in(entry)}")
                listed = entry.listing is not None
                record["skipped"].append(
                    {"file": _relative(entry.path, base), "line": entry.line_no if listed else None,
                     "protocol": _relative(entry.listing, base) if listed else None, "reason": audio}
                )
                continue
            _count(record, entry, audio, _relative(entry.path, base), config.sample_rate)
            yield _encode(audio.samples, entry, plan.split, config)

    name, count, size, sha256 = write_shard(out, plan.split, plan.index, plan.total, examples())
    record.update(file=name, num_examples=count, bytes=size, sha256=sha256)
    record["attacks"] = dict(sorted(record["attacks"].items()))
    return record


def _listed_in(entry):
    return f" (listed in {entry.listing}:{entry.line_no})" if entry.listing is not None else ""


def _count(record, entry, audio, relative_path, sample_rate):
    record["counts"][entry.key] += 1
    record["attacks"][entry.system_id] = record["attacks"].get(entry.system_id, 0) + 1
    if variants.count(record, entry):
        return  # a copy: its source file is already listed (resampled, downmixed) under the source's own entry
    if audio.source_rate != sample_rate:
        record["resampled"].append(relative_path)
    if audio.channels > 1:
        record["downmixed"].append(relative_path)


def _encode(samples, entry, split, config):
    return encode_example(
        samples,
        config.sample_rate,
        id=entry.utt_id,
        speaker_id=entry.speaker_id,
        system_id=entry.system_id,
        target=KEY_TO_TARGET[entry.key],
        split=split,
        track=config.track or config.corpus,
        environment=entry.environment if config.track == "PA" else "-",
        corpus=config.corpus,
    )


def _relative(path, root):
    path = pathlib.Path(path)
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)
