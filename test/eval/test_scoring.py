"""Scoring against numpy references on embeddings written with kaldiio to a temp dir."""
from __future__ import annotations

from pathlib import Path

import kaldiio
import numpy as np
import pytest

from xmodal.data.datadir import DataDirError
from xmodal.eval import scoring
from xmodal.eval.scoring import (ScoringError, cosine_scores, evaluate_score_files,
                                 read_score_file, read_trial_list, score_trials,
                                 top_cohort_stats)

DIM = 6


def write_scp(path: Path, vectors: dict[str, np.ndarray]) -> Path:
    """Write float32 vectors as a kaldiio ark + scp; returns the scp path."""
    with kaldiio.WriteHelper(f"ark,scp:{path.with_suffix('.ark')},{path}") as writer:
        for key, vector in vectors.items():
            writer(key, vector.astype(np.float32))
    return path


def random_vectors(prefix: str, n: int, seed: int, offset: float = 0.0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {f"{prefix}{i:02d}": (rng.normal(size=DIM) + offset).astype(np.float32)
            for i in range(n)}


def read_scores(path: Path) -> tuple[list[list[str]], np.ndarray]:
    rows = [line.split() for line in path.read_text().splitlines()]
    return rows, np.array([float(r[2]) for r in rows])


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.astype(np.float64), b.astype(np.float64)
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


@pytest.fixture
def case(tmp_path):
    """Utterances u00..u09 in two scp files, a mean set, a cohort, and a labelled trials file."""
    utts = random_vectors("u", 10, seed=0, offset=0.5)
    keys = list(utts)
    scps = [write_scp(tmp_path / "emb1.scp", {k: utts[k] for k in keys[:5]}),
            write_scp(tmp_path / "emb2.scp", {k: utts[k] for k in keys[5:]})]
    pairs = [(keys[i], keys[j]) for i in range(10) for j in range(10) if (i * 7 + j) % 4 == 0]
    labels = ["target" if (i + j) % 3 == 0 else "nontarget" for i, j in
              ((int(a[1:]), int(b[1:])) for a, b in pairs)]
    trials = tmp_path / "trials"
    trials.write_text("".join(f"{a} {b} {lab}\n" for (a, b), lab in zip(pairs, labels)))
    mean_set = random_vectors("m", 20, seed=1, offset=0.5)
    cohort = random_vectors("c", 7, seed=2)
    return dict(tmp=tmp_path, utts=utts, scps=scps, pairs=pairs, labels=labels, trials=trials,
                mean_set=mean_set, mean_scp=write_scp(tmp_path / "mean.scp", mean_set),
                cohort=cohort, cohort_scp=write_scp(tmp_path / "cohort.scp", cohort))


def test_cosine_scores_match_numpy_and_keep_trial_order(case):
    out = case["tmp"] / "scores"
    summary = score_trials(case["trials"], case["scps"], out)
    rows, scores = read_scores(out)
    assert (summary.n_scored, summary.n_skipped, summary.asnorm_top_k) == (len(rows), 0, None)
    assert [tuple(r[:2]) for r in rows] == case["pairs"]
    assert [r[3] for r in rows] == case["labels"]
    assert all(len(r[2].split(".")[1]) == 6 for r in rows)
    expected = [cosine(case["utts"][a], case["utts"][b]) for a, b in case["pairs"]]
    np.testing.assert_allclose(scores, expected, atol=6e-7)


def test_mean_subtraction_uses_the_named_set_mean(case):
    out = case["tmp"] / "scores"
    score_trials(case["trials"], case["scps"], out, mean_scp=case["mean_scp"])
    mean = np.mean([v.astype(np.float64) for v in case["mean_set"].values()], axis=0)
    expected = [cosine(case["utts"][a] - mean, case["utts"][b] - mean)
                for a, b in case["pairs"]]
    np.testing.assert_allclose(read_scores(out)[1], expected, atol=6e-7)


def slow_asnorm(score: float, enroll: np.ndarray, test: np.ndarray, cohort: list[np.ndarray],
                top_k: int) -> float:
    """AS-norm of one trial, written out with Python loops and sorted lists."""
    def stats(x):
        top = sorted((cosine(x, c) for c in cohort), reverse=True)[:top_k]
        mu = sum(top) / top_k
        return mu, (sum((t - mu) ** 2 for t in top) / top_k) ** 0.5
    mu_e, sd_e = stats(enroll)
    mu_t, sd_t = stats(test)
    return 0.5 * ((score - mu_e) / sd_e + (score - mu_t) / sd_t)


@pytest.mark.parametrize("with_mean", [False, True])
def test_asnorm_matches_slow_reference(case, with_mean):
    out = case["tmp"] / "scores"
    summary = score_trials(case["trials"], case["scps"], out, cohort_scp=case["cohort_scp"],
                           top_k=3, mean_scp=case["mean_scp"] if with_mean else None)
    assert summary.asnorm_top_k == 3
    mean = (np.mean([v.astype(np.float64) for v in case["mean_set"].values()], axis=0)
            if with_mean else np.zeros(DIM))
    utts = {k: v - mean for k, v in case["utts"].items()}
    cohort = [v - mean for v in case["cohort"].values()]
    expected = [slow_asnorm(cosine(utts[a], utts[b]), utts[a], utts[b], cohort, 3)
                for a, b in case["pairs"]]
    np.testing.assert_allclose(read_scores(out)[1], expected, atol=1e-5)


def test_asnorm_top_k_is_capped_at_cohort_size(case):
    summary = score_trials(case["trials"], case["scps"], case["tmp"] / "scores",
                           cohort_scp=case["cohort_scp"], top_k=300)
    assert summary.asnorm_top_k == len(case["cohort"])


def test_chunked_computation_equals_unchunked(monkeypatch):
    rng = np.random.default_rng(5)
    enroll, test, cohort = rng.normal(size=(9, 4)), rng.normal(size=(11, 4)), rng.normal(
        size=(13, 4))
    e_idx, t_idx = rng.integers(0, 9, 50), rng.integers(0, 11, 50)
    whole = cosine_scores(enroll, test, e_idx, t_idx)
    whole_stats = top_cohort_stats(enroll, cohort, 5)
    monkeypatch.setattr(scoring, "CHUNK_ELEMENTS", 8)  # 2 trials / 1 row per chunk
    np.testing.assert_allclose(cosine_scores(enroll, test, e_idx, t_idx), whole, rtol=1e-12)
    np.testing.assert_allclose(top_cohort_stats(enroll, cohort, 5), whole_stats, rtol=1e-12)
    expected = [cosine(enroll[i], test[j]) for i, j in zip(e_idx, t_idx)]
    np.testing.assert_allclose(whole, expected, rtol=1e-12)


def test_separate_test_scp_and_unlabelled_trials(case):
    tests = random_vectors("t", 3, seed=9)
    test_scp = write_scp(case["tmp"] / "test.scp", tests)
    trials = case["tmp"] / "trials_unlabelled"
    trials.write_text("u00 t01\nu03 t02\n")
    out = case["tmp"] / "scores"
    score_trials(trials, case["scps"], out, test_scps=[test_scp])
    rows, scores = read_scores(out)
    assert [len(r) for r in rows] == [3, 3]
    np.testing.assert_allclose(scores, [cosine(case["utts"]["u00"], tests["t01"]),
                                        cosine(case["utts"]["u03"], tests["t02"])], atol=6e-7)


def test_unknown_key_names_file_line_and_key(case):
    lines = case["trials"].read_text().splitlines()
    lines.insert(2, "u01 nobody target")
    case["trials"].write_text("\n".join(lines) + "\n")
    out = case["tmp"] / "scores"
    with pytest.raises(ScoringError, match=r"trials:3: test key 'nobody' has no embedding"):
        score_trials(case["trials"], case["scps"], out)
    assert not out.exists()
    summary = score_trials(case["trials"], case["scps"], out, skip_unknown=True)
    assert (summary.n_scored, summary.n_skipped) == (len(case["pairs"]), 1)
    assert "nobody" not in out.read_text()


@pytest.mark.parametrize("content,message", [
    ("u00 u01 target\nu00 u02 target extra\n", r":2: expected '<enroll> <test>"),
    ("u00 u01 target\nu00 u02 maybe\n", r":2: unknown label 'maybe'"),
    ("u00 u01 target\nu00 u02\n", r":2: no label, unlike line 1"),
    ("u00 u01 target\n\nu00 u02 target\n", r":2: empty line"),
    ("", "no trials"),
])
def test_malformed_trials_name_the_line(tmp_path, content, message):
    path = tmp_path / "trials"
    path.write_text(content)
    with pytest.raises(DataDirError, match=message):
        read_trial_list(path)


def test_bad_embedding_files_are_named(case):
    tmp = case["tmp"]
    dup = write_scp(tmp / "dup.scp", {"u00": np.zeros(DIM)})
    with pytest.raises(ScoringError, match="key 'u00' is also in"):
        score_trials(case["trials"], [*case["scps"], dup], tmp / "s")
    odd = write_scp(tmp / "odd.scp", {"x": np.ones(DIM + 1)})
    odd_trials = tmp / "odd_trials"
    odd_trials.write_text("x x\n")
    with pytest.raises(ScoringError, match="mean.scp: dimension 6 != 7"):
        score_trials(odd_trials, [odd], tmp / "s", mean_scp=case["mean_scp"])
    with pytest.raises(ScoringError, match="AS-norm .*cohort dimension 6"):
        score_trials(odd_trials, [odd], tmp / "s", cohort_scp=case["cohort_scp"])
    with pytest.raises(ScoringError, match="missing.scp: file not found"):
        score_trials(case["trials"], [tmp / "missing.scp"], tmp / "s")
    assert not (tmp / "s").exists()


def test_score_file_round_trip_and_metrics(case):
    out = case["tmp"] / "scores"
    score_trials(case["trials"], case["scps"], out)
    scores, labels = read_score_file(out)
    assert labels.tolist() == [lab == "target" for lab in case["labels"]]
    [result] = evaluate_score_files([out], det_plot=case["tmp"] / "det.png")
    assert result["scores"] == str(out)
    assert result["n_target"] == labels.sum()
    # Independent bracket: the EER lies where the miss rate (rising with the threshold)
    # crosses the false-alarm rate (falling), between max_t min(Pm, Pfa) and min_t max(Pm, Pfa).
    miss = np.array([(scores[labels] < t).mean() for t in np.unique(scores)] + [1.0])
    fa = np.array([(scores[~labels] >= t).mean() for t in np.unique(scores)] + [0.0])
    low, high = 100 * np.minimum(miss, fa).max(), 100 * np.maximum(miss, fa).min()
    assert low - 1e-9 <= result["eer"] <= high + 1e-9 and high - low < 20
    assert (case["tmp"] / "det.png").stat().st_size > 0


@pytest.mark.parametrize("content,message", [
    ("a b 0.5 target\na b 0.1\n", r"scores:2: expected"),
    ("a b 0.5 target\na b x nontarget\n", r"scores:2: score 'x' is not a number"),
    ("a b 0.5 target\na b 0.1 yes\n", r"scores:2: unknown label 'yes'"),
])
def test_malformed_score_files_name_the_line(tmp_path, content, message):
    path = tmp_path / "scores"
    path.write_text(content)
    with pytest.raises(ScoringError, match=message):
        read_score_file(path)


def test_single_class_score_file_is_an_error_naming_it(tmp_path):
    path = tmp_path / "scores"
    path.write_text("a b 0.5 target\na c 0.1 target\n")
    with pytest.raises(ScoringError, match=r"scores: need both target and nontarget"):
        evaluate_score_files([path])
