"""OC-softmax and AM-softmax: heads and losses against PyTorch references written from the papers' definitions.

The references follow the published code (AIR-ASVspoof's `F.normalize`, margins, softplus / margin cross-entropy),
with labels 0 = bona fide, 1 = spoof; a soft label y (MixUp) weighs the two hard-label losses, y and 1 - y.
"""

import keras
import numpy as np
import pytest
import torch
import torch.nn.functional as F

import models
from backend_worker import case_input, loss_and_gradients, margin_inputs
from models.heads import output_layers
from models.losses import AMSoftmaxLoss, OCSoftmaxLoss, check_compatible, get_loss, head_arguments
from models.margin_heads import AMSoftmaxScore, OCSoftmaxScore


def torch_ocsoftmax(embeddings, center, labels, alpha=20.0, m_real=0.9, m_fake=0.2):
    """Zhang, You & Duan (2021): softplus(alpha (m_real - cos)) for bona fide, softplus(alpha (cos - m_fake)) spoof."""
    w = F.normalize(center, p=2, dim=1)  # (1, dims)
    x = F.normalize(embeddings, p=2, dim=1)
    cos = (x @ w.transpose(0, 1))[:, 0]
    bona_fide = F.softplus(alpha * (m_real - cos))
    spoof = F.softplus(alpha * (cos - m_fake))
    return (labels * spoof + (1 - labels) * bona_fide).mean()


def torch_amsoftmax(embeddings, centers, labels, s=20.0, m=0.9):
    """Wang et al. (2018), two classes: cross-entropy of s * (cos - m * onehot(label)); centers (2, dims)."""
    x = F.normalize(embeddings, p=2, dim=-1)
    w = F.normalize(centers, p=2, dim=-1)
    cos = x @ w.transpose(0, 1)  # (batch, 2): bona fide, spoof
    per_label = []
    for label in (0, 1):
        target = torch.full((x.shape[0],), label, dtype=torch.long)
        margin_logits = s * (cos - m * F.one_hot(target, 2).to(cos.dtype))
        per_label.append(F.cross_entropy(margin_logits, target, reduction="none"))
    return (labels * per_label[1] + (1 - labels) * per_label[0]).mean()


def torch_reference(head):
    """(loss, d loss / d embeddings, d loss / d centre in our (dims, k) layout) from PyTorch autograd."""
    values = margin_inputs()
    embeddings = torch.tensor(values["embeddings"], requires_grad=True)
    labels = torch.tensor(values["labels"][:, 0])
    key = "ocsoftmax_center" if head == "ocsoftmax" else "amsoftmax_centers"
    center = torch.tensor(values[key].T.copy(), requires_grad=True)  # ours (dims, k) is the transpose
    loss = (torch_ocsoftmax if head == "ocsoftmax" else torch_amsoftmax)(embeddings, center, labels)
    loss.backward()
    return float(loss.detach()), embeddings.grad.numpy(), center.grad.numpy().T


def _ours_in_process(head):
    values = margin_inputs()
    inputs = keras.Input((5,))
    model = keras.Model(inputs, output_layers(inputs, head, {"embedding_units": None}))
    model.get_layer("predictions").set_weights([values["ocsoftmax_center" if head == "ocsoftmax" else "amsoftmax_centers"]])
    loss, (grad_x, grad_center) = loss_and_gradients(model, get_loss(head), values["embeddings"], values["labels"])
    return float(loss), np.asarray(grad_x), np.asarray(grad_center)


@pytest.mark.parametrize("head", ["ocsoftmax", "amsoftmax"])
def test_loss_and_gradients_match_the_pytorch_reference(head):
    loss, grad_x, grad_center = _ours_in_process(head)
    expected_loss, expected_x, expected_center = torch_reference(head)
    assert loss == pytest.approx(expected_loss, rel=1e-5)
    np.testing.assert_allclose(grad_x, expected_x, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(grad_center, expected_center, rtol=1e-4, atol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("head", ["ocsoftmax", "amsoftmax"])
def test_loss_and_gradients_match_the_pytorch_reference_under_jax(backend_runs, head):
    run = backend_runs["jax"]
    assert run.report["margin"]["error"] is None, run.report["margin"]["traceback"]
    expected_loss, expected_x, expected_center = torch_reference(head)
    assert float(run.arrays[f"margin/{head}/loss"]) == pytest.approx(expected_loss, rel=1e-5)
    np.testing.assert_allclose(run.arrays[f"margin/{head}/grad_embeddings"], expected_x, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(run.arrays[f"margin/{head}/grad_center"], expected_center, rtol=1e-4, atol=1e-6)


def _cosines(x, centers):
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    return x @ (centers / np.linalg.norm(centers, axis=0, keepdims=True))


def test_ocsoftmax_output_is_the_scaled_distance_below_the_margin_midpoint():
    x = np.random.default_rng(0).standard_normal((7, 4)).astype("float32")
    layer = OCSoftmaxScore(scale=10.0, margin_real=0.8, margin_fake=0.0)
    out = np.asarray(layer(x))
    cos = _cosines(x, np.asarray(layer.center))
    np.testing.assert_allclose(out, 10.0 * (0.4 - cos), rtol=1e-5, atol=1e-5)
    # The evaluation score -output ranks examples as the paper's score cos(x, w) does.
    assert np.array_equal(np.argsort(-out[:, 0]), np.argsort(cos[:, 0]))


def test_amsoftmax_output_is_the_scaled_cosine_difference():
    x = np.random.default_rng(1).standard_normal((7, 4)).astype("float32")
    layer = AMSoftmaxScore(scale=15.0)
    out = np.asarray(layer(x))
    cos = _cosines(x, np.asarray(layer.centers))  # column 0 bona fide, column 1 spoof
    np.testing.assert_allclose(out[:, 0], 15.0 * (cos[:, 1] - cos[:, 0]), rtol=1e-5, atol=1e-5)


def test_label_smoothing_moves_labels_towards_one_half():
    outputs = np.array([[-3.0], [2.0], [9.0]], "float32")
    for name in ("bce", "ocsoftmax", "amsoftmax"):
        smoothed = get_loss(name, label_smoothing=0.2)(np.array([[0.0], [1.0], [1.0]]), outputs)
        moved = get_loss(name)(np.array([[0.1], [0.9], [0.9]]), outputs)
        assert float(smoothed) == pytest.approx(float(moved), rel=1e-6), name


def test_bce_is_binary_cross_entropy_on_the_logit():
    logits = np.array([[-2.0], [0.5], [3.0]], "float32")
    labels = np.array([[0.0], [1.0], [0.25]], "float32")
    p = 1 / (1 + np.exp(-logits))
    expected = -(labels * np.log(p) + (1 - labels) * np.log(1 - p)).mean()
    assert float(get_loss("bce")(labels, logits)) == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize(("call", "message"), [
    (lambda: get_loss("focal"), "one of \\('bce', 'ocsoftmax', 'amsoftmax'\\)"),
    (lambda: get_loss("ocsoftmax", margin=0.5), "unknown options \\['margin'\\]"),
    (lambda: get_loss("amsoftmax", margin_real=0.5), "allowed: scale, margin, label_smoothing"),
    (lambda: get_loss("ocsoftmax", margin_real=0.1, margin_fake=0.2), "margin_fake < margin_real"),
    (lambda: get_loss("amsoftmax", scale=float("nan")), "scale must be a positive finite number"),
    (lambda: get_loss("ocsoftmax", label_smoothing=1.0), "label_smoothing must be in"),
])
def test_bad_loss_settings_are_named(call, message):
    with pytest.raises(ValueError, match=message):
        call()


@pytest.mark.parametrize(("head_options", "message"), [
    ({"margin": 0.3}, "unknown \\['margin'\\]"),
    ({"embedding_units": 0}, "embedding_units must be a positive integer"),
    ({"scale": -1.0}, "scale must be a positive"),
])
def test_bad_head_options_are_named(head_options, message):
    with pytest.raises(ValueError, match=message):
        models.build("lcnn", (32, 16), preset="tiny", head="ocsoftmax", head_options=head_options)


def test_an_unknown_head_is_named():
    with pytest.raises(ValueError, match="head must be one of"):
        models.build("dnn", (24,), preset="tiny", head="arcface")


def test_head_arguments_build_the_head_the_loss_needs():
    arguments = head_arguments("ocsoftmax", scale=16.0, margin_fake=0.3)
    model = models.build("conv1d", (32, 16), preset="tiny", **arguments)
    head = model.get_layer("predictions")
    assert (type(head), head.scale, head.margin_real, head.margin_fake) == (OCSoftmaxScore, 16.0, 0.9, 0.3)
    check_compatible(get_loss("ocsoftmax", scale=16.0, margin_fake=0.3), model)
    assert head_arguments("bce", {"embedding_units": 4}, label_smoothing=0.1) == {}


def test_head_arguments_keep_the_model_head_options_and_refuse_a_clash():
    arguments = head_arguments("amsoftmax", {"embedding_units": 4}, scale=10.0, label_smoothing=0.1)
    assert arguments == {"head": "amsoftmax", "head_options": {"embedding_units": 4, "scale": 10.0}}
    with pytest.raises(ValueError, match="disagree"):
        head_arguments("ocsoftmax", {"margin_real": 0.8})


@pytest.mark.parametrize(("loss", "head", "message"), [
    (OCSoftmaxLoss(), "linear", "needs a model built with head='ocsoftmax'"),
    (OCSoftmaxLoss(margin_fake=0.3), "ocsoftmax", "margin_fake: loss 0.3 vs head 0.2"),
    (AMSoftmaxLoss(), "ocsoftmax", "needs a model built with head='amsoftmax'"),
    (keras.losses.BinaryCrossentropy(from_logits=True), "amsoftmax", "train it with the loss amsoftmax"),
])
def test_check_compatible_finds_the_head_inside_a_wrapping_model(loss, head, message):
    backbone = models.build("dnn", (24,), preset="tiny", head=head)
    inputs = keras.Input((24,))
    wrapper = keras.Model(inputs, backbone(inputs), name="end_to_end")  # as the pipeline wraps a backbone
    with pytest.raises(ValueError, match=message):
        check_compatible(loss, wrapper)


def test_tiny_model_with_ocsoftmax_head_learns_and_round_trips(tmp_path):
    keras.utils.set_random_seed(3)
    model = models.build("lcnn", (32, 16), preset="tiny", **head_arguments("ocsoftmax"))
    x, y = case_input("lcnn")
    model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9), loss=get_loss("ocsoftmax"))
    losses = [float(model.train_on_batch(x, y)) for _ in range(15)]
    assert np.mean(losses[-3:]) < 0.5 * losses[0], losses

    path = tmp_path / "lcnn_ocsoftmax.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_array_equal(np.asarray(loaded(x, training=False)), np.asarray(model(x, training=False)))
    assert isinstance(loaded.loss, OCSoftmaxLoss) and loaded.loss.get_config() == model.loss.get_config()
    assert loaded.get_layer("predictions").get_config() == model.get_layer("predictions").get_config()


@pytest.mark.parametrize("head", ["ocsoftmax", "amsoftmax"])
def test_margin_heads_give_a_float32_output_under_mixed_precision(head):
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = models.build("resnet", (32, 16), preset="tiny", head=head, head_options={"embedding_units": 8})
        out = model(np.ones((2, 32, 16), "float32"), training=False)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert model.get_layer("head_embedding").compute_dtype == "float16"
    assert keras.backend.standardize_dtype(out.dtype) == "float32" and out.shape == (2, 1)

