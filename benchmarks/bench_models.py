"""Forward throughput (clips/s) of AASIST, AASIST-L and RawNet2 on 64,600-sample clips, per device and batch size.

    python benchmarks/bench_models.py [--models aasist aasist_l rawnet2] [--batch-sizes 1 32] [--repeats 3]
                                      [--samples 64600] [--jit]

Each (device, model, batch) is traced and run once as warm-up, then timed over `--repeats` calls of a compiled
`tf.function` (inference mode); figures exclude the warm-up. Runs on the CPU, and on the first GPU when one is
visible. Prints a table; nothing is asserted.

SSL front ends (`--ssl-presets xls_r_300m wavlm_base_plus ...`, `--ssl-batch-sizes`): the Keras backbone
(`models.ssl`, all hidden states, TensorFlow) against the PyTorch `transformers` model of the same architecture
(randomly initialised, eval mode, `torch.inference_mode`) on the same device and clips, with their ratio; needs
the `torch` extra. `--models ssl_aasist ssl_linear` times the full anti-spoofing models like the others.
"""

import argparse
import time

import numpy as np
import tensorflow as tf

import models
from models.heads import trainable_parameter_count
from models.ssl import SslBackbone, preset_config


def _devices():
    devices = ["/CPU:0"]
    if tf.config.list_physical_devices("GPU"):
        devices.append("/GPU:0")
    return devices


def measure(model, batch, repeats, jit):
    """Clips per second of `model` on random waveforms of `batch` clips (warm-up excluded)."""
    forward = tf.function(lambda x: model(x, training=False), jit_compile=jit)
    waveforms = tf.constant(
        0.1 * np.random.default_rng(0).standard_normal((batch, model.input_shape[1])), dtype=tf.float32
    )
    forward(waveforms).numpy()  # trace, compile and warm up
    start = time.perf_counter()
    for _ in range(repeats):
        forward(waveforms).numpy()  # .numpy() waits for the device
    return batch * repeats / (time.perf_counter() - start)


def measure_ssl_backbone(preset, batch, repeats, samples, jit):
    """Clips per second of the Keras SSL backbone of `preset` (every hidden state computed)."""
    backbone = SslBackbone(preset_config(preset), input_samples=samples)
    forward = tf.function(lambda x: backbone(x, training=False)["last_hidden_state"], jit_compile=jit)
    waveforms = tf.constant(0.1 * np.random.default_rng(0).standard_normal((batch, samples)), dtype=tf.float32)
    forward(waveforms).numpy()  # trace, compile and warm up
    start = time.perf_counter()
    for _ in range(repeats):
        forward(waveforms).numpy()
    return batch * repeats / (time.perf_counter() - start)


def measure_torch_ssl(preset, batch, repeats, samples, device):
    """Clips per second of the `transformers` model of the same architecture as `preset`, on `device`."""
    import torch  # optional (the `torch` extra): only the PyTorch reference needs them
    import transformers

    hf = preset_config(preset).to_hf_config()
    config = transformers.AutoConfig.for_model(hf.pop("model_type"), **hf)
    model = transformers.AutoModel.from_config(config).eval().to(device)
    waveforms = torch.from_numpy(
        (0.1 * np.random.default_rng(0).standard_normal((batch, samples))).astype("float32")).to(device)
    synchronize = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    with torch.inference_mode():
        model(waveforms, output_hidden_states=True)
        synchronize()
        start = time.perf_counter()
        for _ in range(repeats):
            model(waveforms, output_hidden_states=True)
        synchronize()
    return batch * repeats / (time.perf_counter() - start)


def compare_ssl(presets, batch_sizes, repeats, samples, jit):
    """Rows (device, preset, batch, keras clips/s, torch clips/s) of the SSL backbone comparison."""
    rows = []
    for device in _devices():
        torch_device = "cuda" if device.startswith("/GPU") else "cpu"
        for preset in presets:
            for batch in batch_sizes:
                with tf.device(device):
                    ours = measure_ssl_backbone(preset, batch, repeats, samples, jit)
                theirs = measure_torch_ssl(preset, batch, repeats, samples, torch_device)
                rows.append((device, preset, batch, ours, theirs))
                print(f"  {device} {preset} batch {batch}: keras {ours:.2f}, torch {theirs:.2f} clips/s", flush=True)
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="*", default=["aasist", "aasist_l", "rawnet2"])
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=[1, 32])
    parser.add_argument("--repeats", type=int, default=3, help="timed calls per (device, model, batch)")
    parser.add_argument("--samples", type=int, default=64600, help="clip length in samples")
    parser.add_argument("--jit", action="store_true", help="compile the forward pass with XLA")
    parser.add_argument("--ssl-presets", nargs="*", default=[],
                        help="SSL backbone presets to compare with transformers (e.g. xls_r_300m wavlm_base_plus)")
    parser.add_argument("--ssl-batch-sizes", nargs="+", type=int, default=[1, 8])
    args = parser.parse_args(argv)

    rows = []
    for device in _devices():
        with tf.device(device):
            for name in args.models:
                model = models.build(name, (args.samples,))
                for batch in args.batch_sizes:
                    rate = measure(model, batch, args.repeats, args.jit)
                    rows.append((device, name, trainable_parameter_count(model), batch, rate))
                    print(f"  {device} {name} batch {batch}: {rate:.2f} clips/s", flush=True)

    print(f"\nforward throughput, {args.samples} samples per clip, jit_compile={args.jit}, {args.repeats} timed calls")
    print(f"{'device':8} {'model':10} {'parameters':>12} {'batch':>6} {'clips/s':>10}")
    for device, name, params, batch, rate in rows:
        print(f"{device:8} {name:10} {params:>12,} {batch:>6} {rate:>10.2f}")

    if args.ssl_presets:
        ssl_rows = compare_ssl(args.ssl_presets, args.ssl_batch_sizes, args.repeats, args.samples, args.jit)
        print(f"\nSSL backbone forward, keras (TensorFlow) vs transformers (PyTorch), {args.samples} samples per clip")
        print(f"{'device':8} {'preset':16} {'batch':>6} {'keras':>10} {'torch':>10} {'keras/torch':>12}")
        for device, preset, batch, ours, theirs in ssl_rows:
            print(f"{device:8} {preset:16} {batch:>6} {ours:>10.2f} {theirs:>10.2f} {ours / theirs:>12.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
