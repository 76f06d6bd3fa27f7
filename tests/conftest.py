"""Shared miniature corpora, generated once per test session (exact counts per split)."""

import pytest

from tfrecord_builder.synthetic import generate_asvspoof2019

LA_COUNTS = {"train": (8, 24), "dev": (6, 18), "eval": (6, 26)}
PA_COUNTS = {"train": (6, 18), "dev": (4, 9), "eval": (4, 9)}
SECONDS = {"min_seconds": 0.5, "max_seconds": 1.5}


@pytest.fixture(scope="session")
def la_corpus(tmp_path_factory):
    """Official layout: `<root>/LA/ASVspoof2019_LA_{split}/flac` with `LA_COUNTS`; returns `<root>`."""
    return generate_asvspoof2019(tmp_path_factory.mktemp("la_official"), track="LA", layout="official",
                                 counts=LA_COUNTS, seed=0, **SECONDS)


@pytest.fixture(scope="session")
def la_corpus_kaggle(tmp_path_factory):
    """Kaggle layout: `<root>/LA/LA/ASVspoof2019_LA_{split}/flac` with `LA_COUNTS`; returns `<root>`."""
    return generate_asvspoof2019(tmp_path_factory.mktemp("la_kaggle"), track="LA", layout="kaggle",
                                 counts=LA_COUNTS, seed=1, **SECONDS)


@pytest.fixture(scope="session")
def pa_corpus(tmp_path_factory):
    """Official PA layout with `PA_COUNTS`, plus unlisted enrolment files in dev/eval; returns `<root>`."""
    return generate_asvspoof2019(tmp_path_factory.mktemp("pa_official"), track="PA", layout="official",
                                 counts=PA_COUNTS, seed=0, **SECONDS)


@pytest.fixture(scope="session")
def corpus_spec():
    """What the corpus fixtures were asked for: {"LA": counts, "PA": counts, "seconds": duration range}."""
    return {"LA": LA_COUNTS, "PA": PA_COUNTS, "seconds": SECONDS}
