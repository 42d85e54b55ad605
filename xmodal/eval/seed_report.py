"""One RESULTS.md over several training seeds of the same recipe: what holds on every seed.

A claim about the mini recipe should survive a change of seed (and of machine, whose
floating-point kernels move training as a seed does). For each seed's experiment dir this
reads what stages 4 and 6 wrote and checks the claims the README makes:

- every content-trained model finds the audio of a face step among the window's steps at
  least ``content_factor`` times as often as chance (content embedding, held-out tracks);
- every identity-trained model matches a face to its voice among B tracks at least
  ``identity_factor`` times as often as chance (identity embedding, unseen identities);
- every identity-trained model verifies speakers significantly better (paired bootstrap
  over speakers, same trials) than each floor: the untrained encoder and mean log-mel.

It also lists each seed's numbers with their intervals, so a reader sees how far apart the
seeds are next to how wide each interval is.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from xmodal.atomic import write_text_atomic
from xmodal.eval.bootstrap import significantly_below
from xmodal.eval.comparison import compare_over_seeds, compare_score_files
from xmodal.eval.report import (RECON_HYPOTHESES, check_hypotheses, claim_holds,
                                config_losses, cpu_model, difference_cell, git_commit,
                                load_json, metric_cell, name)
from xmodal.eval.ssl_results import accuracy_cell


@dataclass(frozen=True)
class Claim:
    """One checked claim of one seed: what, the evidence, and whether it held."""

    seed: str
    model: str
    what: str
    evidence: str
    holds: bool


def _accuracy_claims(seed: str, exp: Path, tag: str, content_factor: float,
                     identity_factor: float) -> list[Claim]:
    losses = config_losses(exp / tag)
    r = load_json(exp / tag / "ssl_eval.json")
    claims = []
    for task, factor in (("content", content_factor), ("identity", identity_factor)):
        if not losses.get(task):
            continue
        what = f"{task} accuracy >= {factor:g}x chance"
        if r is None:
            claims.append(Claim(seed, name(tag), what, "not evaluated (stage 4)", False))
            continue
        ratio = r[f"{task}_acc_{task}"] / r[f"chance_{task}"]
        claims.append(Claim(seed, name(tag), what,
                            f"{accuracy_cell(r, f'{task}_acc_{task}')} = {ratio:.1f}x "
                            f"{100 * r[f'chance_{task}']:.2f}%", ratio >= factor))
    return claims


def _floor_claims(seed: str, exp: Path, tag: str, floors: list[str], trial: str,
                  utt2spk: Path | None, n_boot: int) -> list[Claim]:
    if not config_losses(exp / tag).get("identity"):
        return []
    claims = []
    for floor in floors:
        what = f"EER significantly below {name(floor)}"
        a, b = (exp / t / "scores" / f"{trial}.scores" for t in (tag, floor))
        if not (a.exists() and b.exists()):
            claims.append(Claim(seed, name(tag), what, "not scored (stage 6)", False))
            continue
        eer = compare_score_files(a, b, utt2spk=utt2spk, n_boot=n_boot)["eer"]
        low, high = eer["ci"]
        claims.append(Claim(seed, name(tag), what,
                            f"{eer['a']:.2f} vs {eer['b']:.2f}: {eer['difference']:+.2f} "
                            f"[{low:+.2f}, {high:+.2f}]", eer["significant"] and high < 0))
    return claims


def seed_claims(seeds: dict[str, Path], tags: list[str], floors: list[str], trial: str,
                utt2spk: Path | None = None, n_boot: int = 1000, content_factor: float = 5.0,
                identity_factor: float = 3.0) -> list[Claim]:
    """Every claim of the module docstring, for every seed and model."""
    claims = []
    for seed, exp in seeds.items():
        for tag in tags:
            claims += _accuracy_claims(seed, exp, tag, content_factor, identity_factor)
            claims += _floor_claims(seed, exp, tag, floors, trial, utt2spk, n_boot)
    return claims


def _numbers_table(seeds: dict[str, Path], tags: list[str], floors: list[str],
                   trial: str) -> str:
    lines = ["| seed | model | content N-way % (content emb.) | identity B-way % (identity "
             "emb.) | EER % | minDCF(0.01) |", "|---|---|---|---|---|---|"]
    for seed, exp in seeds.items():
        for tag in tags + floors:
            r = load_json(exp / tag / "ssl_eval.json")
            m = load_json(exp / tag / "scores" / f"{trial}.metrics.json")
            losses = config_losses(exp / tag)
            cells = [accuracy_cell(r, f"{task}_acc_{task}") if r is not None and losses.get(task)
                     else "-" for task in ("content", "identity")]
            lines.append(f"| {seed} | {name(tag)} | {cells[0]} | {cells[1]} | "
                         f"{metric_cell(m, 'eer', 2)} | {metric_cell(m, 'mindcf_p0.01', 3)} |")
    return "\n".join(lines)


def write_seed_report(out: Path, seeds: dict[str, Path], tags: list[str], floors: list[str],
                      trial: str = "trials", utt2spk: Path | None = None, n_boot: int = 1000,
                      content_factor: float = 5.0, identity_factor: float = 3.0) -> list[Claim]:
    """Write ``out`` (markdown): the claims checked on every seed, then the numbers."""
    claims = seed_claims(seeds, tags, floors, trial, utt2spk, n_boot, content_factor,
                         identity_factor)
    held = sum(c.holds for c in claims)
    rows = "\n".join(f"| {c.seed} | {c.model} | {c.what} | {c.evidence} | "
                     f"{'yes' if c.holds else '**NO**'} |" for c in claims)
    md = f"""# Results over {len(seeds)} seeds

Code: commit `{git_commit()}`; machine: {cpu_model()}. Seeds: {', '.join(seeds)} (the
training seed of every model; the corpus is the same). Each seed's own tables:
{', '.join(f'`{exp}/RESULTS.md`' for exp in seeds.values())}. Brackets: 95% intervals
(bootstrap over identities for accuracies, over speakers for EER differences).

## The claims, checked on every seed: {held} of {len(claims)} hold

| seed | model | claim | evidence | holds |
|---|---|---|---|---|
{rows}

## Every seed's numbers (`{trial}`)

{_numbers_table(seeds, tags, floors, trial)}
"""
    write_text_atomic(out, md)
    return claims


def write_recon_seed_report(out: Path, seeds: dict[str, Path], tags: list[str],
                            floors: list[str], trial: str = "trials",
                            utt2spk: Path | None = None, n_boot: int = 1000) -> None:
    """Write ``out`` (markdown): Stafylakis et al.'s claims (``report.RECON_HYPOTHESES``)
    tested on every seed, then each seed's EERs. A claim that fails is a finding of the
    study, reported as such, not an error."""
    rows, held, total = [], 0, 0
    for seed, exp in seeds.items():
        for h in check_hypotheses(exp, trial, utt2spk, n_boot):
            held, total = held + h.holds, total + 1
            rows.append(f"| {seed} | {h.text()} | {h.eer['a']:.2f} | {h.eer['b']:.2f} | "
                        f"{difference_cell(h.eer, n_boot)} | {'yes' if h.holds else '**NO**'} |")
    over_seeds, over_held, over_total = _over_seeds_rows(seeds, trial, utt2spk, n_boot)
    numbers = ["| seed | model | EER % | minDCF(0.01) |", "|---|---|---|---|"]
    for seed, exp in seeds.items():
        for tag in tags + floors:
            m = load_json(exp / tag / "scores" / f"{trial}.metrics.json")
            numbers.append(f"| {seed} | {name(tag)} | {metric_cell(m, 'eer', 2)} | "
                           f"{metric_cell(m, 'mindcf_p0.01', 3)} |")
    table = "\n".join(rows)
    # Seeds trained beyond a reproduce run's (local/seed_study.sh) stop at stage 6: no tables.
    own = [f"`{exp}/RESULTS.md`" for exp in seeds.values() if (exp / "RESULTS.md").is_file()]
    md = f"""# Stafylakis et al. 2019 over {len(seeds)} seeds

Code: commit `{git_commit()}`; machine: {cpu_model()}. Seeds: {', '.join(seeds)} (the
training seed of every model; the corpus is the same). Each seed's own tables:
{', '.join(own) or 'none'}. Each claim is a paired bootstrap
over speakers of the EER difference on the same trials ("beats": significantly lower; "at
least as good": not significantly higher); brackets are 95% intervals.

## The paper's claims, tested on every seed: {held} of {total} hold

| seed | claim | EER A % | EER B % | A - B [95% CI] | p | holds |
|---|---|---|---|---|---|---|
{table}

## The claims over seeds: {over_held} of {over_total} hold

A seed's interval treats its trained models as fixed; a change of seed moves the
difference too. Here each claim's quantity is the mean over seeds of A - B, with an interval
from drawing speakers and seeds together (`bootstrap.seed_paired_bootstrap`): a claim holds
over seeds when that mean passes the same test. With few seeds (a reproduce run's three) the
seed draws take few values and the interval is too narrow: read it as a summary there;
`local/seed_study.sh` trains more seeds.

| claim | seeds | A - B per seed | mean A - B [95% CI] | p | holds |
|---|---|---|---|---|---|
{over_seeds}

## Every seed's numbers (`{trial}`)

{chr(10).join(numbers)}
"""
    write_text_atomic(out, md)


def _over_seeds_rows(seeds: dict[str, Path], trial: str, utt2spk: Path | None,
                     n_boot: int) -> tuple[str, int, int]:
    """One row per hypothesis scored on >= 2 seeds (``compare_over_seeds``): the rows, how
    many hold and how many were tested."""
    rows, held = [], 0
    for a, b, claim in RECON_HYPOTHESES:
        pairs = [tuple(exp / t / "scores" / f"{trial}.scores" for t in (a, b))
                 for exp in seeds.values()]
        pairs = [p for p in pairs if all(path.exists() for path in p)]
        if len(pairs) < 2:
            continue
        eer = compare_over_seeds(pairs, utt2spk=utt2spk, n_boot=n_boot)
        holds = claim_holds(claim, eer)
        held += holds
        per_seed = " ".join(f"{d:+.2f}" for d in eer["per_seed"])
        rows.append(f"| {name(a)} {claim} {name(b)} | {eer['n_seeds']} | {per_seed} | "
                    f"{difference_cell(eer, n_boot)} | {'yes' if holds else '**NO**'} |")
    none = "| (no claim has both systems scored on two or more seeds) | | | | | |"
    return "\n".join(rows) or none, held, len(rows)


def write_generation_seed_report(out: Path, seeds: dict[str, Path], tags: list[str],
                                 floors: list[str], trial: str = "trials",
                                 utt2spk: Path | None = None, n_boot: int = 1000) -> list[Claim]:
    """Write ``out`` (markdown): Shukla et al.'s face generators on every seed. Claims (stage
    4's held-out tests): each generator's mouth error is significantly below copying the
    still frame and below another identity's audio, and its sync curve is lowest at shift 0.
    Also each audio encoder's EER against the floors (a measurement: nothing trains these
    features to tell speakers apart). Returns the claims."""
    claims, rows = [], []
    for seed, exp in seeds.items():
        for tag in tags:
            r = load_json(exp / tag / "generation_eval.json")
            if r is None:
                claims.append(Claim(seed, name(tag), "held-out generator tests",
                                    f"{exp / tag / 'generation_eval.json'} missing", False))
                continue
            cells = []
            for baseline in ("copy_still", "shuffled_audio"):
                d = r["model_minus"][baseline]
                holds = significantly_below(d)
                evidence = (f"{d['difference']:+.4f} [{d['ci'][0]:+.4f}, {d['ci'][1]:+.4f}]")
                claims.append(Claim(seed, name(tag), f"mouth L1 below {baseline}", evidence,
                                    holds))
                cells.append(f"{evidence} {'yes' if holds else '**NO**'}")
            claims.append(Claim(seed, name(tag), "sync curve lowest at shift 0",
                                f"minimum at {r['sync_argmin']:+d}", r["sync_argmin"] == 0))
            m = r["mouth_l1"]["model"]
            rows.append(f"| {seed} | {name(tag)} | {r['still_frame'].replace('_', ' ')} | "
                        f"{m['mean']:.4f} [{m['ci'][0]:.4f}, {m['ci'][1]:.4f}] | "
                        f"{cells[0]} | {cells[1]} | {r['sync_argmin']:+d} |")
    numbers = ["| seed | model | EER % | " + " | ".join(f"- {name(f)} [95% CI] | p" for f in floors)
               + " |", "|---|---|---|" + "---|---|" * len(floors)]
    for seed, exp in seeds.items():
        for tag in tags:
            m = load_json(exp / tag / "scores" / f"{trial}.metrics.json")
            cells = []
            for floor in floors:
                a, b = (exp / t / "scores" / f"{trial}.scores" for t in (tag, floor))
                if not (a.exists() and b.exists()):
                    cells.append("- | -")
                    continue
                eer = compare_score_files(a, b, utt2spk=utt2spk, n_boot=n_boot)["eer"]
                cells.append(difference_cell(eer, n_boot))
            numbers.append(f"| {seed} | {name(tag)} | {metric_cell(m, 'eer', 2)} | "
                           + " | ".join(cells) + " |")
    held = sum(c.holds for c in claims)
    own = [f"`{exp}/RESULTS.md`" for exp in seeds.values() if (exp / "RESULTS.md").is_file()]
    md = f"""# Shukla et al. 2020 over {len(seeds)} seeds

Code: commit `{git_commit()}`; machine: {cpu_model()}. Seeds: {', '.join(seeds)} (the
training seed of every model; the corpus is the same). Each seed's own tables (sync curves,
generated frames): {', '.join(own) or 'none'}. Brackets are 95% intervals from a bootstrap
over held-out identities (generator tests) or test speakers (EER).

## Does the generator use the audio? {held} of {len(claims)} checks hold

Mouth-region L1 on held-out face-tracks; model minus baseline, paired by window (negative:
closer to the real mouth), and whether that is significant.

| seed | model | still frame | mouth L1 | - copy the still frame | - another identity's audio | sync minimum at |
|---|---|---|---|---|---|---|
{chr(10).join(rows)}

## Its audio encoder as a speaker embedding (`{trial}`, raw cosine)

EER minus each floor's on the same trials (paired bootstrap over speakers; negative: better
than the floor). Not a claim of the paper: the generated face's identity comes from the
still frame.

{chr(10).join(numbers)}
"""
    write_text_atomic(out, md)
    return claims
