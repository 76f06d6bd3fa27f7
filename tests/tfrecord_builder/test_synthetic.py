"""The synthetic ASVspoof2019 generator: layout, protocols, audio, determinism, attacks and the CLI."""

import collections
import pathlib
import re

import numpy as np
import pytest
import soundfile as sf
from scipy import signal

from pipelines.commands.make_corpus import main as make_corpus_main
from tfrecord_builder.synthetic import attacks, generate_asvspoof2019, speech

REAL_PROTOCOLS = pathlib.Path(__file__).resolve().parents[3] / "shared" / "asvspoof2019" / "LA_cm_protocols"
LA_LINE = re.compile(r"^LA_\d{4} LA_[TDE]_\d{7} - (A\d{2}|-) (spoof|bonafide)$")
PA_LINE = re.compile(r"^PA_\d{4} PA_[TDE]_\d{7} [abc]{3} ([ABC]{2}|-) (spoof|bonafide)$")
PROTOCOL_NAMES = {"train": "train.trn", "dev": "dev.trl", "eval": "eval.trl"}
TINY = {"min_seconds": 0.3, "max_seconds": 0.5}


def protocol(root, track, split):
    path = root / f"ASVspoof2019_{track}_cm_protocols" / f"ASVspoof2019.{track}.cm.{PROTOCOL_NAMES[split]}.txt"
    return path.read_text(encoding="utf-8").splitlines()


def checked_fields(corpus, track, split, line_pattern, counts):
    """The split's protocol lines split into fields, once every line matched and the key counts are `counts`."""
    lines = protocol(corpus / track, track, split)
    assert all(line_pattern.match(line) for line in lines), lines[:3]
    fields = [line.split() for line in lines]
    n_bona, n_spoof = counts
    assert collections.Counter(f[4] for f in fields) == {"bonafide": n_bona, "spoof": n_spoof}
    return fields


def test_la_protocols_have_the_real_line_format_and_the_requested_counts(la_corpus, corpus_spec):
    la_counts = corpus_spec["LA"]
    for split, counts in la_counts.items():
        fields = checked_fields(la_corpus, "LA", split, LA_LINE, counts)
        assert all((f[3] == "-") == (f[4] == "bonafide") for f in fields)
        per_attack = collections.Counter(f[3] for f in fields if f[4] == "spoof")
        expected = [f"A{i:02d}" for i in (range(7, 20) if split == "eval" else range(1, 7))]
        assert sorted(per_attack) == expected
        # Round-robin: attack counts differ by at most one.
        assert max(per_attack.values()) - min(per_attack.values()) <= 1


@pytest.mark.skipif(not REAL_PROTOCOLS.is_dir(), reason=f"real protocols not found at {REAL_PROTOCOLS}")
def test_the_line_pattern_matches_the_real_protocol_files():
    for path in sorted(REAL_PROTOCOLS.glob("*.txt")):
        with path.open(encoding="utf-8") as lines:
            head = [next(lines).rstrip("\n") for _ in range(200)]
        assert all(LA_LINE.match(line) for line in head), path


def test_ids_are_unique_and_speakers_disjoint_between_splits(la_corpus, corpus_spec):
    la_counts = corpus_spec["LA"]
    ids, speakers = [], {}
    for split in la_counts:
        fields = [line.split() for line in protocol(la_corpus / "LA", "LA", split)]
        ids += [f[1] for f in fields]
        assert {f[1][3] for f in fields} == {split[0].upper()}
        speakers[split] = {f[0] for f in fields}
        assert len(speakers[split]) >= 2
    assert len(ids) == len(set(ids))
    assert not (speakers["train"] & speakers["dev"] or speakers["train"] & speakers["eval"]
                or speakers["dev"] & speakers["eval"])


def test_protocol_order_mixes_classes_and_is_not_sorted(la_corpus):
    lines = protocol(la_corpus / "LA", "LA", "train")
    assert lines != sorted(lines)
    assert lines != sorted(lines, key=lambda line: line.split()[1])
    keys = [line.split()[4] for line in lines]
    first_spoof = keys.index("spoof")
    assert "bonafide" in keys[first_spoof:]


def test_every_protocol_line_has_a_16k_int16_mono_flac_in_the_duration_range(la_corpus, corpus_spec):
    la_counts, seconds = corpus_spec["LA"], corpus_spec["seconds"]
    for split in la_counts:
        folder = la_corpus / "LA" / f"ASVspoof2019_LA_{split}" / "flac"
        ids = [line.split()[1] for line in protocol(la_corpus / "LA", "LA", split)]
        assert sorted(p.stem for p in folder.glob("*.flac")) == sorted(ids)
        for utt in ids[:8]:
            info = sf.info(folder / f"{utt}.flac")
            assert (info.format, info.subtype, info.samplerate, info.channels) == ("FLAC", "PCM_16", 16000, 1)
            samples, rate = sf.read(folder / f"{utt}.flac", dtype="int16")
            duration = len(samples) / rate
            assert seconds["min_seconds"] - 1 / rate <= duration <= seconds["max_seconds"] + 1 / rate
            assert np.abs(samples).max() > 32767 // 8  # peak normalised, never silent


def test_kaggle_layout_nests_the_track_folder(la_corpus_kaggle, corpus_spec):
    nested = la_corpus_kaggle / "LA" / "LA"
    assert (nested / "ASVspoof2019_LA_train" / "flac").is_dir()
    assert (nested / "ASVspoof2019_LA_cm_protocols" / "ASVspoof2019.LA.cm.eval.trl.txt").is_file()
    assert not (la_corpus_kaggle / "LA" / "ASVspoof2019_LA_train").exists()
    la_counts = corpus_spec["LA"]
    assert len(protocol(nested, "LA", "dev")) == sum(la_counts["dev"])


def test_pa_lines_carry_environment_and_replay_attack_and_folders_hold_unlisted_files(pa_corpus, corpus_spec):
    pa_counts = corpus_spec["PA"]
    for split, counts in pa_counts.items():
        fields = checked_fields(pa_corpus, "PA", split, PA_LINE, counts)
        assert {f[3] for f in fields if f[4] == "spoof"} == set(attacks.PA_ATTACKS)
        files = {p.stem for p in (pa_corpus / "PA" / f"ASVspoof2019_PA_{split}" / "flac").glob("*.flac")}
        listed = {f[1] for f in fields}
        assert listed <= files
        # The builder must read protocols: dev/eval folders hold extra (enrolment) files, as in the real corpus.
        assert len(files - listed) == (0 if split == "train" else 2)


def _tiny_corpus(path, seed, track="LA"):
    return generate_asvspoof2019(path, track=track, counts={"train": (2, 6)}, seed=seed, **TINY)


def _file_bytes(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_writes_identical_bytes_and_another_seed_differs(tmp_path):
    first = _file_bytes(_tiny_corpus(tmp_path / "a", seed=3))
    again = _file_bytes(_tiny_corpus(tmp_path / "b", seed=3))
    other = _file_bytes(_tiny_corpus(tmp_path / "c", seed=4))
    assert first == again
    audio = [name for name in first if name.endswith(".flac")]
    assert len(audio) == 8
    assert set(first) != set(other)  # new seed, new utterance ids


def _log_spectrogram(x):
    # scipy's STFT, not the generator's own, as the reference analysis.
    _, _, spec = signal.stft(x, nperseg=512, noverlap=384)
    log = np.log10(np.abs(spec) ** 2 + 1e-10)
    return log - log.mean()


@pytest.fixture(scope="module")
def talker():
    return speech.make_voice(np.random.default_rng(11))


@pytest.fixture(scope="module")
def speech_sample(talker):
    return speech.synthesize(np.random.default_rng(12), talker, 16000, 16000)


def _autocorrelation_pitch(x, sample_rate, frame, hop):
    """Hand-made reference tracker: per frame, the lag of the autocorrelation peak between 2 and 20 ms."""
    frames = np.lib.stride_tricks.sliding_window_view(x, frame)[::hop] * np.hanning(frame)
    spectrum = np.fft.rfft(frames, n=2 * frame, axis=1)
    autocorrelation = np.fft.irfft(np.abs(spectrum) ** 2, axis=1)[:, :frame]
    low, high = sample_rate // 500, sample_rate // 50
    lags = low + np.argmax(autocorrelation[:, low:high], axis=1)
    level_db = 10 * np.log10(np.mean(frames ** 2, axis=1) + 1e-12)
    return sample_rate / lags, level_db


def test_bona_fide_speech_is_voiced_in_the_talker_pitch_range_with_pauses(talker):
    x = speech.synthesize(np.random.default_rng(13), talker, 2 * 16000, 16000)
    f0, level_db = _autocorrelation_pitch(x, 16000, frame=640, hop=160)
    voiced = level_db > level_db.max() - 12
    lowest, highest = (talker.f0_hz * 2 ** (s * talker.f0_range_semitones / 12) for s in (-1, 1))
    assert lowest <= np.median(f0[voiced]) <= highest
    # The contour moves (intonation), and some stretches are pauses well below the speech level.
    assert np.std(12 * np.log2(f0[voiced])) > 0.5
    assert np.mean(level_db < level_db.max() - 40) > 0.05


def test_every_la_attack_changes_the_spectrum_far_beyond_16_bit_quantisation(speech_sample):
    x = speech_sample
    quantised = np.round(x * 32767) / 32767
    baseline = np.mean(np.abs(_log_spectrogram(quantised) - _log_spectrogram(x)))
    for attack_id in attacks.LA_TRAIN_ATTACKS + attacks.LA_EVAL_ATTACKS:
        y = attacks.apply_la_attack(attack_id, x, np.random.default_rng(0), 16000)
        assert y.shape == x.shape and np.all(np.isfinite(y)), attack_id
        distance = np.mean(np.abs(_log_spectrogram(y) - _log_spectrogram(x)))
        assert distance > 10 * baseline, (attack_id, distance, baseline)


def test_attacks_differ_from_each_other_except_the_reused_systems(speech_sample):
    outputs = {a: attacks.apply_la_attack(a, speech_sample, np.random.default_rng(0), 16000)
               for a in attacks.LA_TRAIN_ATTACKS + attacks.LA_EVAL_ATTACKS}
    # As in ASVspoof2019: A16 is A04 and A19 is A06.
    np.testing.assert_array_equal(outputs["A16"], outputs["A04"])
    np.testing.assert_array_equal(outputs["A19"], outputs["A06"])
    distinct = {a: y for a, y in outputs.items() if a not in ("A16", "A19")}
    names = sorted(distinct)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            assert not np.allclose(distinct[a], distinct[b], atol=1e-3), (a, b)


def test_corpus_spoofs_carry_less_top_band_energy_than_bona_fide(la_corpus):
    root = la_corpus / "LA"
    shares = {"bonafide": [], "spoof": []}
    for line in protocol(root, "LA", "train"):
        _, utt, _, _, key = line.split()
        samples, rate = sf.read(root / "ASVspoof2019_LA_train" / "flac" / f"{utt}.flac")
        freqs, power = signal.welch(samples, fs=rate, nperseg=512)
        shares[key].append(power[freqs > 0.95 * rate / 2].sum() / power.sum())
    assert np.median(shares["spoof"]) < np.median(shares["bonafide"])


def test_band_limiting_attack_removes_the_upper_band(speech_sample):
    y = attacks.apply_la_attack("A03", speech_sample, np.random.default_rng(0), 16000)
    freqs, power_x = signal.welch(speech_sample, fs=16000, nperseg=512)
    _, power_y = signal.welch(y, fs=16000, nperseg=512)
    upper = freqs > 4500

    def upper_share(power):
        return power[upper].sum() / power.sum()

    assert upper_share(power_y) < upper_share(power_x) / 10


def test_other_sample_rates_are_written_as_asked(tmp_path):
    root = generate_asvspoof2019(tmp_path, counts={"dev": (1, 2)}, sample_rate=22050, **TINY)
    files = sorted((root / "LA" / "ASVspoof2019_LA_dev" / "flac").glob("*.flac"))
    assert len(files) == 3
    assert {sf.info(f).samplerate for f in files} == {22050}
    assert not (root / "LA" / "ASVspoof2019_LA_train").exists()


@pytest.mark.parametrize("kwargs, named", [
    ({"track": "XX"}, "track"),
    ({"layout": "zip"}, "layout"),
    ({"counts": {"test": (1, 1)}}, "test"),
    ({"counts": {"train": (1, -1)}}, "train"),
    ({"min_seconds": 2.0, "max_seconds": 1.0}, "min_seconds"),
])
def test_bad_arguments_name_what_is_wrong(tmp_path, kwargs, named):
    with pytest.raises(ValueError, match=named):
        generate_asvspoof2019(tmp_path, **kwargs)


def test_cli_writes_the_requested_splits_and_reports_counts(tmp_path, capsys):
    status = make_corpus_main([str(tmp_path), "--track", "PA", "--layout", "kaggle", "--train", "2:3",
                               "--splits", "train", "--min-seconds", "0.3", "--max-seconds", "0.5", "--seed", "5"])
    assert status == 0
    out = capsys.readouterr().out
    root = tmp_path / "PA" / "PA"
    assert str(root) in out and "2 bonafide, 3 spoof" in out
    lines = protocol(root, "PA", "train")
    assert collections.Counter(line.split()[4] for line in lines) == {"bonafide": 2, "spoof": 3}
    assert not (root / "ASVspoof2019_PA_dev").exists()


@pytest.mark.parametrize("argv, flag", [
    (["--train", "5"], "--train"),
    (["--splits", "train,test"], "--splits"),
    (["--min-seconds", "-1"], "--min-seconds"),
    (["--min-seconds", "3", "--max-seconds", "2"], "--min-seconds"),
    (["--track", "DF"], "--track"),
])
def test_cli_rejects_a_bad_argument_naming_the_flag(tmp_path, capsys, argv, flag):
    with pytest.raises(SystemExit) as exit_info:
        make_corpus_main([str(tmp_path)] + argv)
    assert exit_info.value.code == 2
    assert flag in capsys.readouterr().err
    assert not (tmp_path / "LA").exists()


def test_fakespeech_make_corpus_help(capsys):
    from pipelines.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["make-corpus", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "fakespeech make-corpus" in out and "--layout" in out and "B:S" in out


def test_dev_and_eval_carry_a_simulated_asv_score_file_in_the_official_format(la_corpus, corpus_spec):
    from pipelines.evaluate.score_files import read_asv_scores
    from tfrecord_builder.synthetic.layout import asv_scores_path

    for split in ("dev", "eval"):
        n_bonafide, n_spoof = corpus_spec["LA"][split]
        path = asv_scores_path(la_corpus / "LA", "LA", split)
        scores = read_asv_scores(str(path))
        assert {k: len(v) for k, v in scores.items()} == {"target": n_bonafide, "nontarget": n_bonafide,
                                                           "spoof": n_spoof}
        assert scores["target"].mean() > scores["spoof"].mean() > scores["nontarget"].mean()
    assert not asv_scores_path(la_corpus / "LA", "LA", "train").exists()


@pytest.mark.parametrize("corpus", ["for", "deep-voice", "wavefake", "in-the-wild", "folders"])
def test_make_corpus_writes_other_layouts_that_the_builder_detects(corpus, tmp_path, capsys):
    from tfrecord_builder.corpora import detect

    assert make_corpus_main([str(tmp_path / corpus), "--corpus", corpus, "--seed", "2"]) == 0
    assert corpus in capsys.readouterr().out
    reader, _, _ = detect(tmp_path / corpus)
    assert reader.NAME == corpus
