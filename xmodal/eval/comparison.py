"""Paired comparison of two labelled score files on the same trials (speaker bootstrap).

The files may list the trials in different orders; they are aligned on (enrol, test) keys.
The statistics are ``bootstrap.paired_bootstrap``'s; this module reads, aligns and reports.
"""
from __future__ import annotations

import numpy as np

from xmodal.data.datadir import read_table
from xmodal.eval.bootstrap import (TrialSpeakerError, paired_bootstrap, seed_paired_bootstrap,
                                   trial_speakers)
from xmodal.eval.scoring import PathLike, ScoreFile, ScoringError, read_labelled_scores


def _label(is_target: bool) -> str:
    """The trials-file word for a label."""
    return "target" if is_target else "nontarget"


def align_scores(a: ScoreFile, b: ScoreFile) -> np.ndarray:
    """``b``'s scores in ``a``'s trial order.

    Both files must hold the same (enrol, test) trials, each once, with the same labels; a
    trial repeated, missing from one file or labelled differently is a ScoringError naming
    file and line.
    """
    line_in_a: dict[tuple[str, str], int] = {}
    for i, trial in enumerate(zip(a.enroll, a.test)):
        if trial in line_in_a:
            raise ScoringError(f"{a.path}:{i + 1}: trial '{' '.join(trial)}' repeats line "
                               f"{line_in_a[trial] + 1}")
        line_in_a[trial] = i
    b_of_a = np.full(len(a.scores), -1, dtype=np.int64)
    for j, trial in enumerate(zip(b.enroll, b.test)):
        i = line_in_a.get(trial)
        where = f"{b.path}:{j + 1}: trial '{' '.join(trial)}'"
        if i is None:
            raise ScoringError(f"{where} is not in {a.path}")
        if b_of_a[i] >= 0:
            raise ScoringError(f"{where} repeats line {b_of_a[i] + 1}")
        if a.labels[i] != b.labels[j]:
            raise ScoringError(f"{where} is {_label(b.labels[j])} here but "
                               f"{_label(a.labels[i])} in {a.path}:{i + 1}")
        b_of_a[i] = j
    missing = np.flatnonzero(b_of_a < 0)
    if len(missing):
        i = int(missing[0])
        raise ScoringError(f"{a.path}:{i + 1}: trial '{a.enroll[i]} {a.test[i]}' is not in "
                           f"{b.path}")
    return b.scores[b_of_a]


def compare_score_files(a: PathLike, b: PathLike, *, utt2spk: PathLike | None = None,
                        n_boot: int = 1000, seed: int = 0, level: float = 0.95
                        ) -> dict[str, object]:
    """``bootstrap.paired_bootstrap`` of systems A and B, plus ``a``/``b`` naming the files.

    Speakers come from the keys (``bootstrap.trial_speakers``, with the ``utt2spk`` file if
    given; a bad utt2spk is a DataDirError). Problems with the score files are ScoringErrors.
    """
    speakers = None if utt2spk is None else read_table(utt2spk, require_sorted=False)
    table_a, table_b = read_labelled_scores(a), read_labelled_scores(b)
    scores_b = align_scores(table_a, table_b)
    try:
        sides = trial_speakers(table_a.enroll, table_a.test, table_a.labels, speakers)
        result = paired_bootstrap(table_a.scores, scores_b, table_a.labels, *sides,
                                  n_boot=n_boot, seed=seed, level=level)
    except TrialSpeakerError as err:
        raise ScoringError(f"{a}:{err.index + 1}: {err.reason}") from None
    except ValueError as err:
        raise ScoringError(f"{a} vs {b}: {err}") from None
    return {"a": str(a), "b": str(b), **result}


def compare_over_seeds(pairs: list[tuple[PathLike, PathLike]], *,
                       utt2spk: PathLike | None = None, n_boot: int = 1000, seed: int = 0,
                       level: float = 0.95) -> dict[str, object]:
    """``bootstrap.seed_paired_bootstrap`` of the EER difference A - B, one (A, B) pair of
    score files per training seed, all on the same trials (aligned to the first A file)."""
    speakers = None if utt2spk is None else read_table(utt2spk, require_sorted=False)
    reference = read_labelled_scores(pairs[0][0])
    aligned = [[align_scores(reference, read_labelled_scores(path)) for path in pair]
               for pair in pairs]
    try:
        sides = trial_speakers(reference.enroll, reference.test, reference.labels, speakers)
        return seed_paired_bootstrap([a for a, _ in aligned], [b for _, b in aligned],
                                     reference.labels, *sides, n_boot=n_boot, seed=seed,
                                     level=level)
    except TrialSpeakerError as err:
        raise ScoringError(f"{pairs[0][0]}:{err.index + 1}: {err.reason}") from None
    except ValueError as err:
        raise ScoringError(f"{len(pairs)} seed pairs: {err}") from None


def comparison_summary(result: dict[str, object]) -> str:
    """One line on the EER comparison of a ``compare_score_files`` result, for people."""
    eer = result["eer"]
    low, high = eer["ci"]
    # p == 0 means no replicate crossed 0: all we know is that p is below the resolution.
    p_value = (f"p={eer['p_value']:.3f}" if eer["p_value"] > 0
               else f"p<{2 / result['n_boot']:.2g}")
    return (f"EER {eer['a']:.2f}% vs {eer['b']:.2f}%: difference {eer['difference']:.2f} "
            f"[{low:.2f}, {high:.2f}], {p_value}, "
            f"{'significant' if eer['significant'] else 'not significant'}")
