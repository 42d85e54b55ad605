"""espeak-ng G2P: stress and pauses stripped, batched output mapped back to the right
utterance, the symbols of the synthetic corpus' phone table, and errors naming the utterance."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from xmodal.data.datadir import read_table
from xmodal.data.frame_labels import read_phone_table
from xmodal.recogniser.g2p import G2PError, phonemise, phones_from_mnemonics

STRESS_MARKS = set("'%,=")


def espeak_alone(text: str, voice: str = "en-us") -> list[str]:
    """Phones of ``text`` from an espeak-ng process of its own (the whole text at once)."""
    out = subprocess.run(["espeak-ng", "-q", "-x", "--sep= ", "-v", voice, "--stdin"],
                         input=text, capture_output=True, text=True, check=True).stdout
    return phones_from_mnemonics(out)


def test_mnemonics_lose_stress_marks_and_pauses():
    out = "'O: l w eI z  'E v r i _: _:  b ,V t\n''a %%b ,,c =d '!e f= %g _! _\n"
    assert phones_from_mnemonics(out) == ["O:", "l", "w", "eI", "z", "E", "v", "r", "i", "b",
                                          "V", "t", "a", "b", "c", "d", "e", "f", "g"]


def test_known_words():
    phones = phonemise({"a": "hello world", "b": "the quick brown fox"})
    assert phones["a"] == ["h", "@", "l", "oU", "w", "3:", "l", "d"]
    assert phones["b"][-4:] == ["f", "0", "k", "s"]


def test_batched_output_goes_to_the_right_utterance():
    # Several sentences or clauses print several lines; a leading '-' is not an option.
    texts = {"u1": "first one. second one! third?", "u2": "hello world",
             "u3": "hmm, uh-huh. \"quoted\" (aside) a/b", "u4": "-v always every but",
             "u5": "x" * 950, "u6": "good day"}
    got = phonemise(texts, chunk_size=4)
    assert list(got) == list(texts)
    assert got == {key: espeak_alone(text) for key, text in texts.items()}
    # A transcript without phones in a batch is reported by name, not misaligned.
    with pytest.raises(G2PError, match="utterance 'dots'.*no phones"):
        phonemise({"u2": "hello world", "dots": "...", "u6": "good day"})


def test_failures_name_the_utterance(tmp_path: Path, monkeypatch):
    with pytest.raises(G2PError, match="utterance 'u1'.*voice does not exist"):
        phonemise({"u1": "hello", "u2": "world"}, voice="xx-no-such-voice")
    monkeypatch.setenv("PATH", str(tmp_path))  # no espeak-ng on it
    with pytest.raises(G2PError, match="utterance 'u1'.*'espeak-ng' command was not found"):
        phonemise({"u1": "hello"})


def test_symbols_are_the_synthetic_corpus_phones(learning_dump: Path):
    dump = learning_dump / "ssl_train"
    inventory = set(read_phone_table(dump / "phones.txt"))
    texts = {key: text.lower() for key, text in read_table(dump / "text").items()}
    phones = [p for seq in phonemise(texts).values() for p in seq]
    assert not any(set(p) & STRESS_MARKS or p.startswith("_") for p in phones)
    # The library's events name a few allophones and accents differently (-x t# is t, ...):
    # 98% of the G2P phones are symbols of the corpus' table.
    assert sum(p in inventory for p in phones) / len(phones) > 0.95
    assert len(set(phones) & inventory) / len(set(phones)) > 0.85
