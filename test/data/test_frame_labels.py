"""Per-frame phone labels: CTM -> frames by hand, file round trips and errors, the simulated
phone recogniser's error rate, and frame_phones/phones.txt travelling with data dirs."""
from __future__ import annotations

import re

import kaldiio
import numpy as np
import pytest

from xmodal.bin import ctm_to_frame_labels as ctm_cli
from xmodal.data.datadir import (DataDir, DataDirError, DataDirTables, read_table,
                                 split_data_dir, utt2spk_to_spk2utt, write_data_dir)
from xmodal.data.dump_merge import merge_dump
from xmodal.data.frame_labels import (corrupt_labels, ctm_frame_labels, fit_to_frames,
                                      phone_error_rate, read_frame_labels,
                                      read_phone_posteriors, read_phone_table,
                                      write_frame_labels, write_phone_table)
from xmodal.data.subset import subset_data_dir
from xmodal.data.validate import validate_data_dir

# b [0.05, 0.07): frames 5-6; a [0.07, 0.10): 7-9 (0.07 / 0.01 is 7.000000000000001 in
# floating point, still frame 7); gap: 10-12 silent (frame 12 at 0.12 < 0.125); b
# [0.125, 0.165): 13-16, the last frame. u2: c [0, 0.015): 0-1, then a CTM 'sil' and an
# espeak-ng pause '_:' to 0.045.
# u3: a [0, 0.031) and b [0.02, 0.05) overlap (as 3-decimal rounding can make them): frame 2
# goes to b, which starts later, though its line comes first.
CTM = """\
zz 1 0.000 0.010 x
u3 1 0.020 0.030 b
u3 1 0.000 0.031 a
u1 1 0.125 0.040 b
u1 1 0.050 0.020 b
u1 1 0.070 0.030 a
u2 1 0.000 0.015 c
u2 1 0.015 0.020 sil
u2 1 0.035 0.010 _:
"""
SYMBOLS = ["sil", "a", "b", "c", "x"]
U1 = [0, 0, 0, 0, 0, 2, 2, 1, 1, 1, 0, 0, 0, 2, 2, 2, 2]
U2 = [3, 3, 0, 0, 0]
U3 = [1, 1, 2, 2, 2]


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def message(path, rest: str) -> str:
    """A regex matching an error message that starts with ``path`` then ``rest``."""
    return "^" + re.escape(f"{path}{rest}")


def test_ctm_to_frames_known_answer(tmp_path):
    symbols, labels = ctm_frame_labels(write(tmp_path / "ctm", CTM), ["u3", "u2", "u1"])
    # Phones of every CTM utterance (zz too), so data dirs of one CTM share ids.
    assert symbols == SYMBOLS
    assert list(labels) == ["u1", "u2", "u3"]
    assert labels["u1"].dtype == np.int64
    assert [labels[u].tolist() for u in ("u1", "u2", "u3")] == [U1, U2, U3]


def test_ctm_frame_shift(tmp_path):
    _, labels = ctm_frame_labels(write(tmp_path / "ctm", CTM), ["u1"], frame_shift=0.02)
    # Frame t at 0.02 t: b holds 0.06 (3), a 0.08 (4, 5 is 0.10: end excluded), b 0.14, 0.16.
    assert labels["u1"].tolist() == [0, 0, 0, 2, 1, 0, 0, 2, 2]


@pytest.mark.parametrize("line, rest", [
    ("u1 1 0.1 0.2\n", ":2: expected '<utt> <channel> <start> <duration> <phone>"),
    ("u1 1 0.1 0.2 a b c\n", ":2: expected '<utt> <channel> <start> <duration> <phone>"),
    ("u1 1 x 0.2 a\n", ":2: start 'x' or duration '0.2' is not a number"),
    ("u1 1 0.1 nan a\n", ":2: start '0.1' or duration 'nan' is not finite"),
    ("u1 1 0.1 -0.2 a\n", ":2: negative start '0.1' or duration '-0.2'"),
    ("\n", ":2: empty line"),
])
def test_ctm_errors_name_the_line(tmp_path, line, rest):
    # The bad line belongs to an utterance not asked for: the CTM is checked whole.
    ctm = write(tmp_path / "ctm", "u1 1 0.0 0.1 a\n" + line.replace("u1", "u9"))
    with pytest.raises(DataDirError, match=message(ctm, rest)):
        ctm_frame_labels(ctm, ["u1"])


def test_ctm_utterance_without_phones(tmp_path):
    ctm = write(tmp_path / "ctm", CTM)
    with pytest.raises(DataDirError, match=message(ctm, ": utterance 'u4' has no phones")):
        ctm_frame_labels(ctm, ["u1", "u4"])
    with pytest.raises(DataDirError, match="file not found"):
        ctm_frame_labels(tmp_path / "nope", ["u1"])


def test_phone_table_round_trip(tmp_path):
    # Not C order (which would put '@' and 'Z' before 'sil'): the file keeps id order.
    symbols = ["sil", "aI", "@", "Z"]
    write_phone_table(tmp_path / "phones.txt", symbols)
    assert (tmp_path / "phones.txt").read_text() == "sil 0\naI 1\n@ 2\nZ 3\n"
    assert read_phone_table(tmp_path / "phones.txt") == symbols
    assert [p.name for p in tmp_path.iterdir()] == ["phones.txt"]  # no temporary left
    with pytest.raises(DataDirError, match="id 0 is not 'sil'"):
        write_phone_table(tmp_path / "bad.txt", ["a", "sil"])
    with pytest.raises(DataDirError, match="duplicate symbols"):
        write_phone_table(tmp_path / "bad.txt", ["sil", "a", "a"])


@pytest.mark.parametrize("text, rest", [
    ("sil 0\na x\n", ":2: symbol 'a': id 'x' is not an integer"),
    ("sil 0\na 1.0\n", ":2: symbol 'a': id '1.0' is not an integer"),
    ("sil 0\na 2\n", ":2: symbol 'a': id 2, expected 1 (ids must run 0, 1, 2, ..."),
    ("sil 0\na 1\nb 1\n", ":3: symbol 'b': id 1 is a duplicate (also on line 2)"),
    ("a 0\nsil 1\n", ":1: id 0 is 'a', expected 'sil'"),
    ("sil 0\nsil 1\n", ":2: key 'sil' is a duplicate"),
])
def test_phone_table_errors_name_the_line(tmp_path, text, rest):
    path = write(tmp_path / "phones.txt", text)
    with pytest.raises(DataDirError, match=message(path, rest)):
        read_phone_table(path)


def test_frame_labels_round_trip(tmp_path):
    labels = {"u2": np.array([3, 3, 0]), "U1": np.array([0, 1, 4], dtype=np.int32)}
    write_frame_labels(tmp_path / "frame_phones", labels)
    # C order: upper case first.
    assert (tmp_path / "frame_phones").read_text() == "U1 0 1 4\nu2 3 3 0\n"
    back = read_frame_labels(tmp_path / "frame_phones", n_phones=5)
    assert list(back) == ["U1", "u2"] and all(v.dtype == np.int64 for v in back.values())
    assert {k: v.tolist() for k, v in back.items()} == {"U1": [0, 1, 4], "u2": [3, 3, 0]}
    with pytest.raises(DataDirError, match="'u1': labels must be a 1-D integer array"):
        write_frame_labels(tmp_path / "bad", {"u1": np.array([0.5, 1.0])})


@pytest.mark.parametrize("text, rest", [
    ("u1 0 1\nu2 0 x 1\n", ":2: utterance 'u2': frame 1: phone id 'x' is not an integer"),
    ("u1 0 1\nu2 0 1 5\n", ":2: utterance 'u2': frame 2: phone id 5 is outside 0..4"),
    ("u1 -1 1\n", ":1: utterance 'u1': frame 0: phone id -1 is outside 0..4"),
    ("u2 0\nu1 0\n", ":2: key 'u1' is out of order"),
])
def test_frame_labels_errors_name_line_and_key(tmp_path, text, rest):
    path = write(tmp_path / "frame_phones", text)
    with pytest.raises(DataDirError, match=message(path, rest)):
        read_frame_labels(path, n_phones=5)


def test_fit_to_frames():
    labels = np.array([1, 2, 2, 3])
    assert fit_to_frames(labels, 6, "u1").tolist() == [1, 2, 2, 3, 0, 0]
    assert fit_to_frames(labels, 4, "u1").tolist() == [1, 2, 2, 3]
    assert fit_to_frames(labels, 2, "u1").tolist() == [1, 2]
    assert fit_to_frames(labels, 3, "u1", tolerance=1).tolist() == [1, 2, 2]
    with pytest.raises(DataDirError, match=r"^frame_phones: utterance 'u1': 4 frame labels "
                                           r"for 1 feature frames \(3 too many"):
        fit_to_frames(labels, 1, "frame_phones: utterance 'u1'")
    with pytest.raises(DataDirError, match="2 frame labels for 0"):
        fit_to_frames(labels[:2], 0, "u1", tolerance=1)


def test_phone_error_rate_counts_segments_not_frames():
    ref = np.array([0, 1, 1, 2, 0, 0, 1, 3])           # 1 2 1 3
    # Longer or shorter runs and moved silence are no errors.
    assert phone_error_rate(ref, np.array([1, 1, 1, 2, 2, 0, 1, 3])) == 0
    # One substitution (2 -> 4), one deletion (the second 1): 2 edits of 4.
    assert phone_error_rate(ref, np.array([0, 1, 4, 4, 0, 0, 0, 3])) == 0.5
    # An insertion: 5 inside the first 1.
    assert phone_error_rate(ref, np.array([0, 1, 5, 2, 0, 0, 1, 3])) == 0.25
    with pytest.raises(ValueError, match="the reference has no phones"):
        phone_error_rate(np.zeros(3, dtype=np.int64), np.array([1, 1, 1]))


N_PHONES = 45


def n_segments(labels: np.ndarray) -> int:
    """How many non-silence runs ``labels`` has."""
    starts = np.flatnonzero(np.diff(labels, prepend=-1))
    return int(np.count_nonzero(labels[starts]))


def speech_like(rng, n_utts: int) -> list[np.ndarray]:
    """Utterances of 20-40 phones of 1-12 frames, with silences between some of them."""
    utts = []
    for _ in range(n_utts):
        runs = [(0, int(rng.integers(5, 30)))]
        for _ in range(int(rng.integers(20, 41))):
            if rng.random() < 0.15:
                runs.append((0, int(rng.integers(1, 20))))
            runs.append((int(rng.integers(1, N_PHONES)), int(rng.integers(1, 13))))
        runs.append((0, int(rng.integers(5, 30))))
        utts.append(np.concatenate([np.full(n, p, dtype=np.int64) for p, n in runs]))
    return utts


@pytest.fixture(scope="module")
def references():
    return speech_like(np.random.default_rng(0), 1000)


@pytest.mark.parametrize("error_rate", [0.1, 0.3, 0.6, 1.0])
def test_corrupted_labels_have_the_requested_phone_error_rate(references, error_rate):
    rng = np.random.default_rng(1)
    edits = length = 0
    for ref in references:
        hyp = corrupt_labels(ref, N_PHONES, error_rate, rng)
        assert hyp.shape == ref.shape and hyp.dtype == ref.dtype
        assert (hyp[ref == 0] == 0).all(), "silence changed"
        n_ref = n_segments(ref)
        edits += phone_error_rate(ref, hyp) * n_ref
        length += n_ref
    # About 30,000 reference phones: the standard error is at most 0.003.
    assert abs(edits / length - error_rate) < 0.008


def test_corruption_makes_every_kind_of_error(references):
    rng = np.random.default_rng(2)
    longer = shorter = 0
    for ref in references[:200]:
        hyp = corrupt_labels(ref, N_PHONES, 0.3, rng)
        difference = n_segments(hyp) - n_segments(ref)
        longer += difference > 0
        shorter += difference < 0
    assert longer > 20 and shorter > 20


def test_corruption_rate_zero_deterministic_and_input_untouched(references):
    ref = references[0]
    copy = ref.copy()
    assert np.array_equal(corrupt_labels(ref, N_PHONES, 0.0, np.random.default_rng(3)), ref)
    first = corrupt_labels(ref, N_PHONES, 0.5, np.random.default_rng(3))
    assert np.array_equal(first, corrupt_labels(ref, N_PHONES, 0.5, np.random.default_rng(3)))
    assert not np.array_equal(first, ref) and np.array_equal(ref, copy)
    with pytest.raises(ValueError, match="error rate 1.5 is not in"):
        corrupt_labels(ref, N_PHONES, 1.5, np.random.default_rng(3))


def test_phone_posteriors_checked_on_access(tmp_path):
    good = np.array([[0.7, 0.3, 0.0], [0.0, 0.0, 1.0]], dtype=np.float32)
    with kaldiio.WriteHelper(f"ark,scp:{tmp_path}/post.ark,{tmp_path}/phone_post.scp") as w:
        w("u1", good)
        w("u2", good * 2)
        w("u3", np.full((2, 3), np.nan, dtype=np.float32))
    posts = read_phone_posteriors(tmp_path / "phone_post.scp")
    assert list(posts) == ["u1", "u2", "u3"] and len(posts) == 3
    assert posts["u1"].dtype == np.float32 and np.array_equal(posts["u1"], good)
    with pytest.raises(DataDirError, match=message(tmp_path / "phone_post.scp",
                                                   ": utterance 'u2': frame 0: posteriors sum "
                                                   "to 2.000000, not 1")):
        posts["u2"]
    with pytest.raises(DataDirError, match="'u3': frame 0: posteriors sum to nan"):
        posts["u3"]
    with pytest.raises(KeyError):
        posts["u4"]
    bad = write(tmp_path / "bad.scp", "u1\n")
    with pytest.raises(DataDirError, match=message(bad, ": Invalid line")):
        read_phone_posteriors(bad)


def labelled_dir(tmp_path):
    """A data dir of 2 speakers, 5 utterances, with frame_phones and phones.txt."""
    utt2spk = {f"s{s}-u{u}": f"s{s}" for s in (1, 2) for u in (1, 2, 3)}
    utt2spk.pop("s2-u3")
    tables = DataDirTables(utt2spk=utt2spk, spk2utt=utt2spk_to_spk2utt(utt2spk),
                           wav={u: f"/w/{u}.wav" for u in utt2spk})
    root = tmp_path / "src"
    write_data_dir(root, tables)
    write_phone_table(root / "phones.txt", ["sil", "b", "a"])
    write_frame_labels(root / "frame_phones",
                       {u: np.array([0, 1, 1, 2][:2 + i % 3]) for i, u in enumerate(utt2spk)})
    return root


def test_subset_split_and_dump_merge_carry_frame_phones(tmp_path):
    src = labelled_dir(tmp_path)
    phones = (src / "phones.txt").read_bytes()
    frame_phones = read_table(src / "frame_phones")
    assert DataDir(src).load().subset(["s1-u2"]).frame_phones == {"s1-u2": frame_phones["s1-u2"]}

    speakers = subset_data_dir(src, tmp_path / "sub", 1, seed=0)
    sub_utts = read_table(tmp_path / "sub" / "utt2spk")
    assert set(sub_utts.values()) == set(speakers)
    assert read_table(tmp_path / "sub" / "frame_phones") == \
        {u: frame_phones[u] for u in sub_utts}
    assert (tmp_path / "sub" / "phones.txt").read_bytes() == phones  # id order, not C order

    split = split_data_dir(src, 2)
    for part in ("1", "2"):
        utts = read_table(split / part / "utt2spk")
        assert read_table(split / part / "frame_phones") == {u: frame_phones[u] for u in utts}
        assert (split / part / "phones.txt").read_bytes() == phones

    # One dump job that dumped all but s2-u2.
    dump = tmp_path / "dump"
    dump.mkdir()
    write(dump / "feats.1.ark", "not read")
    dumped = [u for u in frame_phones if u != "s2-u2"]
    write(dump / "feats.1.scp", "".join(f"{u} {dump}/feats.1.ark:{i}\n"
                                        for i, u in enumerate(dumped)))
    write(dump / "utt2num_frames.1", "".join(f"{u} 100\n" for u in dumped))
    write(dump / "skipped.1", "s2-u2 too-short: 0.1 s\n")
    merge_dump(src, dump, 1)
    assert read_table(dump / "frame_phones") == {u: frame_phones[u] for u in dumped}
    assert (dump / "phones.txt").read_bytes() == phones


def test_validate_accepts_frame_phones_and_checks_its_utterances(tmp_path):
    src = labelled_dir(tmp_path)
    summary = validate_data_dir(src, check_files=False)
    assert "frame_phones" in summary[1].split()
    write(src / "frame_phones", "s1-u1 0 1\n")
    with pytest.raises(DataDirError, match="utterance 's1-u2' has no entry in .*frame_phones"):
        validate_data_dir(src, check_files=False)


def test_cli_writes_both_files(tmp_path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    write(data / "utt2spk", "u1 u\nu2 u\n")
    ctm = write(tmp_path / "phones.ctm", CTM)
    assert ctm_cli.main(["--ctm", str(ctm), "--data-dir", str(data)]) == 0
    assert (data / "frame_phones").read_text() == \
        f"u1 {' '.join(map(str, U1))}\nu2 {' '.join(map(str, U2))}\n"
    assert read_phone_table(data / "phones.txt") == SYMBOLS
    assert "2 utterances, 5 phones, 22 frames" in capsys.readouterr().err
    write(data / "utt2spk", "u1 u\nu4 u\n")
    assert ctm_cli.main(["--ctm", str(ctm), "--data-dir", str(data)]) == 1
    assert f"error: {ctm}: utterance 'u4' has no phones" in capsys.readouterr().err
