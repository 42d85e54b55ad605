"""Stage-5 embedding sets on disk: the files of a set and of its jobs, and their merge.

Outputs in ``OUT`` (kaldiio ``ark,scp``, Kaldi binary float32 vectors, keys sorted):
``identity.{ark,scp}``, ``content.{ark,scp}``, ``padded``, ``spk_xvector.{ark,scp}`` (per
speaker, the mean of its identity vectors; when utt2spk or spk2utt exists) and ``.done`` last.
Job J writes ``identity.J.*``, ``content.J.*`` and ``padded.J`` (its completion mark);
``merge_embeddings`` checks them against the data dir and writes the set's files. Every
ark/scp is written under a temporary name and renamed. A file that cannot be written (full
disk, read-only dir) is an ``ExtractError`` naming it.

No torch here: merging and checking a set is file work, and a process that imports torch
takes seconds to start (``xmodal.eval.extract`` computes the vectors).
"""
from __future__ import annotations

import contextlib
import heapq
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import kaldiio
import numpy as np

from xmodal.atomic import write_text_atomic
from xmodal.data.datadir import byte_order, read_table, sorted_keys, spk2utt_to_utt2spk, write_table
from xmodal.data.vector_ark import vector_writer

HEADS = ("identity", "content")
SPEAKER_MEANS = "spk_xvector"
DONE_MARKER = ".done"


class ExtractError(RuntimeError):
    """Unusable features or settings, or job outputs that are missing or inconsistent."""


def utterance_list(data_dir: str | os.PathLike) -> list[str]:
    """The utterances of a data dir: the keys of utt2spk, else of wav.scp, else of feats.scp."""
    for name in ("utt2spk", "wav.scp", "feats.scp"):
        path = Path(data_dir) / name
        if path.is_file():
            return list(read_table(path))
    raise ExtractError(f"{data_dir}: no utt2spk, wav.scp or feats.scp lists its utterances")


@dataclass(frozen=True)
class EmbeddingFiles:
    """Output names: ``identity.J.ark`` etc. for job J; ``identity.ark`` etc. without a job."""

    out_dir: Path
    job: int | None = None

    def _path(self, stem: str, ext: str = "") -> Path:
        return self.out_dir / (stem + ("" if self.job is None else f".{self.job}") + ext)

    def ark(self, stem: str) -> Path:
        """The ark of ``stem`` (a head name or ``spk_xvector``)."""
        return self._path(stem, ".ark")

    def scp(self, stem: str) -> Path:
        """The scp of ``stem``."""
        return self._path(stem, ".scp")

    @property
    def padded(self) -> Path:
        """``<utt> <frames>`` of repeat-padded utterances; a job's completion mark."""
        return self._path("padded")

    def completion_files(self) -> list[Path]:
        """Files a finished run has left, the completion mark first."""
        return [self.padded, *(self.scp(head) for head in HEADS)]

    def all_files(self) -> list[Path]:
        """Every file of the run, so a rerun can clear them first."""
        return self.completion_files() + [self.ark(head) for head in HEADS]


def is_done(out_dir: str | os.PathLike) -> bool:
    """Whether the embeddings of ``out_dir`` are complete (merged and checked)."""
    return (Path(out_dir) / DONE_MARKER).is_file()


@dataclass
class ExtractStats:
    """What one extraction run did."""

    n_utts: int
    padded: dict[str, str]          # utterance -> original number of frames
    n_speakers: int | None = None   # speaker means written (single run with speakers)

    def lines(self) -> list[str]:
        """Human-readable summary."""
        out = [f"{self.n_utts} utterances embedded, {len(self.padded)} repeat-padded (shorter "
               "than the receptive field)"]
        if self.padded:
            out.append(f"padded: {' '.join(list(self.padded)[:5])}"
                       f"{' ...' if len(self.padded) > 5 else ''} (list in padded)")
        if self.n_speakers is not None:
            out.append(f"{self.n_speakers} speaker mean vectors ({SPEAKER_MEANS}.scp)")
        return out


@contextlib.contextmanager
def writing(path: Path) -> Iterator[None]:
    """An ``OSError`` in the block (full disk, read-only dir) becomes an ``ExtractError``
    naming the file: the error's own, else ``path``."""
    try:
        yield
    except OSError as err:
        reason = err.strerror or err
        raise ExtractError(f"{err.filename or path}: cannot write ({reason})") from None


def speaker_means(out_dir: str | os.PathLike, utt2spk: dict[str, str], where: str) -> int:
    """Write ``spk_xvector.ark/scp``: per speaker, the mean of its identity vectors.

    Means are of the raw (not length-normalised) vectors. Returns the number of speakers.
    """
    files = EmbeddingFiles(Path(out_dir))
    sums: dict[str, np.ndarray] = {}
    counts: Counter = Counter()
    for key, vector in kaldiio.load_scp_sequential(str(files.scp("identity"))):
        if key not in utt2spk:
            raise ExtractError(f"{where}: utterance '{key}' has no speaker")
        speaker = utt2spk[key]
        sums[speaker] = sums.get(speaker, 0.0) + vector.astype(np.float64)
        counts[speaker] += 1
    with (writing(files.ark(SPEAKER_MEANS)),
          vector_writer(files.ark(SPEAKER_MEANS), files.scp(SPEAKER_MEANS)) as write):
        for speaker in sorted_keys(sums):
            write(speaker, sums[speaker] / counts[speaker])
    return len(sums)


def finish_set(out_dir: str | os.PathLike, speakers_dir: str | os.PathLike) -> int | None:
    """Speaker means (if ``speakers_dir`` has utt2spk or spk2utt), then ``.done``.

    Returns the number of speakers, or ``None`` when the speakers are unknown.
    """
    utt2spk, spk2utt = Path(speakers_dir) / "utt2spk", Path(speakers_dir) / "spk2utt"
    n_speakers = None
    if utt2spk.is_file():
        n_speakers = speaker_means(out_dir, read_table(utt2spk), str(utt2spk))
    elif spk2utt.is_file():
        n_speakers = speaker_means(out_dir, spk2utt_to_utt2spk(read_table(spk2utt), str(spk2utt)),
                                   str(spk2utt))
    write_text_atomic(Path(out_dir) / DONE_MARKER, "")
    return n_speakers


def _job_tables(jobs: list[EmbeddingFiles]) -> dict[str, int]:
    """Utterance -> job that embedded it; both heads' scps must list the same utterances."""
    owner: dict[str, int] = {}
    for job in jobs:
        identity = read_table(job.scp("identity"))
        if list(read_table(job.scp("content"))) != list(identity):
            raise ExtractError(f"{job.scp('content')}: utterances differ from "
                               f"{job.scp('identity')}")
        for key in identity:
            if key in owner:
                raise ExtractError(f"{job.scp('identity')}: utterance '{key}' was also embedded "
                                   f"by job {owner[key]}")
            owner[key] = job.job
    return owner


def _merged_vectors(jobs: list[EmbeddingFiles], head: str) -> Iterator[tuple[str, np.ndarray]]:
    """The ``head`` vectors of all jobs in key order; an unreadable one is an ``ExtractError``.

    Each job's scp is sorted: a streaming merge keeps memory flat for any set size.
    """
    streams = [kaldiio.load_scp_sequential(str(job.scp(head))) for job in jobs]
    try:
        yield from heapq.merge(*streams, key=lambda kv: byte_order(kv[0]))
    except (OSError, ValueError) as err:
        raise ExtractError(f"{jobs[0].out_dir}: cannot read the {head} vectors of a job: "
                           f"{err}") from None


def merge_embeddings(out_dir: str | os.PathLike, num_jobs: int,
                     data_dir: str | os.PathLike) -> ExtractStats:
    """Merge extraction jobs ``1..num_jobs`` of ``out_dir``; check them against ``data_dir``.

    Fails (``ExtractError``) if a job's files are missing, or the embedded utterances are not
    exactly those of ``data_dir`` (the message counts them and names a few missing ones).
    Writes ``identity/content.{ark,scp}`` (sorted keys), ``padded``, the speaker means and,
    last, ``.done``.
    """
    out_dir = Path(out_dir)
    if num_jobs < 1:
        raise ExtractError(f"--num-jobs must be >= 1, got {num_jobs}")
    jobs = [EmbeddingFiles(out_dir, job) for job in range(1, num_jobs + 1)]
    for job in jobs:
        for path in job.completion_files():
            if not path.is_file():
                raise ExtractError(f"extract job {job.job} did not complete: {path} is missing "
                                   f"(see its log: the recipes write "
                                   f"{out_dir.parent}/log/extract.{job.job}.log)")
    owner = _job_tables(jobs)
    expected = utterance_list(data_dir)
    missing = [key for key in expected if key not in owner]
    if missing:
        raise ExtractError(
            f"{out_dir}: {len(owner)} utterances embedded, {len(expected)} expected from "
            f"{data_dir}; {len(missing)} missing, e.g. {', '.join(missing[:5])} (were the "
            f"jobs run on {data_dir}/split{num_jobs}?)")
    foreign = sorted_keys(set(owner) - set(expected))
    if foreign:
        raise ExtractError(f"{out_dir}: utterance '{foreign[0]}' is not in {data_dir}; stale "
                           "output of another set?")
    with writing(out_dir):
        (out_dir / DONE_MARKER).unlink(missing_ok=True)
    merged = EmbeddingFiles(out_dir)
    for head in HEADS:
        with (writing(merged.ark(head)),
              vector_writer(merged.ark(head), merged.scp(head)) as write):
            for key, vector in _merged_vectors(jobs, head):
                write(key, vector)
    padded: dict[str, str] = {}
    for job in jobs:
        padded.update(read_table(job.padded))
    with writing(out_dir):
        write_table(merged.padded, padded)
        return ExtractStats(len(owner), padded, finish_set(out_dir, data_dir))
