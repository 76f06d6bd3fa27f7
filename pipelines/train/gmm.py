"""`fakespeech train` for the `gmm` model: the two mixtures fitted with scikit-learn's EM on whole training utterances.

This is how ASVspoof 2019 baseline B2 (`--preset lfcc_gmm`) is trained: the run's feature front end turns every
training utterance, whole (not cropped), into frames; one diagonal GMM is fitted to the bona fide frames and one
to the spoof frames (`sklearn.mixture.GaussianMixture`, k-means initialisation, `train.epochs` EM iterations,
`train.seed`); their parameters become the weights of `models.gmm.GaussianMixtureScore` inside the usual end-to-end
model (waveform -> features -> [B2 deltas] -> mean frame LLR), saved as the run's `model.keras`. From there
`evaluate`, `predict` and `export` treat it like any other run.

Differences from B2's MATLAB code, none of which changes a log-likelihood ratio by more than a little: no 0.97
pre-emphasis (a fixed linear filter, close to a constant shift of the cepstra, which the mixtures absorb); natural
instead of base-10 logarithms (a scale, which cancels in the ratio); scikit-learn's k-means start instead of
VLFeat's random one; the periodic Hamming window centred in a 512-sample frame (librosa's framing).
"""

import csv
import io
import warnings

import numpy as np
import tensorflow as tf

from models.gmm import GaussianMixtureScore
from pipelines.data import audio_ops
from pipelines.data.datasets import naming_damaged_shards
from pipelines.evaluate.metrics import compute_eer
from pipelines.evaluate.scoring import score_split
from pipelines.run_dir import RunDir
from pipelines.train.end_to_end import build_end_to_end
from tfrecord_builder import atomic
from tfrecord_builder.dataclass_config import ConfigError
from tfrecord_builder.schema import decode_audio, parse_example

GMM_MODEL = "gmm"
# Added to every variance, in the standardised frame space (unit variance overall): keeps a component that
# settles on repeated frames (digital silence, a repeated clip) from collapsing onto them.
VARIANCE_FLOOR = 1e-3


def is_gmm_run(run_config):
    return run_config.model.name == GMM_MODEL


def check_gmm_config(run_config):
    """What a GMM fit cannot honour is refused, naming the key: gradient-training options are not silently ignored."""
    if run_config.train.epochs < 1:
        raise ConfigError("train.epochs: the gmm model is fitted by EM, train.epochs iterations of it; it must be >= 1")
    if run_config.features.normalization != "none":
        raise ConfigError("features.normalization: the gmm model standardises its frames itself; set "
                          "features.normalization=none")
    augment = run_config.augment
    enabled = [name for name, value in augment.to_dict().items() if name.endswith("_probability") and value]
    if enabled:
        raise ConfigError(f"augment.{enabled[0]}: the gmm model is fitted on the training frames as they are; set "
                          f"the augmentation probabilities to 0 ({', '.join('augment.' + n for n in enabled)})")


def utterance_waveforms(shards, split, data_config):
    """(waveform float32 (samples,), target) for every utterance of `split`, whole, in file order (NumPy)."""

    def decode(serialized):
        example = parse_example(serialized)
        waveform = decode_audio(example["audio"])
        if data_config.trim_silence:
            waveform = audio_ops.trim_silence(waveform, data_config.trim_top_db)
        if data_config.normalize:
            waveform = audio_ops.normalize(waveform, data_config.normalize_mode)
        return waveform, example["target"]

    records = tf.data.TFRecordDataset(shards.files(split)).map(decode, num_parallel_calls=tf.data.AUTOTUNE,
                                                                deterministic=True)
    for waveform, target in records.as_numpy_iterator():
        yield waveform, int(target)


def _frame_extractor(model, run_config):
    """waveform (samples,) -> frames (time, dims) exactly as `model` computes them before the GMM score layer."""
    feature_layer = model.get_layer("features")
    backbone = model.get_layer(GMM_MODEL)
    deltas = backbone.get_layer("b2_deltas") if run_config.model.params.get("append_deltas") else None
    shortest = run_config.features.n_fft if not run_config.features.center else 2

    def frames(waveform):
        if waveform.shape[0] < shortest:  # fewer samples than one frame: repeat them, as the data pipeline pads
            waveform = np.resize(waveform, shortest) if waveform.shape[0] else np.zeros(shortest, np.float32)
        features = feature_layer(waveform[None, :])  # (1, time, bins)
        if deltas is not None:
            features = deltas(features)
        return np.asarray(features, dtype=np.float64)[0]

    return frames


def training_frames(model, run_config, shards):
    """`(bona fide frames, spoof frames)`, each (frames, dims) float64, over the whole training utterances."""
    extract = _frame_extractor(model, run_config)
    per_class = {0: [], 1: []}
    with naming_damaged_shards(shards):
        for waveform, target in utterance_waveforms(shards, run_config.data.train_split, run_config.data):
            per_class[target].append(extract(waveform))
    for target, name in ((0, "bona fide"), (1, "spoof")):
        if not per_class[target]:
            raise ValueError(f"split {run_config.data.train_split!r} of {shards.directory} has no {name} utterances "
                             "to fit its GMM on")
    return np.concatenate(per_class[0]), np.concatenate(per_class[1])


def fit_mixture(frames, components, iterations, seed):
    """A fitted diagonal `sklearn.mixture.GaussianMixture` and whether EM converged within `iterations`."""
    # scikit-learn is imported here: only GMM runs need it, and it costs a second at import time.
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.mixture import GaussianMixture

    if frames.shape[0] < components:
        raise ValueError(f"model.params.components={components} exceeds the {frames.shape[0]} training frames of a "
                         "class; lower it")
    mixture = GaussianMixture(n_components=components, covariance_type="diag", max_iter=iterations,
                              reg_covar=VARIANCE_FLOOR, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # B2 itself stops after 10 iterations; reported below
        mixture.fit(frames)
    return mixture, bool(mixture.converged_)


def score_layer(model):
    """The `GaussianMixtureScore` layer inside an end-to-end model."""
    for layer in model.get_layer(GMM_MODEL).layers:
        if isinstance(layer, GaussianMixtureScore):
            return layer
    raise ValueError(f"model {model.name!r} holds no GaussianMixtureScore layer")


def set_mixtures(layer, offset, scale, mixtures):
    """Writes the standardisation and the two fitted mixtures (bona fide, spoof) into `layer`'s weights."""
    layer.offset.assign(offset.astype(np.float32))
    layer.scale.assign(scale.astype(np.float32))
    layer.means.assign(np.stack([m.means_ for m in mixtures]).astype(np.float32))
    layer.variances.assign(np.stack([m.covariances_ for m in mixtures]).astype(np.float32))
    layer.log_weights.assign(np.log(np.stack([m.weights_ for m in mixtures])).astype(np.float32))


def fit_gmm_model(run_config, shards, verbose=1):
    """The fitted end-to-end model and a dict describing the fit (frames, convergence, mean log-likelihoods)."""
    model = build_end_to_end(run_config, with_augmentation=False)
    bona, spoof = training_frames(model, run_config, shards)
    pooled = np.concatenate([bona, spoof])
    offset, scale = pooled.mean(axis=0), np.maximum(pooled.std(axis=0), 1e-8)
    components = score_layer(model).components
    mixtures, converged = [], []
    for name, frames in (("bona fide", bona), ("spoof", spoof)):
        if verbose:
            print(f"fitting the {name} GMM: {components} components on {frames.shape[0]} frames of "
                  f"{frames.shape[1]} dims")
        mixture, done = fit_mixture((frames - offset) / scale, components, run_config.train.epochs,
                                    run_config.train.seed)
        mixtures.append(mixture)
        converged.append(done)
    set_mixtures(score_layer(model), offset, scale, mixtures)
    fit = {
        "frames": {"bonafide": int(bona.shape[0]), "spoof": int(spoof.shape[0])},
        "dims": int(bona.shape[1]),
        "components": components,
        "em_iterations": [int(m.n_iter_) for m in mixtures],
        "converged": converged,
    }
    return model, fit


def _dev_eer(model, run_config, shards):
    if not shards.has_split(run_config.data.dev_split):
        return None
    with naming_damaged_shards(shards):
        scores = score_split(model, shards, run_config.data.dev_split, run_config.data)
    is_spoof = (scores["key"] == "spoof").to_numpy()
    eer, _ = compute_eer(scores["score"].to_numpy()[~is_spoof], scores["score"].to_numpy()[is_spoof])
    return float(eer)


def _write_history(run, dev_eer):
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=["epoch", "val_eer"])
    writer.writeheader()
    writer.writerow({"epoch": 0, "val_eer": "" if dev_eer is None else dev_eer})
    atomic.write_text(run.history_path, buffer.getvalue())


def train_gmm(run_config, run_dir, shards, verbose=1):
    """Fits a `gmm` run in `run_dir` (as `pipelines.train.training.train` does for gradient-trained models).

    A killed fit leaves no model; running again with the same configuration fits again from the start (EM on a
    corpus that fits in memory takes seconds to minutes, so there is nothing worth resuming).

    Returns:
        The summary dict also written to `summary.json`; `best` holds the dev EER (epoch 0) when there is a dev split.
    """
    check_gmm_config(run_config)
    run = RunDir(run_dir)
    run.check_reusable(run_config)
    model, fit = fit_gmm_model(run_config, shards, verbose)
    dev_eer = _dev_eer(model, run_config, shards)
    with run.lock():
        run.prepare(run_config)
        if dev_eer is None:
            run.save_model(model)
        else:
            run.save_best(model, {"monitor": "val_eer", "value": dev_eer, "epoch": 0})
        _write_history(run, dev_eer)
        summary = {
            "model": run.model_path,
            "best": run.best(),
            "epochs_run": max(fit["em_iterations"]),
            "last_epoch_logs": {} if dev_eer is None else {"val_eer": dev_eer},
            "strategy": "scikit-learn EM on the host CPU",
            "precision": "float32",
            "global_batch": run_config.data.batch_size,
            "steps_per_epoch": 1,
            "gmm": fit,
        }
        run.save_summary(summary)
    if verbose:
        print(f"dev EER {100 * dev_eer:.2f}%" if dev_eer is not None else "no dev split: no dev EER")
    return summary
