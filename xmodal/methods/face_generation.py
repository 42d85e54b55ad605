"""Speech representations learnt by generating the talking face (Shukla et al. 2020;
``method: face_generation``, DESIGN §6).

An audio encoder (``xmodal.models.audio_encoders``: raw waveform, the paper's, or the
recipe's log-mel trunk) gives one vector per video frame of an N-frame window; an identity
encoder sees one still frame of the same face-track; a generator (``xmodal.models.
face_generator``) draws, for every frame that has an audio vector, the lower face that the
audio implies. The generated frames are trained to match the real ones: an L1 over the
generated region plus ``loss.mouth_weight`` times the L1 over a fixed box around the mouth
(``loss.mouth_box``). To draw the mouth moving with the speech, the audio encoder must
capture what moves the face. Optional discriminators (off by default): one of frames beside
their still frame, one of the sequence with its audio, trained through the trainer's
``Auxiliary`` interface. Only the audio encoder is kept as ``model.pt``; the whole network
is in every epoch checkpoint, and ``load_generation_network`` loads it for evaluation.

Logged terms: ``frame_l1`` and ``mouth_l1`` of the generated frames, and
``copy_still_mouth_l1``, the mouth L1 of copying the still frame into every frame (the level
a generator that ignored the audio and copied its input would get).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from xmodal.config import ConfigError, from_dict, read_yaml
from xmodal.data.still_frame_windows import (STILL_FRAMES, StillFrameSampler, StillFrameWindows,
                                             usable_tracks)
from xmodal.data.track_windows import TrackWindowDataset
from xmodal.models.audio_encoders import FrameAudioEncoder
from xmodal.models.face_discriminators import (GAN_LOSSES, FrameDiscriminator,
                                               SequenceDiscriminator, discriminator_loss,
                                               generator_loss)
from xmodal.models.face_generator import (FaceRegion, FrameGenerator, GenerationModelConfig,
                                          IdentityEncoder)
from xmodal.train.checkpoint import (CheckpointError, checkpoint_path, completed_epochs,
                                     load_checkpoint, load_model_weights)
from xmodal.train.config import RunConfig
from xmodal.train.method import Auxiliary, Method, MethodNetwork, TrainingData


@dataclass
class GenerationData:
    """Windows of face-tracks and their still frames (``xmodal.data.still_frame_windows``)."""

    n_frames: int = 30            # N video frames per window
    still_frame: str = "same_window"  # same_window (paper) or outside_window
    batch_size: int = 16          # windows (of distinct tracks) per global batch
    batches_per_epoch: int = 1000
    valid_batches: int = 50       # fixed-seed batches of the held-out set after each epoch
    num_workers: int = 2
    # Re-align each track by its utt2av_offset (VoxCeleb2's txt Offset): generating a face
    # from audio that is shifted against it teaches the wrong timing.
    apply_av_offset: bool = False

    def __post_init__(self) -> None:
        if self.still_frame not in STILL_FRAMES:
            raise ValueError(f"data.still_frame must be one of {STILL_FRAMES}, got "
                             f"{self.still_frame!r}")
        if self.n_frames < 6:
            raise ValueError(f"data.n_frames must be >= 6 (the log-mel trunk's receptive "
                             f"field is 5 frames), got {self.n_frames}")
        if self.batch_size < 1 or self.batches_per_epoch < 1 or self.valid_batches < 1 \
                or self.num_workers < 0:
            raise ValueError("data.batch_size, batches_per_epoch, valid_batches >= 1 and "
                             "num_workers >= 0 are required")


@dataclass
class GenerationLoss:
    """The frame losses and the optional discriminators (no discriminator at weight 0)."""

    mouth_weight: float = 1.0     # loss = frame_l1 + mouth_weight * mouth_l1
    # The mouth box (top, bottom, left, right) as fractions of the face crop, the frame the
    # synthetic mouth centre (0.5, 0.74) is given in; it must lie inside model.region.
    mouth_box: list[float] = field(default_factory=lambda: [0.62, 0.88, 0.3, 0.7])
    frame_gan_weight: float = 0.0     # frame discriminator, conditioned on the still frame
    sequence_gan_weight: float = 0.0  # sequence discriminator, conditioned on the audio
    gan_loss: str = "non_saturating"  # or hinge
    disc_channels: int = 32       # first discriminator level's channels (doubling, <= 8x)
    disc_levels: int = 3          # strided convolutions of each discriminator

    def __post_init__(self) -> None:
        if self.gan_loss not in GAN_LOSSES:
            raise ValueError(f"loss.gan_loss must be one of {GAN_LOSSES}, got {self.gan_loss!r}")
        if min(self.mouth_weight, self.frame_gan_weight, self.sequence_gan_weight) < 0:
            raise ValueError("loss.mouth_weight, frame_gan_weight and sequence_gan_weight "
                             "must be >= 0")
        if len(self.mouth_box) != 4 or not (self.mouth_box[0] < self.mouth_box[1]
                                            and self.mouth_box[2] < self.mouth_box[3]):
            raise ValueError(f"loss.mouth_box must be [top, bottom, left, right] with top < "
                             f"bottom and left < right, got {self.mouth_box}")
        if self.disc_channels < 1 or self.disc_levels < 1:
            raise ValueError("loss.disc_channels and disc_levels must be >= 1")


@dataclass
class FaceGenerationConfig(RunConfig):
    """A face-generation run (egs/*/v1/conf/facegen_*.yaml)."""

    method: str = "face_generation"
    model: GenerationModelConfig = field(default_factory=GenerationModelConfig)
    data: GenerationData = field(default_factory=GenerationData)
    loss: GenerationLoss = field(default_factory=GenerationLoss)

    def __post_init__(self) -> None:
        super().__post_init__()
        top, bottom, left, right = self.model.region
        box = self.loss.mouth_box
        if not (top <= box[0] and box[1] <= bottom and left <= box[2] and box[3] <= right):
            raise ValueError(f"loss.mouth_box {box} must lie inside model.region "
                             f"{self.model.region} (both fractions of the face crop)")
        if not mouth_mask(self.model, box).any():
            raise ValueError(f"loss.mouth_box {box} holds no pixel of the "
                             f"{self.model.frame_shape} generated frames")


def mouth_mask(model: GenerationModelConfig, box: list[float]) -> torch.Tensor:
    """Boolean ``(H, W)`` mask of the generated pixels whose centres lie in ``box`` (top,
    bottom, left, right: fractions of the face crop)."""
    height, width = model.frame_shape
    top, bottom, left, right = model.region
    rows = top + (torch.arange(height) + 0.5) / height * (bottom - top)
    cols = left + (torch.arange(width) + 0.5) / width * (right - left)
    return (((rows >= box[0]) & (rows < box[1]))[:, None]
            & ((cols >= box[2]) & (cols < box[3]))[None, :])


Outputs = dict[str, torch.Tensor]


class FaceGenerationObjective(nn.Module):
    """The identity encoder and the generator; the region conversion and the mouth box."""

    def __init__(self, cfg: FaceGenerationConfig):
        super().__init__()
        self.region = FaceRegion(cfg.model)
        self.identity = IdentityEncoder(cfg.model)
        self.generator = FrameGenerator(cfg.model)
        self.register_buffer("mouth", mouth_mask(cfg.model, cfg.loss.mouth_box),
                             persistent=False)


class FaceGenerationNetwork(MethodNetwork):
    """Audio encoder (``model``, what ``model.pt`` holds), identity encoder and generator
    (``objective``): the whole network, for training and for evaluation.

    Shapes, for a window of N video frames of S px face crops with C channels (the dump's):
    audio is log-mel ``(B, 4N, n_mels)`` float or 16 kHz samples ``(B, 640N)`` float (as
    ``model.input_kind`` says); faces are uint8 ``(B, N, S, S, C)``; a still frame is uint8
    ``(B, S, S, C)``. Generated and target frames are float ``(B, F, C', H, W)`` in [0, 1]
    (``C'`` 1 if ``model.gray`` else C; ``(H, W)`` = ``cfg.model.frame_shape``).
    """

    def __init__(self, cfg: FaceGenerationConfig):
        super().__init__()
        self.cfg = cfg
        self.model = FrameAudioEncoder(cfg.model.audio())
        self.objective = FaceGenerationObjective(cfg)

    def generated_frames(self, n_video_frames: int) -> slice:
        """The frames of an ``n_video_frames`` window that ``generate`` draws: ``[2, N-2)``
        for log-mel audio (its receptive field), ``[0, N)`` for waveform."""
        first = self.model.frame_offset
        return slice(first, first + self.model.frame_steps(n_video_frames))

    def target_region(self, faces: torch.Tensor) -> torch.Tensor:
        """uint8 crops ``(..., S, S, C)`` -> float ``(..., C', H, W)`` in [0, 1]: the
        generated region, cut and converted exactly as the loss sees the real frames."""
        return self.objective.region(faces)

    def mouth_mask(self) -> torch.Tensor:
        """Boolean ``(H, W)``: the generated pixels inside ``loss.mouth_box``."""
        return self.objective.mouth

    def generate_from_features(self, features: torch.Tensor, still: torch.Tensor
                               ) -> torch.Tensor:
        """Audio features ``(B, D, F)`` (``model(audio)``, one per generated frame) and
        uint8 still frames ``(B, S, S, C)`` -> frames ``(B, F, C', H, W)`` in [0, 1]."""
        return self.objective.generator(features, self.objective.identity(
            self.target_region(still)))

    def generate(self, audio: torch.Tensor, still: torch.Tensor) -> torch.Tensor:
        """The frames ``generated_frames(N)`` of an N-frame window: audio (log-mel
        ``(B, 4N, n_mels)`` or samples ``(B, 640N)``) and uint8 still frames
        ``(B, S, S, C)`` -> float ``(B, F, C', H, W)`` in [0, 1], F = N-4 (log-mel) or N.
        Put the network in eval mode first (BatchNorm)."""
        return self.generate_from_features(self.model(audio), still)

    def l1_terms(self, generated: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per-window ``frame_l1`` (over the whole generated region) and ``mouth_l1`` (over
        ``mouth_mask``), each ``(B,)``, of frames ``(B, F, C', H, W)`` against targets."""
        err = (generated - target).abs()
        mask = self.mouth_mask()
        return {"frame_l1": err.mean(dim=(1, 2, 3, 4)),
                "mouth_l1": err[..., mask].mean(dim=(1, 2, 3))}

    def forward(self, batch: tuple[torch.Tensor, ...], generator: torch.Generator):
        """``(audio, faces, still)`` -> (losses, outputs for the discriminators)."""
        audio, faces, still = batch
        features = self.model(audio)
        target = self.target_region(faces[:, self.generated_frames(faces.shape[1])])
        still_region = self.target_region(still)
        generated = self.objective.generator(features, self.objective.identity(still_region))
        l1 = {k: v.mean() for k, v in self.l1_terms(generated, target).items()}
        with torch.no_grad():
            copy = self.l1_terms(still_region.unsqueeze(1).expand_as(target), target)
        terms = {**l1, "copy_still_mouth_l1": copy["mouth_l1"].mean(),
                 "loss": l1["frame_l1"] + self.cfg.loss.mouth_weight * l1["mouth_l1"]}
        return terms, {"generated": generated, "real": target, "still": still_region,
                       "audio": features}


class Discriminators(Auxiliary):
    """The frame and the sequence discriminators (those with weight > 0)."""

    model_loss_key = "gan_loss"
    own_loss_key = "discriminator_loss"

    def __init__(self, cfg: FaceGenerationConfig):
        super().__init__()
        loss, channels = cfg.loss, cfg.model.out_channels
        self.kind = loss.gan_loss
        self.weights = {"frame": loss.frame_gan_weight, "sequence": loss.sequence_gan_weight}
        self.frame = (FrameDiscriminator(channels, loss.disc_channels, loss.disc_levels)
                      if loss.frame_gan_weight > 0 else None)
        self.sequence = (SequenceDiscriminator(channels, cfg.model.audio_dim,
                                               loss.disc_channels, loss.disc_levels)
                         if loss.sequence_gan_weight > 0 else None)

    def _logits(self, out: Outputs, frames: torch.Tensor) -> dict[str, torch.Tensor]:
        # The conditions (still frame, audio) are never trained through a discriminator.
        logits = {}
        if self.frame is not None:
            logits["frame"] = self.frame(frames, out["still"].detach())
        if self.sequence is not None:
            logits["sequence"] = self.sequence(frames, out["audio"].detach())
        return logits

    def model_terms(self, out: Outputs, generator: torch.Generator) -> dict[str, torch.Tensor]:
        """Each generator loss (fool the discriminator) and their weighted sum."""
        fooled = {name: generator_loss(fake, self.kind)
                  for name, fake in self._logits(out, out["generated"]).items()}
        terms = {f"{name}_gan": term for name, term in fooled.items()}
        terms["gan_loss"] = sum(self.weights[name] * term for name, term in fooled.items())
        return terms

    def own_terms(self, out: Outputs, generator: torch.Generator) -> dict[str, torch.Tensor]:
        """Each discriminator's loss on real and (detached) generated frames, and the sum."""
        real = self._logits(out, out["real"])
        fake = self._logits(out, out["generated"].detach())
        terms = {f"{name}_discriminator": discriminator_loss(real[name], fake[name], self.kind)
                 for name in real}
        terms["discriminator_loss"] = sum(terms.values())
        return terms


def window_batches(cfg: FaceGenerationConfig, dump_dir: Path, steps: int, seed: int,
                   rank: int = 0, world_size: int = 1, held_out: bool = False
                   ) -> tuple[StillFrameWindows, StillFrameSampler]:
    """Windows with still frames of ``dump_dir`` (its ``wave.scp`` for a waveform encoder),
    ``data.batch_size`` tracks per batch (``held_out``: at most as many as the set has)."""
    audio = "wave" if cfg.model.audio_encoder == "waveform" else "feats"
    windows = TrackWindowDataset(dump_dir, cfg.data.n_frames, cfg.data.apply_av_offset, audio)
    batch = cfg.data.batch_size
    if held_out:
        usable = len(usable_tracks(windows.num_frames, cfg.data.n_frames, cfg.data.still_frame))
        batch = max(1, min(batch, usable))
    return StillFrameWindows(windows), StillFrameSampler(
        windows.num_frames, cfg.data.n_frames, cfg.data.still_frame, batch, steps, seed,
        rank, world_size, where=dump_dir)


class FaceGeneration(Method):
    """``method: face_generation``: the registry's entry for this module."""

    name = "face_generation"
    config_class = FaceGenerationConfig

    def encoder(self, cfg: FaceGenerationConfig) -> FrameAudioEncoder:
        """The audio encoder (identity encoder and generator are for training only)."""
        return FrameAudioEncoder(cfg.model.audio())

    def network(self, cfg: FaceGenerationConfig, data: TrainingData) -> FaceGenerationNetwork:
        """Audio encoder, identity encoder and generator."""
        return FaceGenerationNetwork(cfg)

    def auxiliary(self, cfg: FaceGenerationConfig) -> Discriminators | None:
        """The discriminators with weight > 0, or None when both weights are 0."""
        if cfg.loss.frame_gan_weight == 0 and cfg.loss.sequence_gan_weight == 0:
            return None
        return Discriminators(cfg)

    def train_batches(self, cfg: FaceGenerationConfig, data: TrainingData, rank: int,
                      world_size: int) -> tuple[StillFrameWindows, StillFrameSampler]:
        """Windows of the training dump, each with a still frame (no labels read)."""
        return window_batches(cfg, Path(data.train_dir), cfg.data.batches_per_epoch, cfg.seed,
                              rank, world_size)

    def valid_batches(self, cfg: FaceGenerationConfig, data: TrainingData,
                      seed: int) -> tuple[StillFrameWindows, StillFrameSampler] | None:
        """Fixed windows of the held-out ``data.valid_dir`` (at most as many tracks per batch
        as it has): the held-out ``mouth_l1``."""
        if data.valid_dir is None:
            return None
        return window_batches(cfg, Path(data.valid_dir), cfg.data.valid_batches, seed,
                              held_out=True)


def load_generation_network(exp_dir: str | os.PathLike, device: str | torch.device = "cpu",
                            epoch: int | None = None) -> FaceGenerationNetwork:
    """The whole trained network of face-generation experiment ``exp_dir`` (audio encoder,
    identity encoder, generator), in eval mode, from its epoch checkpoint ``epoch`` (default:
    the last; ``model.pt`` holds the audio encoder alone). A ``ConfigError`` if the
    experiment is not a face-generation one, a ``CheckpointError`` if it has no checkpoint."""
    exp_dir = Path(exp_dir)
    config_path = exp_dir / "config.yaml"
    data = read_yaml(config_path)
    method = data.get("method") if isinstance(data, dict) else None
    if method != FaceGeneration.name:
        raise ConfigError(f"{config_path}: method {method!r} is not face_generation: only a "
                          "face-generation experiment has a generator to load")
    cfg = from_dict(FaceGenerationConfig, data, source=str(config_path))
    epochs = completed_epochs(exp_dir)
    if epoch is None:
        if not epochs:
            raise CheckpointError(f"{exp_dir}: no epoch checkpoint (epoch<N>.pt): the whole "
                                  "network is saved only there")
        epoch = epochs[-1]
    path = checkpoint_path(exp_dir, epoch)
    state = load_checkpoint(path)
    network = FaceGenerationNetwork(cfg)
    load_model_weights(network.model, state["model"], str(path))
    load_model_weights(network.objective, state["objective"], str(path))
    return network.to(device).eval()


METHOD = FaceGeneration()
