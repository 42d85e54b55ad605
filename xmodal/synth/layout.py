"""The VoxCeleb file layouts and list files the synthetic corpus is written in.

Paths, meta files, trial lists and identification splits follow the official VoxCeleb1/2
downloads, so the preparation code that reads the corpus is the same that reads the real data.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from xmodal.atomic import write_lines_atomic, write_text_atomic

YTID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

# Which official set each synthetic identity pool is written as.
POOLS = ("vox2_dev", "vox2_test", "vox1_dev", "vox1_test")
POOL_ID_BASE = {"vox2_dev": 1, "vox2_test": 9000, "vox1_dev": 10001, "vox1_test": 19000}

# espeak-ng English accent -> the nationality written to vox1_meta.csv.
NATIONALITY = {
    "en-us": "USA", "en": "UK", "en-gb-x-rp": "UK", "en-gb-scotland": "UK",
    "en-gb-x-gbclan": "UK", "en-gb-x-gbcwmd": "UK", "en-029": "Jamaica",
}


@dataclass(frozen=True)
class Track:
    """One utterance (a face-track in the VoxCeleb2 sets), addressed as the official key."""

    pool: str
    spk: str
    ytid: str
    index: int

    @property
    def key(self) -> str:
        """The official utterance key ``idXXXXX/<ytid>/<NNNNN>``."""
        return f"{self.spk}/{self.ytid}/{self.index:05d}"

    def paths(self, root: Path) -> dict[str, Path]:
        """The media files this track is written to, by kind."""
        if self.pool.startswith("vox2"):
            subset = self.pool.split("_")[1]
            base = root / "voxceleb2" / subset
            return {kind: base / kind / f"{self.key}.{ext}"
                    for kind, ext in (("mp4", "mp4"), ("aac", "m4a"), ("txt", "txt"))}
        return {"wav": root / "voxceleb1" / "wav" / f"{self.key}.wav"}


def speaker_id(pool: str, index: int) -> str:
    """Speaker id of the ``index``-th identity of ``pool`` (pools never share ids)."""
    return f"id{POOL_ID_BASE[pool] + index:05d}"


def make_ytid(rng: np.random.Generator) -> str:
    """An 11-character YouTube-like video id."""
    return "".join(YTID_ALPHABET[i] for i in rng.integers(len(YTID_ALPHABET), size=11))


def track_txt(track: Track, n_frames: int, offset_frames: int) -> str:
    """The per-track metadata file of VoxCeleb2 (identity, video, AV offset, face boxes)."""
    lines = [f"Identity  : \t{track.spk}", f"Reference : \t{track.ytid}",
             f"Offset    : \t{offset_frames}", "FV Conf   : \t20.000\t(1)",
             "ASD Conf  : \t10.000", "", "FRAME \tX \tY \tW \tH "]
    lines += [f"{k:06d} \t0.250 \t0.200 \t0.500 \t0.600 " for k in range(n_frames)]
    return "\n".join(lines) + "\n"


def write_vox2_meta(root: Path, speakers: list[tuple[str, str, str]]) -> None:
    """``voxceleb2/vox2_meta.csv`` from (speaker id, gender, subset) rows, padded as official."""
    lines = ["VoxCeleb2 ID ,VGGFace2 ID ,Gender ,Set "]
    lines += [f"{spk} ,n0{spk[2:]} ,{gender} ,{subset} " for spk, gender, subset in sorted(speakers)]
    write_lines_atomic(root / "voxceleb2" / "vox2_meta.csv", lines)


def nationality(accent: str) -> str:
    """The nationality written to vox1_meta.csv for an espeak-ng accent."""
    return NATIONALITY.get(accent, "UK")


def write_vox1_meta(root: Path, speakers: list[tuple[str, str, str, str]]) -> None:
    """``voxceleb1/vox1_meta.csv`` (tab-separated) from (id, gender, accent, subset) rows."""
    lines = ["VoxCeleb1 ID\tVGGFace1 ID\tGender\tNationality\tSet"]
    lines += [f"{spk}\tSynthetic_Speaker_{spk[2:]}\t{gender}\t{nationality(accent)}\t{subset}"
              for spk, gender, accent, subset in sorted(speakers)]
    write_lines_atomic(root / "voxceleb1" / "vox1_meta.csv", lines)


def make_trials(tracks: list[Track], per_utt: int, rng: np.random.Generator,
                groups: dict[str, object] | None = None) -> list[str]:
    """Balanced verification trials in ``veri_test2.txt`` format, each pair of utterances once.

    For each enrolment utterance, up to ``per_utt`` target trials against the same speaker's
    utterances from *other* videos, and as many non-target trials against other speakers. A
    pair already drawn, in either order, is not drawn again: a trial and its mirror image are
    one comparison, and counting it twice would only make the intervals look narrower. With
    ``groups`` (speaker -> group), non-target trials pair speakers of one group only, as
    VoxCeleb1-H pairs speakers of the same gender and nationality; an utterance whose speaker
    is alone in its group enrols no trials.
    """
    by_spk: dict[str, list[Track]] = {}
    for t in sorted(tracks, key=lambda t: t.key):
        by_spk.setdefault(t.spk, []).append(t)
    speakers = sorted(by_spk)
    pairs: dict[frozenset[str], tuple[int, str, str]] = {}
    for enroll in sorted(tracks, key=lambda t: t.key):
        others = [s for s in speakers if s != enroll.spk
                  and (groups is None or groups[s] == groups[enroll.spk])]
        if not others:
            continue
        same = [t for t in by_spk[enroll.spk]
                if t.ytid != enroll.ytid and frozenset((enroll.key, t.key)) not in pairs]
        n = min(per_utt, len(same))
        for i in rng.choice(len(same), size=n, replace=False):
            pairs[frozenset((enroll.key, same[i].key))] = (1, enroll.key, same[i].key)
        for _ in range(n):
            spk = others[rng.integers(len(others))]
            test = by_spk[spk][rng.integers(len(by_spk[spk]))].key
            pairs.setdefault(frozenset((enroll.key, test)), (0, enroll.key, test))
    # Keep the two classes exactly balanced.
    targets = sorted(p for p in pairs.values() if p[0] == 1)
    nontargets = sorted(p for p in pairs.values() if p[0] == 0)
    n = min(len(targets), len(nontargets))
    keep = [targets[i] for i in sorted(rng.choice(len(targets), n, replace=False))] + \
           [nontargets[i] for i in sorted(rng.choice(len(nontargets), n, replace=False))]
    keep.sort(key=lambda p: (p[1], p[2], p[0]))
    return [f"{label} {a}.wav {b}.wav" for label, a, b in keep]


def make_iden_split(tracks: list[Track]) -> list[str]:
    """``iden_split.txt``: per speaker, the last video is test (3), the one before val (2)."""
    by_spk: dict[str, list[str]] = {}
    for t in tracks:
        by_spk.setdefault(t.spk, [])
        if t.ytid not in by_spk[t.spk]:
            by_spk[t.spk].append(t.ytid)
    lines = []
    for t in sorted(tracks, key=lambda t: t.key):
        videos = sorted(by_spk[t.spk])
        split = 1
        if len(videos) >= 3:
            split = {videos[-1]: 3, videos[-2]: 2}.get(t.ytid, 1)
        lines.append(f"{split} {t.key}.wav")
    return lines


def write_vox1_lists(root: Path, test_tracks: list[Track], all_tracks: list[Track],
                     groups: dict[str, object], trials_per_utt: int,
                     rng: np.random.Generator) -> dict[str, int]:
    """Write ``iden_split.txt`` and the trial lists; return the number of trials per list.

    As the official lists are made: O (``veri_test2.txt``) and its first version
    (``veri_test.txt``, here just another draw) pair test speakers, E (``list_test_all2.txt``)
    any two speakers, H (``list_test_hard2.txt``) speakers of one ``groups`` entry (gender and
    nationality). A list without a trial (no two speakers share a group) is not written.
    """
    write_lines_atomic(root / "voxceleb1" / "iden_split.txt", make_iden_split(all_tracks))
    # veri_test2.txt is drawn first so it stays what it was before the other lists existed.
    lists = {"veri_test2.txt": make_trials(test_tracks, trials_per_utt, rng),
             "veri_test.txt": make_trials(test_tracks, trials_per_utt, rng),
             "list_test_all2.txt": make_trials(all_tracks, trials_per_utt, rng),
             "list_test_hard2.txt": make_trials(all_tracks, trials_per_utt, rng, groups)}
    for name, trials in lists.items():
        if trials:
            write_lines_atomic(root / "voxceleb1" / name, trials)
    return {name: len(trials) for name, trials in lists.items()}


def write_annotation(root: Path, name: str, lines: list[str]) -> None:
    """One file of ``annotations/`` (lines are written in the order given)."""
    write_text_atomic(root / "annotations" / name, "".join(f"{x}\n" for x in lines))
