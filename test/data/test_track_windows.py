"""Batch sampling for training: deterministic, distinct tracks, and one global batch however
many processes share it."""
from __future__ import annotations

import numpy as np
import pytest

from xmodal.data.track_windows import TrackBatchSampler, check_even_split

FRAMES = np.array([40, 31, 90, 30, 55, 64, 33, 47])


def batches(**kw) -> list[list[tuple[int, int]]]:
    sampler = TrackBatchSampler(FRAMES, 30, 4, 5, seed=7, **kw)
    sampler.set_epoch(2)
    return list(sampler)


def test_batches_hold_distinct_tracks_with_whole_windows_and_repeat_per_epoch():
    for batch in batches():
        tracks = [t for t, _ in batch]
        assert len(set(tracks)) == 4
        assert all(0 <= s <= FRAMES[t] - 30 for t, s in batch)
    assert batches() == batches()
    other = TrackBatchSampler(FRAMES, 30, 4, 5, seed=7)
    other.set_epoch(3)
    assert list(other) != batches()


def test_replicas_split_every_global_batch_in_rank_order():
    whole = batches()
    halves = [batches(rank=r, num_replicas=2) for r in (0, 1)]
    assert [a + b for a, b in zip(*halves)] == whole
    assert len(TrackBatchSampler(FRAMES, 30, 4, 5, 7, rank=1, num_replicas=2)) == 5


def test_a_global_batch_that_does_not_split_is_refused_with_sizes_that_do():
    with pytest.raises(ValueError, match="batch of 4 tracks cannot be split evenly over 3 "
                       "processes; with 3 processes use 3 or 6"):
        TrackBatchSampler(FRAMES, 30, 4, 5, 7, rank=0, num_replicas=3)
    # The paper's B = 30 on 4 GPUs.
    with pytest.raises(ValueError, match="with 4 processes use 28 or 32"):
        check_even_split(30, 4, "data.batch_size", "tracks")
    with pytest.raises(ValueError, match="with 4 processes use 4 "):
        check_even_split(2, 4, "data.batch_size", "tracks")
    check_even_split(32, 4, "data.batch_size", "tracks")


def test_groups_give_batches_of_distinct_people_covering_every_track():
    """Evaluation batches: B tracks of B different speakers, any track of a speaker."""
    groups = np.array(["a", "a", "b", "b", "c", "c", "d", "e"])
    sampler = TrackBatchSampler(FRAMES, 30, 4, 200, seed=7, groups=groups)
    seen = set()
    for batch in sampler:
        tracks = [t for t, _ in batch]
        assert len({groups[t] for t in tracks}) == 4
        assert all(0 <= s <= FRAMES[t] - 30 for t, s in batch)
        seen.update(tracks)
    assert seen == set(range(len(FRAMES)))
    assert list(TrackBatchSampler(FRAMES, 30, 4, 3, 7, groups=groups)) == \
        list(TrackBatchSampler(FRAMES, 30, 4, 3, 7, groups=groups))
    with pytest.raises(ValueError, match="batch of 6 distinct groups but only 5"):
        TrackBatchSampler(FRAMES, 30, 6, 3, 7, groups=groups)
