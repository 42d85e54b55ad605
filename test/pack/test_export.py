"""ONNX and TorchScript export of the utterance-embedding graph (``xmodal.pack.export``): parity
with PyTorch for every encoder kind at the shortest input and at other lengths, batch 1 and 2,
and atomic writes. Random weights; BatchNorm in eval mode with non-trivial running statistics
and affine parameters, so the exported graph is the one a trained model runs."""
from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import torch

from xmodal.methods import load_run_config
from xmodal.models.utterance_embedder import UtteranceEmbedder
from xmodal.pack.export import (PARITY_TOLERANCE, ExportError, default_parity_lengths,
                                export_onnx, export_torchscript, parity, run_onnx,
                                run_torchscript)

REPO = Path(__file__).resolve().parents[2]
DEMO = "egs/mini_voxceleb/v1/conf/demo"
# One config per encoder kind, and supervised.yaml: today the same two-stream network as
# ssl_id_content_dis.yaml, built by another method (the x-vector configs all share one size).
CONFIGS = {
    "two_stream": f"{DEMO}/ssl_id_content_dis.yaml",
    "two_stream_supervised": f"{DEMO}/supervised.yaml",
    "xvector": f"{DEMO}/recon_phones.yaml",
    "facegen_logmel": f"{DEMO}/facegen.yaml",
    "facegen_waveform": "egs/voxceleb/v1/conf/facegen_shukla.yaml",
}
EXPORTERS = {"onnx": export_onnx, "torchscript": export_torchscript}
# One torch thread: on a busy machine two threads made TorchScript's first calls ten times
# slower (conftest.one_thread).
pytestmark = pytest.mark.usefixtures("one_thread")


def n_mels_of(embedder: UtteranceEmbedder) -> int | None:
    """The feature bins of a log-mel encoder; None for a waveform one."""
    return None if embedder.input_kind == "waveform" else embedder.encoder.cfg.n_mels


def random_input(embedder: UtteranceEmbedder, batch: int, length: int) -> torch.Tensor:
    n_mels = n_mels_of(embedder)
    return torch.randn((batch, length) if n_mels is None else (batch, length, n_mels))


def realistic(embedder: UtteranceEmbedder) -> UtteranceEmbedder:
    """``embedder`` in eval mode, its BatchNorms with random affine parameters and running
    statistics of a few training-mode passes over offset, scaled input."""
    for module in embedder.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            torch.nn.init.uniform_(module.weight, 0.5, 1.5)
            torch.nn.init.normal_(module.bias, std=0.1)
    embedder.train()
    with torch.no_grad():
        for _ in range(3):
            embedder(3 * random_input(embedder, 4, 4 * embedder.min_frames + 3) + 1)
    return embedder.eval()


@pytest.fixture(scope="module", params=sorted(CONFIGS))
def embedder(request) -> UtteranceEmbedder:
    torch.manual_seed(0)
    method, cfg = load_run_config(REPO / CONFIGS[request.param])
    return realistic(UtteranceEmbedder(method.encoder(cfg)))


@pytest.mark.parametrize("fmt", sorted(EXPORTERS))
def test_export_matches_pytorch_at_every_length(embedder, fmt, tmp_path):
    example = random_input(embedder, 1, 3 * embedder.min_frames + 5)
    embedder.train()  # the export must put it in eval mode itself
    path = EXPORTERS[fmt](embedder, tmp_path / "embedder", example)
    assert not embedder.training
    assert sorted(p.name for p in tmp_path.iterdir()) == ["embedder"]  # no temporary left
    lengths = default_parity_lengths(embedder.min_frames)
    diffs = parity(embedder, path, fmt, lengths, n_mels_of(embedder))
    assert set(diffs) == set(lengths)
    assert max(diffs.values()) <= PARITY_TOLERANCE, diffs
    # The tolerance is small against the embeddings (of order 0.1-1), not against zeros.
    with torch.no_grad():
        assert embedder(random_input(embedder, 1, lengths[0])).abs().max() > 100 * PARITY_TOLERANCE


@pytest.fixture(scope="module")
def xvector() -> UtteranceEmbedder:
    torch.manual_seed(0)
    method, cfg = load_run_config(REPO / CONFIGS["xvector"])
    return realistic(UtteranceEmbedder(method.encoder(cfg)))


@pytest.mark.parametrize("fmt", sorted(EXPORTERS))
def test_run_refuses_input_shorter_than_the_model_takes(xvector, fmt, tmp_path):
    path = EXPORTERS[fmt](xvector, tmp_path / "embedder", random_input(xvector, 2, 40))
    run = {"onnx": run_onnx, "torchscript": run_torchscript}[fmt]
    assert run(path, random_input(xvector, 1, 15).numpy()).shape == (1, 128)
    with pytest.raises(ValueError, match=r"shortest input \(15 frames"):
        run(path, random_input(xvector, 1, 14).numpy())


@pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::torch.jit.TracerWarning")
def test_parity_detects_a_graph_traced_in_training_mode(xvector, tmp_path):
    # What an export that forgot .eval() would write: BatchNorm with the batch's statistics.
    path = tmp_path / "train_mode.pt"
    training = copy.deepcopy(xvector).train()  # a trace in training mode updates the statistics
    with torch.no_grad():
        torch.jit.save(torch.jit.trace(training, random_input(xvector, 2, 40)), str(path))
    diffs = parity(xvector, path, "torchscript", [15, 40], 40)
    assert min(diffs.values()) > PARITY_TOLERANCE, diffs


def test_unknown_format_is_an_export_error(xvector, tmp_path):
    with pytest.raises(ExportError, match="unknown export format 'tflite'"):
        parity(xvector, tmp_path / "x", "tflite", [15], 40)


def test_example_shorter_than_the_model_takes_is_an_export_error(xvector, tmp_path):
    with pytest.raises(ExportError, match=r"embedder.onnx: example input .* T >= 15"):
        export_onnx(xvector, tmp_path / "embedder.onnx", random_input(xvector, 1, 14))
    assert list(tmp_path.iterdir()) == []


def fail_onnx_export(*args, **kwargs):
    raise RuntimeError("exporter broke")


def fail_after_writing(module, f, **kwargs):
    Path(f).write_bytes(b"half a model")
    raise OSError("disk full")


@pytest.mark.parametrize("fmt, target, replacement", [
    ("onnx", "torch.onnx.export", fail_onnx_export),
    ("torchscript", "torch.jit.save", fail_after_writing),
])
def test_failed_export_leaves_the_old_file_and_no_temporary(xvector, fmt, target, replacement,
                                                            tmp_path, monkeypatch):
    path = tmp_path / "embedder"
    path.write_bytes(b"previous export")
    monkeypatch.setattr(target, replacement)
    with pytest.raises(ExportError, match=f"{path}: .*export failed"):
        EXPORTERS[fmt](xvector, path, random_input(xvector, 1, 40))
    assert [p.name for p in tmp_path.iterdir()] == ["embedder"]
    assert path.read_bytes() == b"previous export"


@pytest.mark.parametrize("fmt", sorted(EXPORTERS))
def test_export_into_an_impossible_directory_is_an_export_error(xvector, fmt, tmp_path):
    (tmp_path / "a_file").write_text("not a directory")
    with pytest.raises(ExportError, match="a_file/embedder: "):
        EXPORTERS[fmt](xvector, tmp_path / "a_file" / "embedder", random_input(xvector, 1, 40))
    assert [p.name for p in tmp_path.iterdir()] == ["a_file"]


def test_default_parity_lengths_include_the_shortest_and_non_multiples():
    assert default_parity_lengths(17) == [17, 18, 56, 415]
    lengths = default_parity_lengths(640)
    assert lengths[0] == 640 and any(n % 640 for n in lengths)
    assert np.all(np.diff(lengths) > 0)
