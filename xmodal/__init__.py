"""xmodal: self-supervised speech representations from talking-face video.

``xmodal.load(path)`` gives a trained model (a pack, or an experiment dir) ready to embed and
verify recordings: see ``xmodal.pack.model.PackedModel``.
"""
from __future__ import annotations


def load(path, device: str = "cpu"):
    """The model of a pack or experiment dir: ``model.embed("a.wav")``,
    ``model.embed_batch([...])``, ``model.verify("a.wav", "b.wav")``."""
    # Imported on use: `import xmodal` stays free of torch for tools that do not need it.
    from xmodal.pack.model import load_model

    return load_model(path, device)
