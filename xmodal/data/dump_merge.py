"""Stage 2, the end: check a set's dump jobs and merge them into one dump dir.

``merge_dump`` checks that every utterance was dumped or skipped, and turns ``OUT`` into a
data dir of the dumped utterances (feats.scp, wave.scp if the jobs dumped waveforms,
faces.scp, face_format, utt2num_frames, the source tables, filtered trials) marked
``OUT/.done``. File work only: no torch here, so the
merge of a set costs no model library start-up (``xmodal.data.dump`` runs the jobs).
"""
from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from xmodal.atomic import write_text_atomic
from xmodal.data.datadir import DataDir, read_table, sorted_keys, write_table
from xmodal.data.face_store import FORMAT_FILE, read_format_file, write_face_format
from xmodal.data.validate import validate_data_dir

DONE_MARKER = ".done"



class DumpError(RuntimeError):
    """A dump job's output is incomplete or inconsistent."""



@dataclass(frozen=True)
class JobOutputs:
    """The files dump job ``job`` writes into ``out_dir``."""

    out_dir: Path
    job: int

    def path(self, name: str) -> Path:
        """``out_dir/<name with the job number>``, e.g. ``feats.3.ark``."""
        return self.out_dir / name.format(job=self.job)

    @property
    def feats_ark(self) -> Path:
        return self.path("feats.{job}.ark")

    @property
    def feats_scp(self) -> Path:
        return self.path("feats.{job}.scp")

    @property
    def wave_ark(self) -> Path:
        return self.path("wave.{job}.ark")

    @property
    def wave_scp(self) -> Path:
        return self.path("wave.{job}.scp")

    @property
    def faces_ark(self) -> Path:
        return self.path("faces.{job}.ark")

    @property
    def faces_scp(self) -> Path:
        return self.path("faces.{job}.scp")

    @property
    def face_format(self) -> Path:
        return self.path(FORMAT_FILE + ".{job}")

    @property
    def num_frames(self) -> Path:
        return self.path("utt2num_frames.{job}")

    @property
    def skipped(self) -> Path:
        return self.path("skipped.{job}")

    def all_files(self) -> list[Path]:
        """Every final file of the job, its completion mark ``skipped`` first."""
        return [self.skipped, self.num_frames, self.feats_scp, self.feats_ark, self.wave_scp,
                self.wave_ark, self.faces_scp, self.faces_ark, self.face_format]


def is_done(out_dir: str | os.PathLike) -> bool:
    """Whether the dump dir ``out_dir`` is complete (merged and checked)."""
    return (Path(out_dir) / DONE_MARKER).is_file()


@dataclass
class MergeSummary:
    """What ``merge_dump`` found: counts, skip reasons, trials kept and dropped per list."""

    n_dumped: int
    n_skipped: int
    skip_reasons: Counter = field(default_factory=Counter)
    trials_kept: dict[str, int] = field(default_factory=dict)
    trials_dropped: dict[str, int] = field(default_factory=dict)

    def lines(self) -> list[str]:
        """Human-readable report, one fact per line."""
        out = [f"{self.n_dumped} utterances dumped, {self.n_skipped} skipped"]
        out += [f"  skipped {n} x: {reason}" for reason, n in self.skip_reasons.most_common()]
        out += [f"{name}: kept {self.trials_kept[name]} trials, dropped "
                f"{self.trials_dropped[name]} naming skipped utterances"
                for name in self.trials_kept]
        return out


def _merge_tables(paths: list[Path]) -> dict[str, str]:
    merged: dict[str, str] = {}
    for path in paths:
        for key, value in read_table(path).items():
            if key in merged:
                raise DumpError(f"{path}: utterance '{key}' was also written by another job")
            merged[key] = value
    return {key: merged[key] for key in sorted_keys(merged)}


def _merged_face_format(jobs: list[JobOutputs]) -> str:
    """The face format all ``jobs`` wrote (one faces.scp cannot mix formats)."""
    formats = {}
    for job in jobs:
        try:
            formats[job.job] = read_format_file(job.face_format)
        except ValueError as err:
            raise DumpError(str(err)) from None
    if len(set(formats.values())) > 1:
        raise DumpError(f"{jobs[0].out_dir}: dump jobs wrote faces in different formats ("
                        + ", ".join(f"job {j}: {f}" for j, f in formats.items())
                        + "); rerun them with one config")
    return formats[jobs[0].job]


def _dumped_waveforms(jobs: list[JobOutputs]) -> bool:
    """Whether ``jobs`` dumped waveforms (``wave.J.scp``): all of them or none."""
    wrote = {job.job: job.wave_scp.is_file() for job in jobs}
    if len(set(wrote.values())) > 1:
        missing = [j for j, w in wrote.items() if not w]
        raise DumpError(f"{jobs[0].out_dir}: some dump jobs wrote waveforms (wave.J.scp) and "
                        f"others did not (e.g. job {missing[0]}); rerun them with one config")
    return all(wrote.values())


def merge_dump(data_dir: str | os.PathLike, out_dir: str | os.PathLike,
               num_jobs: int, job_log: str | None = None) -> MergeSummary:
    """Merge the outputs of dump jobs ``1..num_jobs`` of ``data_dir`` into the data dir ``out_dir``.

    Fails (``DumpError``) if a job's files are missing (naming the job's log, ``job_log`` with
    JOB for the job number, default ``out_dir/log/dump.JOB.log``), an utterance of wav.scp is
    neither dumped nor skipped, or an ark an scp points at does not exist. Writes
    ``out_dir/.done`` last.
    """
    source_dir = DataDir(data_dir)
    source = source_dir.load()
    out = DataDir(out_dir)
    has_video = source.video is not None
    jobs = [JobOutputs(out.root, job) for job in range(1, num_jobs + 1)]
    for job in jobs:
        needed = [job.feats_scp, job.num_frames, job.skipped]
        for path in needed + ([job.faces_scp, job.face_format] if has_video else []):
            if not path.is_file():
                log = (job_log or f"{out.root}/log/dump.JOB.log").replace("JOB", str(job.job))
                raise DumpError(f"dump job {job.job} did not complete: {path} is missing "
                                f"(see {log})")
    feats = _merge_tables([job.feats_scp for job in jobs])
    wave = _merge_tables([job.wave_scp for job in jobs]) if _dumped_waveforms(jobs) else None
    num_frames = _merge_tables([job.num_frames for job in jobs])
    skipped = _merge_tables([job.skipped for job in jobs])
    faces = _merge_tables([job.faces_scp for job in jobs]) if has_video else None
    face_format = _merged_face_format(jobs) if has_video else None
    for name, table in (("utt2num_frames", num_frames), ("wave.scp", wave), ("faces.scp", faces)):
        if table is not None and list(table) != list(feats):
            raise DumpError(f"{out.root}: the utterances of {name} differ from feats.scp")
    unaccounted = [u for u in source.wav if u not in feats and u not in skipped]
    if unaccounted:
        raise DumpError(f"{len(unaccounted)} utterance(s) of {source_dir.wav_scp} are neither "
                        f"dumped nor skipped, e.g. '{unaccounted[0]}' (were the jobs run on "
                        f"{source_dir}/split{num_jobs}?)")
    foreign = [u for u in [*feats, *skipped] if u not in source.wav]
    if foreign:
        raise DumpError(f"{out.root}: utterance '{foreign[0]}' is not in {source_dir}; stale "
                        "output of another data dir?")
    for ark in sorted({v.rsplit(":", 1)[0] for v in [*feats.values(), *(wave or {}).values(),
                                                       *(faces or {}).values()]}):
        if not os.path.isfile(ark):
            raise DumpError(f"{out.root}: ark '{ark}' named in an scp does not exist")
    if not feats:
        raise DumpError(f"{out.root}: every utterance was skipped (see {out.root}/skipped)")
    dumped = source.subset(feats)
    dumped.feats, dumped.faces, dumped.utt2num_frames = feats, faces, num_frames
    dumped.wave = wave
    # A merge that fails part-way (e.g. a full disk) must not leave an old mark standing.
    out.file(DONE_MARKER).unlink(missing_ok=True)
    if wave is None:  # a wave.scp of an earlier dump with waveforms would be stale
        out.file("wave.scp").unlink(missing_ok=True)
    out.write(dumped)
    if face_format is not None:
        write_face_format(out.file(FORMAT_FILE), face_format)
    write_table(out.file("skipped"), skipped)
    validate_data_dir(out.root, check_files=False)
    write_text_atomic(out.file(DONE_MARKER), "")
    return MergeSummary(
        n_dumped=len(feats), n_skipped=len(skipped),
        # Reasons read "<category>: <details>"; the report counts categories.
        skip_reasons=Counter(reason.split(":")[0] for reason in skipped.values()),
        trials_kept={name: len(t) for name, t in dumped.trials.items()},
        trials_dropped={name: len(source.trials[name]) - len(t)
                        for name, t in dumped.trials.items()})
