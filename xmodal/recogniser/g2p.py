"""Grapheme-to-phoneme conversion with the ``espeak-ng`` command line.

``espeak-ng -q -x --sep=' ' -v VOICE`` prints the phoneme mnemonics of a text, e.g.
``D @2  k w 'I k  b r 'aU n`` for "the quick brown". The phones kept are those mnemonics
without their stress marks (``'``, ``''``, ``'!``, ``,``, ``,,``, ``%``, ``%%``, ``=``) and
without pauses (``_``, ``_:``, ``_!``: silence, which the recogniser emits as its blank): the
names libespeak-ng's phoneme events carry, which the synthetic corpus writes to
``annotations/phones.ctm``. They agree up to the allophones the library picks only while
synthesising and the accent of the voice (-x ``t#``, ``I#`` and ``3`` may be spoken as ``t``,
``I2`` and ``a#``): on the synthetic corpus ~98% of the en-us G2P phones are symbols of its
phone table. The separator is a space, not ``_``, which also begins the pause mnemonics
(``i__:__:`` for ``i _: _:``).

Many transcripts share one process. Lines read from standard input are spoken one at a time,
and each one's phonemes end with a newline; but one line may print several lines (a sentence
or clause each) and an empty line prints an empty line. So each transcript is followed by an
empty line, and the output splits at its empty lines into one group per transcript. A
transcript without phonemes ("...") prints an empty line of its own: if the empty lines are
not exactly one per transcript, the chunk is redone one process per transcript, which names
the culprit. Lines longer than espeak-ng's 1000-byte line buffer would be cut, so long
transcripts go one per process anyway.
"""
from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator, Mapping

ESPEAK = "espeak-ng"
# Stress mnemonics of espeak-ng's phoneme tables, prefixed to (or, '=', suffixed to) a vowel.
_STRESS = re.compile(r"'!|['%,=]")
# espeak-ng reads standard input with fgets into a 1000-byte buffer (line and newline).
_MAX_LINE_BYTES = 900
CHUNK_SIZE = 500  # transcripts per process: a failing chunk is redone one by one


class G2PError(RuntimeError):
    """espeak-ng is missing, failed, or gave no phones; the message names the utterance."""


def phones_from_mnemonics(output: str) -> list[str]:
    """The phones of ``espeak-ng -x --sep=' '`` output: stress marks stripped, pauses dropped."""
    phones = []
    for token in output.split():
        token = _STRESS.sub("", token)
        if token and not token.startswith("_"):
            phones.append(token)
    return phones


def _espeak(stdin: str, voice: str, whole: bool, what: str) -> str:
    """espeak-ng's mnemonics of ``stdin``: one text (``whole``) or one text per line."""
    cmd = [ESPEAK, "-q", "-x", "--sep= ", "-v", voice] + (["--stdin"] if whole else [])
    try:
        proc = subprocess.run(cmd, input=stdin, capture_output=True, encoding="utf-8")
    except FileNotFoundError:
        raise G2PError(f"{what}: the '{ESPEAK}' command was not found (install the Debian "
                       f"package espeak-ng)") from None
    if proc.returncode != 0:
        message = " ".join((proc.stderr + proc.stdout).split()) or "no message"
        raise G2PError(f"{what}: {ESPEAK} -v {voice} failed with exit code "
                       f"{proc.returncode}: {message}")
    return proc.stdout


def _one(key: str, text: str, voice: str) -> list[str]:
    """The phones of one transcript, from a process of its own."""
    phones = phones_from_mnemonics(_espeak(text, voice, True, f"utterance '{key}'"))
    if not phones:
        raise G2PError(f"utterance '{key}': espeak-ng found no phones in {text!r}")
    return phones


def _chunk(items: list[tuple[str, str]], voice: str) -> Iterator[list[str]]:
    """The phones of each transcript of ``items``, from one process if its output splits
    unambiguously, else one process each."""
    try:
        lines = _espeak("".join(f"{text}\n\n" for _, text in items), voice, False,
                        f"utterances '{items[0][0]}' to '{items[-1][0]}'").splitlines()
    except G2PError:
        lines = []  # redone one by one below, which names the utterance that fails
    groups: list[list[str]] = [[]]
    for line in lines:
        if line.strip():
            groups[-1].append(line)
        else:
            groups.append([])
    # One empty line per transcript (the last one ends the output) and phones in every group.
    if len(groups) == len(items) + 1 and not groups[-1]:
        phones = [phones_from_mnemonics(" ".join(group)) for group in groups[:-1]]
        if all(phones):
            yield from phones
            return
    for key, text in items:
        yield _one(key, text, voice)


def phonemise(texts: Mapping[str, str], voice: str = "en-us",
              chunk_size: int = CHUNK_SIZE) -> dict[str, list[str]]:
    """Utterance -> espeak-ng phones of its transcript, in the order of ``texts``.

    ``voice`` is an espeak-ng voice name (``espeak-ng --voices``). Transcripts are spoken as
    given: lower-case Kaldi's upper-case ones first, or espeak-ng spells short words as
    acronyms ("IT" is ``aI t i:``). A missing espeak-ng, a failing call or a transcript
    without phones raises ``G2PError`` naming the utterance.
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    out: dict[str, list[str]] = {}
    batch: list[tuple[str, str]] = []
    for key, text in texts.items():
        if len(text.encode("utf-8")) > _MAX_LINE_BYTES or "\n" in text:
            out[key] = _one(key, text, voice)
        else:
            batch.append((key, text))
    for start in range(0, len(batch), chunk_size):
        items = batch[start:start + chunk_size]
        out.update(zip((key for key, _ in items), _chunk(items, voice)))
    return {key: out[key] for key in texts}
