"""Deterministic subset selection and stratified shard assignment.

Every shard of a split gets the same mix of (key, attack) strata within one example per stratum, so any single
shard, or any prefix of an interleaved read, sees the split's class and attack balance.
"""

import collections
import math
import zlib

import numpy as np

from tfrecord_builder.config import DEFAULT_SHARD_SIZE

ShardPlan = collections.namedtuple("ShardPlan", ["split", "index", "total", "entries"])


def split_rng(seed, split, purpose):
    """A generator seeded by the build seed, the split and what it is for, so each draw is independent."""
    return np.random.default_rng([seed, zlib.crc32(f"{purpose}:{split}".encode())])


def select_subset(entries, split, max_per_class=None, balance=False, seed=0):
    """Keeps at most `max_per_class` utterances per key (and, with `balance`, as many spoof as bona fide).

    Within a key the kept utterances are spread over its attacks as evenly as they allow. The result keeps the
    protocol order.
    """
    if max_per_class is None and not balance:
        return list(entries)
    by_key = collections.defaultdict(list)
    for entry in entries:
        by_key[entry.key].append(entry)
    cap = max_per_class if max_per_class is not None else math.inf
    if balance and by_key:
        cap = min(cap, min(len(group) for group in by_key.values()))
    rng = split_rng(seed, split, "subset")
    kept = []
    for key in sorted(by_key):
        kept.extend(_spread_take(by_key[key], cap, rng))
    return sorted(kept, key=lambda e: e.line_no)


def _spread_take(entries, cap, rng):
    """Takes `cap` entries round-robin over the attacks, each attack's entries in a seeded random order."""
    strata = _strata(entries, lambda e: e.system_id, rng)
    taken = []
    for position in range(max(len(s) for s in strata)):
        for stratum in strata:
            if position < len(stratum):
                taken.append(stratum[position])
    return taken[: int(min(cap, len(taken)))]


def _strata(entries, key_fn, rng):
    groups = collections.defaultdict(list)
    for entry in entries:
        groups[key_fn(entry)].append(entry)
    strata = []
    for name in sorted(groups):
        members = sorted(groups[name], key=lambda e: e.utt_id)
        strata.append([members[i] for i in rng.permutation(len(members))])
    return strata


def shard_count(num_examples, num_shards=None, shard_size=None):
    """Shards for a split: `num_shards` (never more than examples), else enough of `shard_size`."""
    if num_examples == 0:
        return 0
    if num_shards is not None:
        return min(num_shards, num_examples)
    return math.ceil(num_examples / (shard_size or DEFAULT_SHARD_SIZE))


def assign_shards(entries, split, num_shards, seed=0):
    """Deals a split's entries over `num_shards` shards, stratified by (key, attack), shuffled within each.

    One continuous round-robin runs through the strata in turn, so each stratum and the shard totals both
    differ by at most one between shards.

    Returns:
        A list of `ShardPlan(split, index, total, entries)`.
    """
    rng = split_rng(seed, split, "shards")
    shards = [[] for _ in range(num_shards)]
    position = 0
    for stratum in _strata(entries, lambda e: (e.key, e.system_id), rng):
        for entry in stratum:
            shards[position % num_shards].append(entry)
            position += 1
    plans = []
    for index, members in enumerate(shards):
        order = rng.permutation(len(members))
        plans.append(ShardPlan(split, index, num_shards, [members[i] for i in order]))
    return plans
