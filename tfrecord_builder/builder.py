"""`build_shards`: an ASVspoof2019 corpus -> stratified TFRecord shards + `manifest.json`.

Protocol files decide what is built. Audio is decoded in parallel and streamed shard by shard (only a bounded
window of utterances is ever in memory); each finished shard is recorded so an interrupted build resumes.
"""

import contextlib
import hashlib
import json
import pathlib

from tqdm.auto import tqdm

from tfrecord_builder.audio_io import decode_job
from tfrecord_builder.config import BuildConfig
from tfrecord_builder.corpus_root import audio_path, find_corpus_root, track_dir
from tfrecord_builder.manifest import MANIFEST_FILE, assemble_manifest, plan_key
from tfrecord_builder.parallel import ordered_map
from tfrecord_builder.protocols import KEYS, parse_protocol, protocol_file
from tfrecord_builder.schema import KEY_TO_TARGET, encode_example
from tfrecord_builder.sharding import assign_shards, select_subset, shard_count
from tfrecord_builder.writer import (
    load_state,
    remove_temp_files,
    save_state,
    shard_files,
    shard_is_intact,
    write_json_atomic,
    write_shard,
)

CORPUS = "asvspoof2019"


class BuildError(Exception):
    """Bad input or an output folder that cannot be used; the message names the file, line or setting."""


def build_shards(config, progress=True):
    """Builds the shards of `config.splits` into `config.out` and returns the manifest (also written there).

    Re-running after an interruption keeps the shards whose checksum matches the build record and writes the
    rest; the result equals an uninterrupted build.
    """
    root = find_corpus_root(config.data, config.track)
    out = pathlib.Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    plans, protocol_skips = plan_build(root, config)
    digest = plan_digest(plans)
    records = _resumable_records(out, config, digest, plans)
    remove_temp_files(out)
    state = {"content": config.content_dict(), "plan_sha256": digest, "shards": records}
    save_state(out, state)
    todo = [plan for plan in plans if plan_key(plan) not in records]
    if todo:
        (out / MANIFEST_FILE).unlink(missing_ok=True)  # it no longer describes the folder until the build ends
    _write_shards(root, out, config, todo, state, progress)
    manifest = assemble_manifest(config, plans, state["shards"], protocol_skips)
    kept = {shard["file"] for split in manifest["splits"].values() for shard in split["shards"]}
    for path in shard_files(out, config.splits):
        if path.name not in kept:
            path.unlink()  # a shard of an earlier attempt under another count; readers glob every shard
    write_json_atomic(out / MANIFEST_FILE, manifest)
    return manifest


def plan_build(root, config):
    """Reads the protocols and assigns every kept utterance to a shard.

    Returns:
        `(plans, protocol_skips)`: the `ShardPlan`s of all splits, and the malformed protocol lines skipped
        under `on_error="skip"`.
    """
    plans, skipped = [], []
    for split in config.splits:
        path = protocol_file(track_dir(root, config.track), config.track, split)
        if not path.is_file():
            raise BuildError(f"no {config.track} {split} protocol under {root}: {path} does not exist")
        entries, problems = parse_protocol(path, config.track)
        if problems and config.on_error == "fail":
            raise BuildError(f"{problems[0].file}:{problems[0].line}: {problems[0].reason}")
        skipped += [{"file": _relative(p.file, root), "line": p.line, "reason": p.reason} for p in problems]
        entries = select_subset(entries, split, config.max_per_class, config.balance, config.seed)
        total = shard_count(len(entries), config.num_shards, config.shard_size)
        plans += assign_shards(entries, split, total, config.seed)
    return plans, skipped


def plan_digest(plans):
    """A checksum of which utterance goes to which shard, so a resumed build can tell its plan is unchanged."""
    layout = [[plan.split, plan.index, plan.total, [e.utt_id for e in plan.entries]] for plan in plans]
    return hashlib.sha256(json.dumps(layout).encode()).hexdigest()


def _resumable_records(out, config, digest, plans):
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
    jobs = (
        (str(audio_path(root, config.track, plan.split, entry.utt_id)), config.sample_rate)
        for plan in todo
        for entry in plan.entries
    )
    total = sum(len(plan.entries) for plan in todo)
    with tqdm(total=total, unit="utt", desc=f"build {config.track}", disable=not progress) as bar:
        with contextlib.closing(ordered_map(decode_job, jobs, config.workers)) as decoded:
            for plan in todo:
                state["shards"][plan_key(plan)] = _write_one_shard(root, out, config, plan, decoded, bar)
                save_state(out, state)


def _write_one_shard(root, out, config, plan, decoded, bar):
    record = {"counts": dict.fromkeys(KEYS, 0), "attacks": {}, "resampled": [], "downmixed": [], "skipped": []}
    protocol = protocol_file(track_dir(root, config.track), config.track, plan.split)

    def examples():
        for entry in plan.entries:
            audio = next(decoded)
            bar.update(1)
            path = audio_path(root, config.track, plan.split, entry.utt_id)
            if isinstance(audio, str):
                if config.on_error == "fail":
                    raise BuildError(f"{path}: {audio} (listed in {protocol}:{entry.line_no})")
                record["skipped"].append(
                    {"file": _relative(path, root), "line": entry.line_no, "protocol": _relative(protocol, root),
                     "reason": audio}
                )
                continue
            _count(record, entry, audio, _relative(path, root), config.sample_rate)
            yield _encode(audio.samples, entry, plan.split, config)

    name, count, size, sha256 = write_shard(out, plan.split, plan.index, plan.total, examples())
    record.update(file=name, num_examples=count, bytes=size, sha256=sha256)
    record["attacks"] = dict(sorted(record["attacks"].items()))
    return record


def _count(record, entry, audio, relative_path, sample_rate):
    record["counts"][entry.key] += 1
    record["attacks"][entry.system_id] = record["attacks"].get(entry.system_id, 0) + 1
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
        track=config.track,
        environment=entry.environment if config.track == "PA" else "-",
        corpus=CORPUS,
    )


def _relative(path, root):
    path = pathlib.Path(path)
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)
