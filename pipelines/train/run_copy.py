"""`copy_run(source, destination)`: a run directory copied between local folders and Cloud Storage (`gs://`).

A Kaggle or Colab session loses its disk when it ends. The notebooks train in a local run directory (on Kaggle
`/kaggle/working`, which becomes the notebook's output) and copy the run to where the next session finds it: a
bucket, or back from the attached output (`/kaggle/input/...`) to resume it or to score audio with it. `tf.io.gfile`
reads and writes local paths and `gs://` alike; every file is written through `tfrecord_builder.atomic`.
"""

import tensorflow as tf

from pipelines.run_dir import CONFIG_FILE
from tfrecord_builder import atomic
from tfrecord_builder.dataclass_config import ConfigError


def _join(folder, name):
    return f"{folder.rstrip('/')}/{name}"


def run_files(root):
    """Paths relative to `root` of the run's files; hidden names (lock and temporary files) are not the run's."""
    found = []
    for folder, _, names in tf.io.gfile.walk(root):
        relative = folder[len(root.rstrip("/")):].strip("/")
        if any(part.startswith(".") for part in relative.split("/") if part):
            continue
        found += [f"{relative}/{name}" if relative else name for name in names if not name.startswith(".")]
    return sorted(found)


def _held_config(root):
    path = _join(root, CONFIG_FILE)
    return tf.io.gfile.GFile(path).read() if tf.io.gfile.exists(path) else None


def copy_run(source, destination):
    """Copies every file of the run at `source` into `destination` (created if missing); returns the count.

    `destination` may be missing, empty, or hold the same run (same `config.json`: its files are updated).

    Raises:
        ConfigError: `source` holds no run, or `destination` holds another run or files that are no run's.
    """
    config = _held_config(source)
    if config is None:
        raise ConfigError(f"{source}: no {CONFIG_FILE}, not a run directory written by 'fakespeech train'")
    held = _held_config(destination) if tf.io.gfile.isdir(destination) else None
    if held is not None and held != config:
        raise ConfigError(f"{destination} holds another run (a different {CONFIG_FILE}); choose another destination")
    if held is None and tf.io.gfile.isdir(destination) and run_files(destination):
        raise ConfigError(f"{destination} is not empty and holds no run; choose another destination")
    names = run_files(source)
    # config.json last: a copy cut short is recognised as no run (or as the older state of the same run).
    for name in sorted(names, key=lambda name: name == CONFIG_FILE):
        target = _join(destination, name)
        tf.io.gfile.makedirs(target.rsplit("/", 1)[0])
        with atomic.atomic_path(target) as temporary:
            tf.io.gfile.copy(_join(source, name), temporary, overwrite=True)
    return len(names)
