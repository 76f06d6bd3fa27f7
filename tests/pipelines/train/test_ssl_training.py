"""SSL models in training: the front end's own learning rate and freezing (one Adam step, checked against Adam's
first-step size), the ssl presets' checks, and `ssl_aasist` (tiny) trained by `train()` on a generated corpus under
both Keras backends, each in its own process, with a falling loss."""

import csv
import os

import numpy as np
import pytest

from backend_process import run_python
from pipelines.config import ConfigError, RunConfig, resolve_run_config
from pipelines.config.stages import TrainConfig
from pipelines.train.training import train
from tfrecord_builder.shards import write_shard_set

BACKENDS = ("tensorflow", "jax")
BACK_END_LR, BACKBONE_LR = 1e-3, 1e-5

# One Adam step on a tiny ssl_linear whose top Transformer layer trains: Adam's first step moves each weight by
# lr * g / (|g| + eps), i.e. by lr wherever |g| >> eps = 1e-7, so the largest move of each group is its rate.
ONE_STEP = f"""
import json
import keras
import numpy as np
import models
from pipelines.config.stages import TrainConfig
from pipelines.train.training import build_optimizer

keras.utils.set_random_seed(0)
model = models.build("ssl_linear", (4000,), preset="tiny", ssl_trainable="top:1")
config = TrainConfig(learning_rate={BACK_END_LR}, backbone_learning_rate={BACKBONE_LR}, schedule="constant")
model.compile(optimizer=build_optimizer(config, 1, model), loss=keras.losses.BinaryCrossentropy(from_logits=True))
rng = np.random.default_rng(0)
y = np.tile([0.0, 1.0], 4).astype("float32")[:, None]
x = (0.1 * rng.standard_normal((8, 4000)) + y * np.sin(np.arange(4000) * 0.8)).astype("float32")
trainable = {{v.path for v in model.trainable_variables}}
before = {{v.path: np.array(keras.ops.convert_to_numpy(v)) for v in model.weights}}
model.train_on_batch(x, y)
moves = {{v.path: float(np.max(np.abs(keras.ops.convert_to_numpy(v) - before[v.path]))) for v in model.weights}}
print(json.dumps({{"moves": moves, "trainable": sorted(trainable), "optimizer": type(model.optimizer).__name__}}))
"""


@pytest.mark.parametrize("backend", BACKENDS)
def test_backbone_and_back_end_move_by_their_own_learning_rates(backend):
    result = run_python(ONE_STEP, backend)

    moves, trainable = result["moves"], set(result["trainable"])
    assert result["optimizer"] == "MultiOptimizer"
    backbone = {p: m for p, m in moves.items() if p.startswith("ssl_backbone/") and p in trainable}
    frozen = {p: m for p, m in moves.items() if p.startswith("ssl_backbone/") and p not in trainable
              and not p.endswith("seed_generator_state")}
    back_end = {p: m for p, m in moves.items() if not p.startswith("ssl_backbone/") and p in trainable}
    assert backbone and frozen and back_end
    assert all("encoder_layer_1/" in p or "encoder_layer_norm" in p for p in backbone)  # top:1 of 2 layers
    assert any("encoder_layer_0/" in p for p in frozen)
    assert max(frozen.values()) == 0.0
    # float32 weights near 1 resolve steps to ~1e-7: 1 % of the backbone's 1e-5
    assert max(backbone.values()) == pytest.approx(BACKBONE_LR, rel=2e-2)
    assert max(back_end.values()) == pytest.approx(BACK_END_LR, rel=1e-3)


def test_both_groups_moments_survive_a_backup_weights_file(tmp_path):
    # What resuming a killed run relies on: fit builds the optimizer, then BackupAndRestore loads the weights file.
    import keras

    import models
    from pipelines.train.training import build_optimizer

    config = TrainConfig(learning_rate=BACK_END_LR, backbone_learning_rate=BACKBONE_LR, schedule="constant")
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((4, 4000)).astype("float32"), np.array([[0.0], [1.0], [0.0], [1.0]], "float32")
    trained, fresh = (models.build("ssl_linear", (4000,), preset="tiny", ssl_trainable="all") for _ in range(2))
    for model in (trained, fresh):
        model.compile(optimizer=build_optimizer(config, 1, model), loss=keras.losses.BinaryCrossentropy(from_logits=True))
    trained.train_on_batch(x, y)
    trained.save_weights(tmp_path / "latest.weights.h5")
    fresh.optimizer.build(fresh.trainable_variables)

    fresh.load_weights(tmp_path / "latest.weights.h5")

    saved = [np.asarray(v) for v in trained.optimizer.variables]
    loaded = [np.asarray(v) for v in fresh.optimizer.variables]
    assert len(saved) == len(loaded) > 2 * len(trained.trainable_variables)  # two moments per variable, both groups
    for before, after in zip(saved, loaded):
        np.testing.assert_array_equal(after, before)


def test_backbone_schedule_keeps_the_shape_of_the_back_ends():
    from pipelines.train.finetune import backbone_train_config

    config = TrainConfig(learning_rate=1e-4, min_learning_rate=1e-6, backbone_learning_rate=1e-6)
    backbone = backbone_train_config(config)
    assert (backbone.learning_rate, backbone.min_learning_rate) == (1e-6, pytest.approx(1e-8))


def test_backbone_learning_rate_must_be_positive():
    with pytest.raises(ConfigError, match="train.backbone_learning_rate"):
        TrainConfig(backbone_learning_rate=0.0)


def test_backbone_learning_rate_is_refused_for_a_model_without_ssl_front_end(tmp_path):
    config = RunConfig.from_dict({"train": {"backbone_learning_rate": 1e-5}})
    with pytest.raises(ConfigError, match="train.backbone_learning_rate: applies to the SSL front end"):
        train(config, str(tmp_path / "run"))
    assert not os.path.exists(tmp_path / "run")


def test_ssl_preset_without_pretrained_weights_names_the_setting(tmp_path):
    config = resolve_run_config("ssl_aasist", flags={"data": {"shards": str(tmp_path)}})
    with pytest.raises(ConfigError, match=r"model\.pretrained_weights: .*convert-weights wav2vec2"):
        train(config, str(tmp_path / "run"))
    assert not os.path.exists(tmp_path / "run")


def test_ssl_presets_follow_the_published_recipe():
    preset = resolve_run_config("ssl_aasist")
    # TakHemlata/SSL_Anti-spoofing main_SSL_LA.py / data_utils_SSL.py
    assert (preset.data.clip_samples, preset.data.batch_size, preset.train.epochs) == (64600, 14, 100)
    assert (preset.train.learning_rate, preset.train.backbone_learning_rate, preset.train.weight_decay) == (
        1e-6, 1e-6, 1e-4)
    assert preset.train.spoof_loss_weight == pytest.approx(0.1 / 0.9)
    assert (preset.augment.rawboost_probability, preset.augment.rawboost_algo) == (1.0, "lnl+isd")  # --algo 5
    assert resolve_run_config("ssl_linear").model.params["ssl_trainable"] == "none"


# --- training through train() under both backends ---

CLIP = 4000  # 12 SSL frames of the tiny backbone
TONE_HZ = 2000.0


def _corpus(per_class, seed):
    """Bona fide: noise; spoof: noise plus a 2 kHz tone. Separable, so a few steps lower the loss."""
    rng = np.random.default_rng(seed)
    fields = []
    for index in range(2 * per_class):
        target = index % 2
        x = 0.1 * rng.standard_normal(CLIP) + target * 0.3 * np.sin(2 * np.pi * TONE_HZ * np.arange(CLIP) / 16000)
        fields.append({"samples": np.round(x * 32767).astype(np.int16), "id": f"LA_{seed}_{index:04d}",
                       "system_id": "A01" if target else "-", "target": target})
    return fields


@pytest.fixture(scope="module")
def separable_shards(tmp_path_factory):
    directory = str(tmp_path_factory.mktemp("ssl_shards"))
    # No dev split: a dev pass per epoch would double what JAX compiles, and the loss is what this test checks.
    write_shard_set(directory, {"train": _corpus(8, seed=0)}, {"train": 2}, sample_rate=16000)
    return directory


TRAIN = """
import json, sys
from pipelines.config import resolve_run_config
from pipelines.train.training import train
shards, run_dir = sys.argv[1:3]
overrides = ["data.clip_samples=4000", "data.batch_size=8", "data.shuffle_buffer=16", "model.params.preset=tiny",
             "augment.rawboost_probability=0.0", "train.epochs=4", "train.learning_rate=0.001",
             "train.backbone_learning_rate=0.0001", "train.seed=0"]
config = resolve_run_config("ssl_aasist", flags={"data": {"shards": shards}}, overrides=overrides)
summary = train(config, run_dir, verbose=0)
print(json.dumps({"backend": summary["backend"], "epochs": summary["epochs_run"]}))
"""


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_ssl_aasist_trains_and_its_loss_falls(backend, separable_shards, tmp_path):
    run_dir = tmp_path / "run"

    result = run_python(TRAIN, backend, args=(separable_shards, run_dir))

    assert result == {"backend": backend, "epochs": 4}
    with open(run_dir / "history.csv", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    losses = [float(row["loss"]) for row in rows]
    assert len(losses) == 4 and all(np.isfinite(losses))
    # Falls from the first epoch's mean (already partly trained) and ends well below chance, ln 2 for two
    # balanced classes: how much of the fall lands in epoch 1 varies with the backend's thread timing.
    assert losses[-1] < losses[0] and losses[-1] < 0.5 * np.log(2), losses
    assert float(rows[0]["learning_rate"]) == pytest.approx(1e-3)  # the back end's rate is the run's
    assert os.path.isfile(run_dir / "model.keras")
