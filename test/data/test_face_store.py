"""Face storage: raw and JPEG windows equal slices of the track, JPEG error bounded and
deterministic, bad entries named by faces.scp:line and key, a JPEG dump read end to end."""
from __future__ import annotations

import re
import shutil

import cv2
import kaldiio
import numpy as np
import pytest
import torch

from xmodal.bin import dump as dump_cli
from xmodal.bin import merge_dump as merge_dump_cli
from xmodal.bin import split_data
from xmodal.config import ConfigError, from_dict
from xmodal.data.datadir import DataDirError, read_table, write_table
from xmodal.data.dump import DumpConfig
from xmodal.data.dump_merge import DumpError, merge_dump
from xmodal.data.face_store import HEADER, encode_track, read_window
from xmodal.data.npy_ark import NumpyArkWriter
from xmodal.data.subset import subset_data_dir
from xmodal.data.track_windows import TrackWindowDataset

FRAMES = 12


def synthetic_face(frames: int = FRAMES, size: int = 64) -> np.ndarray:
    """A moving, smoothly shaded RGB face: skin ellipse, eyes, a mouth that opens, hair."""
    track = np.empty((frames, size, size, 3), np.uint8)
    y, x = np.mgrid[:size, :size] / size
    for t in range(frames):
        image = np.zeros((size, size, 3), np.float32)
        image[:] = (40 + 80 * y)[..., None] * np.float32([0.6, 0.8, 1.0])   # background
        cx = 0.5 + 0.02 * np.sin(t / 2)
        skin = ((x - cx) / 0.32) ** 2 + ((y - 0.55) / 0.4) ** 2 < 1
        image[skin] = np.float32([205, 160, 130]) * (0.8 + 0.3 * (1 - y[skin]))[:, None]
        image[(y < 0.25) & (((x - cx) / 0.4) ** 2 + ((y - 0.3) / 0.3) ** 2 < 1)] = (60, 40, 30)
        for ex in (cx - 0.12, cx + 0.12):
            image[((x - ex) / 0.06) ** 2 + ((y - 0.45) / 0.03) ** 2 < 1] = (50, 60, 90)
        mouth = ((x - cx) / 0.12) ** 2 + ((y - 0.75) / (0.01 + 0.015 * (t % 4))) ** 2 < 1
        image[mouth] = (150, 60, 70)
        track[t] = cv2.GaussianBlur(image, (3, 3), 0.8).round().clip(0, 255)
    return track


def write_tracks(tmp_path, tracks: dict[str, np.ndarray], face_format: str) -> dict[str, str]:
    """Encode and write ``tracks`` to faces.ark/.scp in ``tmp_path``; the scp's entries."""
    with NumpyArkWriter(tmp_path / "faces.ark", tmp_path / "faces.scp") as writer:
        for key, faces in tracks.items():
            writer(key, encode_track(faces, face_format))
    return read_table(tmp_path / "faces.scp", require_sorted=False)


def make_dump_dir(tmp_path, face_format: str) -> dict[str, np.ndarray]:
    """A minimal dump dir of three tracks (feats, faces, utt2num_frames, face_format); the
    tracks' frames."""
    face = synthetic_face()
    tracks = {"a": face, "b": face[::-1].copy(), "c": face[:, ::-1].copy()}
    write_tracks(tmp_path, tracks, face_format)
    with kaldiio.WriteHelper(f"ark,scp:{tmp_path}/feats.ark,{tmp_path}/feats.scp") as writer:
        for key in tracks:
            writer(key, np.zeros((4 * FRAMES, 40), np.float32))
    write_table(tmp_path / "utt2num_frames", {key: str(FRAMES) for key in tracks})
    (tmp_path / "face_format").write_text(f"{face_format}\n")
    return tracks


@pytest.mark.parametrize("face_format", ["raw", "jpeg"])
def test_windows_equal_slices_of_the_whole_track(tmp_path, face_format):
    rgb = synthetic_face()
    tracks = {"gray": rgb[..., 1:2].copy(), "rgb": rgb}
    specs = write_tracks(tmp_path, tracks, face_format)
    for key, faces in tracks.items():
        whole = read_window(specs[key], face_format, 0, FRAMES)
        assert whole.dtype == np.uint8 and whole.shape == faces.shape
        if face_format == "raw":
            np.testing.assert_array_equal(whole, faces)
        for start, n in ((0, 1), (3, 5), (FRAMES - 4, 4), (FRAMES, 0)):
            np.testing.assert_array_equal(read_window(specs[key], face_format, start, n),
                                          whole[start:start + n])
        with pytest.raises(ValueError, match=f"{FRAMES - 2}-{FRAMES + 1}"):
            read_window(specs[key], face_format, FRAMES - 2, 3)


def test_jpeg_error_is_small_and_coding_is_deterministic(tmp_path):
    # At 128 px: at 64 px the hard edges of this drawing are a few pixels wide and the 4:2:0
    # chroma error on them exceeds 3 levels in R and B; at 224 px it is ~1.
    rgb = synthetic_face(size=128)
    for faces in (rgb, rgb[..., :1].copy()):
        entry = encode_track(faces, "jpeg", 90)
        assert entry.dtype == np.uint8 and entry.ndim == 1
        assert entry.nbytes < faces.nbytes / 4
        np.testing.assert_array_equal(encode_track(faces, "jpeg", 90), entry)
    specs = write_tracks(tmp_path, {"gray": rgb[..., :1].copy(), "rgb": rgb}, "jpeg")
    decoded = read_window(specs["rgb"], "jpeg", 0, FRAMES)
    np.testing.assert_array_equal(read_window(specs["rgb"], "jpeg", 0, FRAMES), decoded)
    error = np.abs(decoded.astype(np.int16) - rgb)
    # Colour channels in the right order: a swap of R and B would be tens of levels off.
    assert error.mean() < 3 and all(error[..., c].mean() < 3 for c in range(3))
    gray = read_window(specs["gray"], "jpeg", 0, FRAMES)
    assert np.abs(gray.astype(np.int16) - rgb[..., :1]).mean() < 3
    # A lower quality is smaller: the setting reaches the encoder.
    assert encode_track(rgb, "jpeg", 30).nbytes < encode_track(rgb, "jpeg", 90).nbytes


def test_bad_entries_are_named_by_scp_line_and_key(tmp_path):
    tracks = make_dump_dir(tmp_path, "jpeg")
    scp, ark = tmp_path / "faces.scp", tmp_path / "faces.ark"
    dataset = TrackWindowDataset(tmp_path, 4)
    good = ark.read_bytes()
    entry = encode_track(tracks["b"], "jpeg").tobytes()
    base = good.index(entry)
    frame5 = int(np.frombuffer(entry, "<u8", count=FRAMES + 1, offset=HEADER.size)[5])
    corrupt = bytearray(good)
    corrupt[base + frame5:base + frame5 + 4] = bytes(4)
    ark.write_bytes(bytes(corrupt))
    assert dataset[(1, 0)][1].shape == (4, 64, 64, 3)  # frames 0-3 are intact
    with pytest.raises(DataDirError, match=re.escape(f"{scp}:2: key 'b': ") +
                       ".*frame 5: not a whole JPEG stream"):
        dataset[(1, 4)]
    # An ark cut short inside the last track.
    ark.write_bytes(good[:-100])
    dataset[(1, 4)]
    with pytest.raises(DataDirError, match=re.escape(f"{scp}:3: key 'c': ") +
                       ".*the ark ends inside the array"):
        dataset[(2, FRAMES - 4)]
    ark.unlink()
    with pytest.raises(DataDirError, match=re.escape(f"{scp}:1: key 'a': ") + ".*No such file"):
        dataset[(0, 0)]


def test_a_format_the_entries_do_not_have_is_an_error(tmp_path):
    make_dump_dir(tmp_path, "jpeg")
    scp, format_file = tmp_path / "faces.scp", tmp_path / "face_format"
    format_file.write_text("png\n")
    with pytest.raises(DataDirError, match=re.escape(f"{format_file}: unknown face format 'png' "
                                                     "(known: raw, jpeg)")):
        TrackWindowDataset(tmp_path, 4)
    # Without the file a dump dir is raw (older dumps): JPEG entries are then refused.
    format_file.unlink()
    with pytest.raises(DataDirError, match=re.escape(f"{scp}:1: key 'a': ") +
                       ".*not raw face frames: a uint8 array of 1 dimensions"):
        TrackWindowDataset(tmp_path, 4)[(0, 0)]
    make_dump_dir(tmp_path, "raw")
    format_file.write_text("jpeg\n")
    with pytest.raises(DataDirError, match=re.escape(f"{scp}:1: key 'a': ") +
                       ".*not a 1-D uint8 array"):
        TrackWindowDataset(tmp_path, 4)[(0, 0)]


def test_a_pickled_entry_is_refused(tmp_path):
    make_dump_dir(tmp_path, "raw")
    with kaldiio.WriteHelper(f"ark,scp:{tmp_path}/p.ark,{tmp_path}/p.scp",
                             write_function="pickle") as writer:
        writer("a", synthetic_face())
    lines = (tmp_path / "faces.scp").read_text().splitlines()
    lines[0] = (tmp_path / "p.scp").read_text().strip()
    (tmp_path / "faces.scp").write_text("\n".join(lines) + "\n")
    with pytest.raises(DataDirError, match=re.escape(f"{tmp_path / 'faces.scp'}:1: key 'a': ") +
                       ".*not a kaldiio numpy entry"):
        TrackWindowDataset(tmp_path, 4)[(0, 0)]


def test_config_names_a_bad_face_format_or_quality():
    assert DumpConfig().face_format == "raw"
    with pytest.raises(ConfigError, match="key 'face_format' has a wrong type"):
        from_dict(DumpConfig, {"face_format": "png"}, source="dump.yaml")
    with pytest.raises(ConfigError, match="jpeg_quality must be in 1-100, got 0"):
        from_dict(DumpConfig, {"face_format": "jpeg", "jpeg_quality": 0}, source="dump.yaml")
    with pytest.raises(ValueError, match="face_format must be one of raw, jpeg, got 'png'"):
        DumpConfig(face_format="png")


def test_jpeg_dump_end_to_end_gives_the_raw_dumps_frames_jpeg_coded(tiny_dump, tmp_path):
    """The recipe's tiny data dir dumped as JPEG in two jobs (CLIs), read by the dataset."""
    data = tiny_dump.parent / "data" / "ssl_train"
    split = tmp_path / "split"
    shutil.copytree(data, split)  # split_data writes into the data dir; the fixture's is shared
    assert split_data.main([str(split), "2"]) == 0
    conf = tmp_path / "dump.yaml"
    conf.write_text("face_size: 32\nface_format: jpeg\njpeg_quality: 90\n")
    out = tmp_path / "dump"
    for job in (1, 2):
        assert dump_cli.main(["--config", str(conf), "--data-dir", f"{split}/split2/{job}",
                              "--out-dir", str(out), "--job", str(job)]) == 0
    assert merge_dump_cli.main(["--data-dir", str(split), "--out-dir", str(out),
                                "--num-jobs", "2"]) == 0
    assert (out / "face_format").read_text() == "jpeg\n"
    raw, jpeg = TrackWindowDataset(tiny_dump / "ssl_train", 10), TrackWindowDataset(out, 10)
    assert (raw.face_format, jpeg.face_format) == ("raw", "jpeg") and raw.keys == jpeg.keys
    raw_bytes = sum(p.stat().st_size for p in (tiny_dump / "ssl_train").glob("faces.*.ark"))
    # q90 stores these 32 px frames 2.8-3x smaller than raw (per-frame JPEG headers weigh at
    # this size; q100 gives 1.8x, uncompressed frames 1x); the quality itself is pinned by
    # the exact comparison below.
    assert sum(p.stat().st_size for p in out.glob("faces.*.ark")) < raw_bytes / 2
    # The JPEG dump's windows are exactly the raw dump's frames JPEG-coded.
    raw_specs = read_table(tiny_dump / "ssl_train" / "faces.scp")
    raw_tracks = {key: read_window(raw_specs[key], "raw", 0, int(frames))
                  for key, frames in zip(raw.keys, raw.num_frames)}
    (tmp_path / "coded").mkdir()
    coded = write_tracks(tmp_path / "coded", raw_tracks, "jpeg")
    for track, key in enumerate(raw.keys):
        start = int(raw.num_frames[track]) - 10
        raw_feats, raw_faces = raw[(track, start)]
        feats, faces = jpeg[(track, start)]
        assert faces.dtype == torch.uint8 and faces.shape == raw_faces.shape == (10, 32, 32, 3)
        np.testing.assert_array_equal(faces, read_window(coded[key], "jpeg", start, 10))
        assert torch.equal(feats, raw_feats)
    # A speaker subset of the dump dir keeps its format.
    subset_data_dir(out, tmp_path / "subset", 2)
    assert TrackWindowDataset(tmp_path / "subset", 10).face_format == "jpeg"
    # One job redone with raw faces: one faces.scp cannot mix the two.
    conf.write_text("face_size: 32\nface_format: raw\n")
    assert dump_cli.main(["--config", str(conf), "--data-dir", f"{split}/split2/2",
                          "--out-dir", str(out), "--job", "2", "--force"]) == 0
    with pytest.raises(DumpError, match="dump jobs wrote faces in different formats "
                                        r"\(job 1: jpeg, job 2: raw\)"):
        merge_dump(split, out, 2)
