"""Every notebook runs top to bottom on a tiny generated corpus, with its parameters cell overridden.

They run as on a TPU VM, minus the TPU: Keras on JAX (the notebooks' default backend) over 8 virtual CPU devices,
so training, evaluation and scoring are data-parallel exactly as over a v3-8's or v5e-8's chips.
"""

import pathlib

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = pathlib.Path(__file__).resolve().parents[2] / "notebooks"
DEVICES = 8
# The kernels' environment: 8 JAX CPU devices; the backend is what each notebook's BACKEND sets.
KERNEL_ENV = {"XLA_FLAGS": f"--xla_force_host_platform_device_count={DEVICES}", "TF_CPP_MIN_LOG_LEVEL": "2"}


def run_notebook(name, workdir, **parameters):
    """Executes `notebooks/name` in `workdir`, with `parameters` injected after the cell tagged "parameters"."""
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    index = next(i for i, cell in enumerate(notebook.cells) if "parameters" in cell.metadata.get("tags", []))
    source = "\n".join(f"{key} = {value!r}" for key, value in parameters.items())
    injected = nbformat.v4.new_code_cell(source, metadata={"tags": ["injected-parameters"]})
    notebook.cells.insert(index + 1, injected)
    NotebookClient(notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(workdir)}}).execute()
    return notebook


def outputs_text(notebook):
    return "\n".join(
        output.get("text", "") + str(output.get("data", {}).get("text/plain", ""))
        for cell in notebook.cells if cell.cell_type == "code" for output in cell.get("outputs", [])
    )


@pytest.fixture(scope="module", autouse=True)
def kernel_environment():
    """Kernels inherit the test process's environment: set the devices, drop a backend chosen outside."""
    with pytest.MonkeyPatch.context() as patch:
        for key, value in KERNEL_ENV.items():
            patch.setenv(key, value)
        patch.delenv("KERAS_BACKEND", raising=False)
        yield


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("notebooks")


@pytest.fixture(scope="module")
def built(workdir):
    notebook = run_notebook("01_build_shards.ipynb", workdir, DATA_ROOT=None, OUT_DIR="shards", NUM_SHARDS=2)
    return workdir / "shards", notebook


@pytest.fixture(scope="module")
def trained(built, workdir):
    shards, _ = built
    notebook = run_notebook(
        "02_train_evaluate.ipynb", workdir, SHARDS=str(shards), MODEL="custom_cnn", FEATURES="logmel",
        CLIP_SAMPLES=8000, EPOCHS=1, BATCH_SIZE=2, RUN_DIR="run", SAVE_TO=str(workdir / "bucket" / "run"),
        MODEL_PARAMS={"filters": [4, 8], "dense_units": 8, "pooling": "avg"},
    )
    return workdir / "run", notebook


@pytest.mark.slow
def test_build_notebook_writes_shards_and_manifest(built):
    shards, notebook = built
    assert (shards / "manifest.json").is_file()
    assert sorted(p.name.split("-")[0] for p in shards.glob("*.tfrec")) == ["dev"] * 2 + ["eval"] * 2 + ["train"] * 2
    assert "BUCKET not set" in outputs_text(notebook)


@pytest.mark.slow
def test_train_notebook_trains_and_reports(trained):
    run_dir, notebook = trained
    assert (run_dir / "model.keras").is_file()
    assert (run_dir / "eval-eval" / "report.json").is_file()
    text = outputs_text(notebook)
    assert "pooled EER" in text
    # Data-parallel over the 8 devices, 2 rows each; the run copied where a later session finds it.
    assert "backend jax; devices: 8 x cpu; distribution: DataParallel over 8 devices" in text
    assert "global batch 16 (2 per device)" in text
    copied = run_dir.parent / "bucket" / "run"
    assert (copied / "model.keras").read_bytes() == (run_dir / "model.keras").read_bytes()
    assert (copied / "config.json").read_bytes() == (run_dir / "config.json").read_bytes()


@pytest.mark.slow
def test_score_notebook_scores_audio(trained, workdir):
    run_dir, _ = trained
    audio = sorted((workdir / "generated_corpus").rglob("*.flac"))[:3]
    # Scored from the copy notebook 2 saved, as a later session would.
    copied = run_dir.parent / "bucket" / "run"
    notebook = run_notebook("03_score_audio.ipynb", workdir, RUN_DIR=str(copied), AUDIO=[str(p) for p in audio])
    text = outputs_text(notebook)
    assert all(path.name in text for path in audio)
    assert "decision" in text


@pytest.mark.slow
def test_aasist_notebook_reproduces_the_reference_and_reports(built, workdir):
    shared = pathlib.Path(__file__).resolve().parents[2].parent / "shared" / "aasist"
    if not (shared / "AASIST-L.pth").is_file():
        pytest.skip(f"the published AASIST weights are not at {shared}")
    pytest.importorskip("torch", reason="reading the .pth weights needs the optional torch extra")
    shards, _ = built
    notebook = run_notebook(
        "aasist_la_eval.ipynb", workdir, SHARDS_DIR=str(shards), VARIANT="aasist_l",
        WEIGHTS=str(shared / "AASIST-L.pth"), REFERENCE_DIR=str(shared), BATCH_SIZE=1, LIMIT=16,
    )
    text = outputs_text(notebook)
    difference = float(text.split("max |ours - published| on the reference input:")[1].split()[0])
    assert difference < 1e-3
    assert (workdir / "aasist_la_eval" / "report.json").is_file()
