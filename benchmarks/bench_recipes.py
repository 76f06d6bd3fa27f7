"""Recipes on real speech: each trained and evaluated over several seeds, pooled and per-system EER as mean ± std.

By default the shard set is realdev (`../shared/realdev`, built here if missing; its README says what it is and is
not): train and dev share spoofing systems D01-D05, eval holds ten unseen ones, so the eval columns measure
generalisation to unseen attacks. Every run goes through the same functions as `fakespeech train` and
`fakespeech evaluate` (`pipelines.train.training.train`, `pipelines.evaluate.evaluation.evaluate_run`), in its
own run directory under `--work`; a finished run is read back, not trained again, so an interrupted benchmark
resumes where it stopped (and a killed run resumes from its last epoch).

    python benchmarks/bench_recipes.py                       # every recipe, seeds 0,1,2 (hours on 2 CPU cores)
    python benchmarks/bench_recipes.py --recipes default,lfcc_gmm --seeds 0
    python benchmarks/bench_recipes.py --list                # the recipes and what each changes

Recipes (`RECIPES`): the LFCC-GMM baseline, the previous default (LCNN on log-mel), the default recipe of
`fakespeech train` (no --model, no --preset), the published AASIST zero-shot (`--epochs 0`) and fine-tuned
(`--preset aasist_finetune`), and each remedy alone added to the previous default (an ablation). Vocoded-spoof
recipes train on a second shard set whose train split also holds copies of every bona fide training utterance resynthesised by WORLD, Griffin-Lim, LPC and a phase
vocoder (`fakespeech build --vocode ... --vocode-splits train`); dev and eval are the same utterances in both sets.

Dev EER (the model selection) and eval EER come from the run's own files; the training CPU time is this
process's user + system time during `train` (a busy shared machine stretches the wall time, not that).
"""

import argparse
import dataclasses
import json
import os
import resource
import sys
import time

import numpy as np

from models.pretrained import get_pretrained
from pipelines.commands.build import main as build_main
from pipelines.config import resolve_run_config
from pipelines.config.presets import DEFAULT_PRESET
from pipelines.evaluate.evaluation import evaluate_run
from pipelines.run_dir import RunDir
from pipelines.train.training import train
from tfrecord_builder.shards import ShardSet

HERE = os.path.dirname(os.path.abspath(__file__))
REALDEV = os.path.normpath(os.path.join(HERE, "..", "..", "shared", "realdev"))
VOCODERS = "world,griffinlim,lpc,phase_vocoder"
NEURAL_VOCODER_SYSTEMS = ("D07", "D11", "D12", "D13", "D14")  # realdev eval systems with a neural vocoder


@dataclasses.dataclass(frozen=True)
class Recipe:
    description: str
    preset: str = None
    overrides: tuple = ()
    shards: str = "plain"  # "plain" | "vocoded"
    seeded: bool = True  # False: deterministic (zero-shot), one run whatever the seeds
    aasist_weights: bool = False


# The previous default of `fakespeech train`: LCNN (base 64) on 80 log-mel bands, 4 s clips, 10 epochs, which is
# what `RunConfig()` holds when no preset is named; the remedies below are added to it one at a time.
PREVIOUS_DEFAULT = ()
# The remedies measured alone on top of the previous default (and taken out of the default one at a time).
REMEDIES = {
    "bandwidth": ("augment.bandlimit_probability=0.5", "augment.bandlimit_low_hz=0,100",
                  "augment.bandlimit_high_hz=3800,8000"),
    "channel": ("augment.telephone_probability=0.1", "augment.companding_probability=0.1",
                "augment.quantize_probability=0.1", "augment.eq_probability=0.3"),
    "ocsoftmax": ("train.loss=ocsoftmax",),
    "swa": ("train.weight_averaging=swa",),
    "rawboost": ("augment.rawboost_probability=0.5", "augment.rawboost_algo=lnl+isd"),
    "trim": ("data.trim_silence=true",),
    "lfcc": ("features.kind=lfcc", "features.deltas=true", "features.n_filters=20", "features.n_coefficients=20"),
}

RECIPES = {
    "lfcc_gmm": Recipe("ASVspoof 2019 baseline B2: LFCC + diagonal GMMs (64 components)", preset="lfcc_gmm"),
    "previous_default": Recipe("the previous default: LCNN on log-mel, 10 epochs", overrides=PREVIOUS_DEFAULT),
    "default": Recipe("`fakespeech train` with no --model / --preset (pipelines.config.presets.DEFAULT_PRESET)",
                      preset=DEFAULT_PRESET),
    "aasist_zero_shot": Recipe("published AASIST weights, no training (--preset aasist --epochs 0)", preset="aasist",
                               overrides=("train.epochs=0",), seeded=False, aasist_weights=True),
    "aasist_finetune": Recipe("published AASIST fine-tuned (--preset aasist_finetune)", preset="aasist_finetune",
                              aasist_weights=True),
    "previous+vocoded": Recipe("previous default + vocoded bona fide as spoofs", overrides=PREVIOUS_DEFAULT,
                               shards="vocoded"),
    **{f"previous+{name}": Recipe(f"previous default + {name}", overrides=PREVIOUS_DEFAULT + options)
       for name, options in REMEDIES.items()},
}


def cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def ensure_shards(directory, data_root, vocoded):
    """The shard set in `directory`, built from `data_root` (realdev) when it is missing."""
    if os.path.isfile(os.path.join(directory, "manifest.json")):
        return directory
    if not data_root or not os.path.isdir(data_root):
        raise SystemExit(f"{directory} has no shards and no corpus to build them from (--data {data_root})")
    argv = ["--data", data_root, "--out", directory, "--quiet", "--workers", "2"]
    if vocoded:
        argv += ["--vocode", VOCODERS, "--vocode-splits", "train"]
    print(f"building {directory} from {data_root}{' with vocoded copies' if vocoded else ''}", flush=True)
    if build_main(argv) != 0:
        raise SystemExit(f"building {directory} failed")
    return directory


def run_config_for(recipe, seed, shards, weights):
    overrides = list(recipe.overrides)
    if recipe.aasist_weights:
        overrides.append(f"model.pretrained_weights={weights}")
    flags = {"data": {"shards": shards}}
    if recipe.seeded:
        flags.update({section: {**flags.get(section, {}), "seed": seed} for section in ("data", "augment", "train")})
    return resolve_run_config(recipe.preset, None, flags, overrides)


def run_recipe(name, recipe, seed, shards, work, weights):
    """Trains (or resumes) and evaluates one recipe and seed; returns its result dict (cached as result.json)."""
    run_dir = os.path.join(work, "runs", name, f"seed{seed}" if recipe.seeded else "deterministic")
    result_path = os.path.join(run_dir, "result.json")
    run_config = run_config_for(recipe, seed, shards, weights)
    run = RunDir(run_dir)
    if os.path.isfile(result_path) and run.has_config():
        run.check_reusable(run_config)  # the cached result is this recipe's, not a stale one
        with open(result_path, encoding="utf-8") as file:
            return json.load(file)
    print(f"{name} seed {seed}: training in {run_dir}", flush=True)
    cpu, wall = cpu_seconds(), time.time()
    train(run_config, run_dir, verbose=0)
    cpu, wall = cpu_seconds() - cpu, time.time() - wall
    best = run.best()
    dev_eer = best["value"] if best else evaluate_run(run_dir, split="dev")["pooled"]["eer"]
    report = evaluate_run(run_dir, split="eval")
    result = {
        "recipe": name, "seed": seed, "dev_eer": dev_eer, "eval_eer": report["pooled"]["eer"],
        "per_system": {row["attack"]: row["eer"] for row in report["per_attack"]},
        "train_cpu_s": cpu, "train_wall_s": wall,
    }
    with open(result_path, "w", encoding="utf-8") as file:
        json.dump(result, file, indent=1)
    print(f"{name} seed {seed}: dev {100 * dev_eer:.2f}%  eval {100 * result['eval_eer']:.2f}%  "
          f"train {cpu / 60:.1f} CPU-min ({wall / 60:.1f} min wall)", flush=True)
    return result


def _mean_std(values):
    values = 100 * np.asarray(values, dtype=np.float64)
    return f"{values.mean():5.1f}±{values.std():4.1f}" if len(values) > 1 else f"{values.mean():5.1f}     "


def table(results, systems):
    """The printed table: one row per recipe, EER in % as mean ± std over seeds (population std)."""
    header = (f"{'recipe':<22} {'n':>2} {'dev':>10} {'eval':>10} {'neural':>10} "
              + " ".join(f"{s:>10}" for s in systems) + f" {'CPU-min':>8}")
    lines = [header, "-" * len(header)]
    for name, runs in results.items():
        if not runs:
            continue
        neural = [np.mean([r["per_system"][s] for s in NEURAL_VOCODER_SYSTEMS if s in r["per_system"]])
                  for r in runs]
        cells = [_mean_std([r["per_system"].get(s, np.nan) for r in runs]) for s in systems]
        cpu = np.mean([r["train_cpu_s"] for r in runs]) / 60
        lines.append(f"{name:<22} {len(runs):>2} {_mean_std([r['dev_eer'] for r in runs]):>10} "
                     f"{_mean_std([r['eval_eer'] for r in runs]):>10} {_mean_std(neural):>10} "
                     + " ".join(f"{c:>10}" for c in cells) + f" {cpu:8.1f}")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shards", help="shard set to train and evaluate on (default: realdev under --work)")
    parser.add_argument("--data", default=REALDEV, help="corpus the shards are built from when missing (realdev)")
    parser.add_argument("--work", default=os.path.join("runs", "bench_recipes"), help="run directories and shards")
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated seeds (default 0,1,2)")
    parser.add_argument("--recipes", help=f"comma-separated subset of: {', '.join(RECIPES)}")
    parser.add_argument("--aasist-weights", default=get_pretrained("aasist").weights_path,
                        help="Keras weights of the published AASIST (default: the shipped aasist_asvspoof2019_la)")
    parser.add_argument("--list", action="store_true", help="list the recipes and exit")
    args = parser.parse_args(argv)
    if args.list:
        for name, recipe in RECIPES.items():
            print(f"{name:<22} {recipe.description}")
        return 0
    names = args.recipes.split(",") if args.recipes else list(RECIPES)
    unknown = [n for n in names if n not in RECIPES]
    if unknown:
        parser.error(f"--recipes: unknown {unknown}; choose from {', '.join(RECIPES)}")
    seeds = [int(s) for s in args.seeds.split(",")]
    os.makedirs(args.work, exist_ok=True)
    plain = args.shards or ensure_shards(os.path.join(args.work, "shards"), args.data, vocoded=False)
    vocoded = None
    if any(RECIPES[n].shards == "vocoded" for n in names):
        vocoded = ensure_shards(os.path.join(args.work, "shards_vocoded"), args.data, vocoded=True)
    weights = args.aasist_weights
    results = {}
    for name in names:
        recipe = RECIPES[name]
        shards = vocoded if recipe.shards == "vocoded" else plain
        results[name] = [run_recipe(name, recipe, seed, os.path.realpath(shards), args.work, weights)
                         for seed in (seeds if recipe.seeded else seeds[:1])]
    systems = sorted({s for runs in results.values() for r in runs for s in r["per_system"]})
    print(f"\nEER (%) on {ShardSet(plain).directory}: mean ± std over seeds {args.seeds}; 'neural' = mean of "
          f"{', '.join(NEURAL_VOCODER_SYSTEMS)}; CPU-min = training CPU time per run\n")
    print(table(results, systems))
    return 0


if __name__ == "__main__":
    sys.exit(main())
