"""`RunDir` decides alone whether a folder may hold a run, and names a damaged file of one."""

import json

import pytest

from pipelines.config import RunConfig
from pipelines.run_dir import RunDir, RunDirConflict, RunDirError
from run_fixtures import build_tiny_model, write_run


def test_a_new_folder_starts_and_the_same_configuration_resumes(tmp_path):
    run = RunDir(tmp_path / "run")
    config = RunConfig.from_dict({"train": {"epochs": 3}})
    assert run.prepare(config) is True
    assert run.prepare(config) is False
    assert run.load_config() == config


def test_another_configuration_is_refused_naming_what_differs(tmp_path):
    run = RunDir(tmp_path / "run")
    run.prepare(RunConfig.from_dict({"train": {"epochs": 3}}))
    with pytest.raises(RunDirConflict, match="train.epochs: 3 there, 5 now"):
        run.prepare(RunConfig.from_dict({"train": {"epochs": 5}}))


def test_a_folder_of_other_files_is_refused_and_left_alone(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(RunDirConflict, match="not empty and holds no run"):
        RunDir(tmp_path).prepare(RunConfig())
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_a_truncated_model_is_named(tmp_path):
    run_config, model = build_tiny_model()
    run = RunDir(write_run(tmp_path / "run", run_config, model))
    data = open(run.model_path, "rb").read()
    open(run.model_path, "wb").write(data[: len(data) // 3])
    with pytest.raises(RunDirError, match="model.keras: not a loadable .keras model"):
        run.load_model()


def test_a_damaged_config_is_named(tmp_path):
    run = RunDir(tmp_path)
    (tmp_path / "config.json").write_text('{"train": {"epochs": 3')
    with pytest.raises(ValueError, match="config.json: not valid JSON"):
        run.load_config()
    (tmp_path / "config.json").write_text(json.dumps({"train": {"epochs": "many"}}))
    with pytest.raises(RunDirError, match="config.json: not a configuration this fakespeech reads.*train.epochs"):
        run.load_config()
