"""The utterance-embedding graph as an ONNX or TorchScript file, and its parity with PyTorch.

What is exported is ``xmodal.models.utterance_embedder.UtteranceEmbedder`` in eval mode
(BatchNorm with its running statistics): the identity head averaged over time, as stage 5
computes it, for every encoder of the recipes (two-stream, x-vector, face generation's
log-mel and waveform encoders).

The exported model takes exactly what ``UtteranceEmbedder`` takes:

- input ``input``, float32: ``(batch, time, n_mels)`` log-mel features for a log-mel encoder,
  ``(batch, time)`` 16 kHz samples for a waveform encoder (``input_kind == "waveform"``);
  batch and time are dynamic axes;
- output ``embedding``, float32 ``(batch, D)``, not normalised (scoring subtracts the pack's
  mean and takes the cosine).

The feature front end is not in the graph: STFT export is fragile (the ONNX STFT operator
and complex tensors are supported unevenly across exporters and runtimes), and without it
the file and PyTorch take the same tensor, so parity is checked on the graph alone. A caller
computes features as ``xmodal.data.features.LogMel`` does: 16 kHz mono, n_fft 512, a 400-
sample Hann window, hop 160 (100 frames/s), centred frames, power spectrum on ``n_mels`` HTK
mel bins (torchaudio's ``MelSpectrogram`` defaults otherwise; ``n_mels`` is the model's
``cfg.n_mels``), then ``log(mel + 1e-6)``; the recipes cut a recording to whole 640-sample
video frames first (4 feature frames each).

The shortest input is the encoder's ``min_frames``: 17 frames (two-stream and log-mel face
generation), 15 frames (x-vector), 640 samples (waveform). The graph does not check it: the
Python checks of the encoders are not part of a trace or an export, and a shorter input
gives a runtime error or silently wrong numbers (16 frames through the two-stream ONNX file
gave finite values where PyTorch raises). So each file carries ``xmodal.input_kind`` and
``xmodal.min_frames`` (ONNX metadata properties; the TorchScript extra file ``xmodal.json``)
and ``run_onnx`` / ``run_torchscript`` refuse a shorter input; other runtimes must check it.

Exporters (torch 2.14):
- ONNX: the ``torch.export``-based exporter (``dynamo=True``) with a dynamic batch axis and
  a time axis of at least ``min_frames``. The legacy TorchScript-based exporter gives the same
  numbers but is deprecated (it warns on every call). Weights are stored inside the one file
  (``external_data=False``; far below ONNX's 2 GB limit), which is what an atomic rename can
  publish.
- TorchScript: ``torch.jit.trace``. ``torch.jit.script`` fails on every encoder (their
  dataclass configs and shape-checking error messages are not scriptable). A trace keeps
  the time axis dynamic here (convolutions, pooling and means read sizes at run time); only
  the encoders' input checks are frozen, which is what its "Converting a tensor to a Python
  boolean" TracerWarning says, silenced below (``min_frames`` metadata replaces those checks).
  Other TracerWarnings stay visible: they would name shape arithmetic that a trace freezes.
  TorchScript is deprecated upstream (``torch.jit.trace``/``load`` give a FutureWarning,
  silenced here: the format is asked for); ONNX is the longer-lived of the two formats.
  ``parity`` at several lengths is the check that a graph is right at other lengths.

Both files are written atomically (``xmodal.atomic``): a failed export leaves no file and no
temporary, and any previous file as it was.
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import warnings
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np
import onnxruntime as ort
import torch

from xmodal.atomic import atomic_path
from xmodal.models.utterance_embedder import UtteranceEmbedder

FORMATS = ("onnx", "torchscript")
INPUT_NAME = "input"
OUTPUT_NAME = "embedding"
# Largest max abs difference accepted between PyTorch and an exported model; embeddings of the
# recipes' encoders are of order 0.1-1, and the exporters measured ~1e-7.
PARITY_TOLERANCE = 1e-4
INPUT_KIND_KEY = "xmodal.input_kind"
MIN_FRAMES_KEY = "xmodal.min_frames"
TORCHSCRIPT_META_FILE = "xmodal.json"


class ExportError(RuntimeError):
    """An export, or running an exported file, failed; the message names the file."""

    def __init__(self, path: str | os.PathLike, message: str):
        super().__init__(f"{path}: {message}")
        self.path = Path(path)


def _metadata(embedder: UtteranceEmbedder) -> dict[str, str]:
    """What a runtime must know beyond the graph (module docstring)."""
    return {INPUT_KIND_KEY: embedder.input_kind, MIN_FRAMES_KEY: str(embedder.min_frames)}


def _export_example(embedder: UtteranceEmbedder, example: torch.Tensor,
                    path: Path) -> torch.Tensor:
    """``example`` checked, as float32 with at least two utterances."""
    dims = 2 if embedder.input_kind == "waveform" else 3
    if example.dim() != dims or example.shape[1] < embedder.min_frames:
        layout = "(B, T)" if dims == 2 else "(B, T, n_mels)"
        raise ExportError(path, f"example input must be {layout} with T >= "
                                f"{embedder.min_frames}, got {tuple(example.shape)}")
    # torch.export turns an axis of size 1 into a constant: a batch of one would be fixed.
    if example.shape[0] == 1:
        example = example.repeat(2, *([1] * (dims - 1)))
    return example.to(torch.float32)


@contextlib.contextmanager
def _quiet_exporters() -> Iterator[None]:
    """Silence the exporters' messages that need no action here (module docstring)."""
    # Logged on every ONNX export: torchvision operators cannot be registered (none is used).
    registration = logging.getLogger("torch.onnx._internal.exporter._registration")
    level = registration.level
    registration.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r"Converting a tensor to a Python boolean",
                                    category=torch.jit.TracerWarning)
            warnings.filterwarnings("ignore", message=r"`torch\.jit\.\w+` is deprecated",
                                    category=FutureWarning)
            yield
    finally:
        registration.setLevel(level)


def export_torchscript(embedder: UtteranceEmbedder, path: str | os.PathLike,
                       example: torch.Tensor) -> Path:
    """Trace ``embedder`` (put in eval mode) on ``example`` and write it to ``path``.

    ``example`` is an input ``embedder`` takes (``(B, T, n_mels)`` or ``(B, T)``, T >=
    ``min_frames``); the file takes any batch and length. ``ExportError`` if it fails.
    """
    path = Path(path)
    embedder.eval()
    x = _export_example(embedder, example, path)
    try:
        with atomic_path(path) as tmp, _quiet_exporters(), torch.no_grad():
            traced = torch.jit.trace(embedder, x)
            torch.jit.save(traced, str(tmp),
                           _extra_files={TORCHSCRIPT_META_FILE: json.dumps(_metadata(embedder))})
    except Exception as err:
        raise ExportError(path, f"TorchScript export failed: {err}") from err
    return path


def export_onnx(embedder: UtteranceEmbedder, path: str | os.PathLike,
                example: torch.Tensor) -> Path:
    """Export ``embedder`` (put in eval mode) to an ONNX file at ``path``.

    Input ``input`` and output ``embedding`` with dynamic batch and time axes (time >=
    ``min_frames``); ``example`` as for ``export_torchscript``. ``ExportError`` if it fails.
    """
    path = Path(path)
    embedder.eval()
    x = _export_example(embedder, example, path)
    axes = {0: torch.export.Dim("batch"), 1: torch.export.Dim("time", min=embedder.min_frames)}
    try:
        with atomic_path(path) as tmp, _quiet_exporters():
            program = torch.onnx.export(embedder, (x,), dynamo=True, verbose=False,
                                        input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                                        dynamic_shapes=(axes,))
            program.model.metadata_props.update(_metadata(embedder))
            program.save(tmp, external_data=False)
    except Exception as err:
        raise ExportError(path, f"ONNX export failed: {err}") from err
    return path


def _length_checked(path: Path, meta: dict[str, str]) -> Callable[[np.ndarray], np.ndarray]:
    """A function that returns its input as contiguous float32, refusing one shorter than
    ``meta``'s ``min_frames`` (a file without the metadata is not checked)."""
    min_frames = int(meta.get(MIN_FRAMES_KEY, 1))
    unit = "samples" if meta.get(INPUT_KIND_KEY) == "waveform" else "frames"

    def check(x: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(x, dtype=np.float32)
        if x.ndim >= 2 and x.shape[1] < min_frames:
            raise ValueError(f"{path}: input {x.shape} is shorter than the model's shortest "
                             f"input ({min_frames} {unit} on axis 1)")
        return x
    return check


def load_onnx(path: str | os.PathLike, threads: int = 0) -> Callable[[np.ndarray], np.ndarray]:
    """The ONNX file ``path`` as a function input -> embeddings (an onnxruntime CPU session,
    loaded once; ``threads`` intra- and inter-op threads, 0: onnxruntime's default)."""
    path = Path(path)
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = threads
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    check = _length_checked(path, session.get_modelmeta().custom_metadata_map)
    return lambda x: session.run([OUTPUT_NAME], {INPUT_NAME: check(x)})[0]


def load_torchscript(path: str | os.PathLike) -> Callable[[np.ndarray], np.ndarray]:
    """The TorchScript file ``path`` as a function input -> embeddings (CPU, loaded once; it
    runs on torch's intra-op threads)."""
    path = Path(path)
    files = {TORCHSCRIPT_META_FILE: ""}
    with _quiet_exporters():
        module = torch.jit.load(str(path), map_location="cpu", _extra_files=files)
    check = _length_checked(path, json.loads(files[TORCHSCRIPT_META_FILE] or "{}"))

    def run(x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return module(torch.from_numpy(check(x))).numpy()
    return run


def run_onnx(path: str | os.PathLike, x: np.ndarray) -> np.ndarray:
    """Embeddings ``(B, D)`` of input ``x`` by the ONNX file ``path`` (onnxruntime, CPU)."""
    return load_onnx(path)(x)


def run_torchscript(path: str | os.PathLike, x: np.ndarray) -> np.ndarray:
    """Embeddings ``(B, D)`` of input ``x`` by the TorchScript file ``path`` (CPU)."""
    return load_torchscript(path)(x)


def default_parity_lengths(min_frames: int) -> list[int]:
    """Input lengths that ``parity`` checks: the shortest, one more, two that are not
    multiples of the encoders' 4-frame (or 640-sample) step, the last a long input (415
    frames, about 4 s, for ``min_frames`` 17)."""
    return [min_frames, min_frames + 1, 3 * min_frames + 5, 24 * min_frames + 7]


def parity(embedder: UtteranceEmbedder, path: str | os.PathLike, fmt: str,
           lengths: Sequence[int], n_mels: int | None, seed: int = 0) -> dict[int, float]:
    """Max abs difference between ``embedder`` (eval mode) and the exported file, per length.

    Random inputs of each length, a batch of one and a batch of two: ``(B, T, n_mels)``, or
    ``(B, T)`` samples when ``n_mels`` is None. ``fmt`` is one of ``FORMATS``. A NaN is
    reported as such; ``ExportError`` if the file fails to run or gives another shape.
    """
    path = Path(path)
    loaders = {"onnx": load_onnx, "torchscript": load_torchscript}
    if fmt not in loaders:
        raise ExportError(path, f"unknown export format {fmt!r} (known: {', '.join(FORMATS)})")
    run = loaders[fmt](path)
    embedder.eval()
    rng = np.random.default_rng(seed)
    diffs = {}
    for length in lengths:
        worst = []
        for batch in (1, 2):
            shape = (batch, length) if n_mels is None else (batch, length, n_mels)
            x = rng.standard_normal(shape, dtype=np.float32)
            with torch.no_grad():
                expected = embedder(torch.from_numpy(x)).numpy()
            try:
                got = run(x)
            except Exception as err:
                raise ExportError(path, f"the exported model fails on input {shape}: "
                                        f"{err}") from err
            if got.shape != expected.shape:
                raise ExportError(path, f"the exported model gives {got.shape} for input "
                                        f"{shape}, PyTorch {expected.shape}")
            worst.append(np.abs(got - expected).max())
        diffs[length] = float(np.max(worst))  # np.max keeps a NaN
    return diffs


def export_model(model, fmt: str, out: str | os.PathLike) -> list[str]:
    """Export a loaded model's (``xmodal.pack.model.PackedModel``) embedding graph to ``out``
    and check it against PyTorch at ``default_parity_lengths``; the lines to print.

    A parity failure (max abs difference above ``PARITY_TOLERANCE``) removes the file and
    raises ``ExportError``: a file that computes something else is worse than none.
    """
    exporters = {"onnx": export_onnx, "torchscript": export_torchscript}
    if fmt not in exporters:
        raise ExportError(Path(out), f"unknown export format {fmt!r} (known: "
                                     f"{', '.join(FORMATS)})")
    # parity feeds numpy inputs to the embedder: it runs on the CPU.
    embedder = UtteranceEmbedder(model.encoder.cpu())
    n_mels = None if embedder.input_kind == "waveform" else int(model.encoder.cfg.n_mels)
    lengths = default_parity_lengths(embedder.min_frames)
    example = torch.randn(1, lengths[2], *([] if n_mels is None else [n_mels]))
    path = exporters[fmt](embedder, out, example)
    diffs = parity(embedder, path, fmt, lengths, n_mels)
    unit = "samples" if n_mels is None else "frames"
    shape = "(batch, time)" if n_mels is None else f"(batch, time, {n_mels})"
    lines = [f"{path}: {fmt}, input '{INPUT_NAME}' float32 {shape} "
             f"({'16 kHz samples' if n_mels is None else 'log-mel, xmodal.data.features.LogMel'}"
             f", time >= {embedder.min_frames} {unit}), output '{OUTPUT_NAME}' float32 "
             f"(batch, {model.encoder.head_dims['identity']})"]
    lines += [f"parity with PyTorch, {length} {unit}: max abs difference {diff:.2e}"
              for length, diff in diffs.items()]
    bad = {length: diff for length, diff in diffs.items() if not diff <= PARITY_TOLERANCE}
    if bad:
        path.unlink(missing_ok=True)
        raise ExportError(path, f"differs from PyTorch by more than {PARITY_TOLERANCE:g} at "
                                f"{', '.join(f'{n} {unit}' for n in bad)}; removed")
    return lines
