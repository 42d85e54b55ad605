"""The self-supervised training loop: one process, or many under ``torchrun`` (DDP).

Every random choice is a function of (seed, epoch, batch index): which windows a batch
holds (``TrackBatchSampler``) and which face step the identity loss picks. With the full
state in each epoch's checkpoint, a run stopped after any epoch and resumed produces the same
weights as one that never stopped.

``data.batch_size`` is the global batch. Under ``torchrun`` each of the R processes takes B/R
tracks of every batch; BatchNorm statistics (``GlobalBatchNorm``) and the cross-track identity
losses (``gather_batch``) span the global batch, so R processes compute what one process does
with the same batch, up to floating-point summation order.
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader
from tqdm import tqdm

from xmodal.atomic import write_text_atomic
from xmodal.config import save_config
from xmodal.data.track_windows import TrackBatchSampler, TrackWindowDataset
from xmodal.models.two_stream import TwoStreamModel
from xmodal.train import distributed
from xmodal.train.checkpoint import (average_model_weights, checkpoint_path, completed_epochs,
                                     load_checkpoint, load_model_weights, save_checkpoint)
from xmodal.train.config import TrainConfig
from xmodal.train.global_batchnorm import convert_to_global_batchnorm
from xmodal.train.objective import Adversaries, CrossModalObjective

log = logging.getLogger(__name__)
VALID_SEED = 20200504  # validation batches are the same in every epoch and every run


class _Network(nn.Module):
    """Model + objective in one module, so DDP also synchronises the learnable similarities."""

    def __init__(self, cfg: TrainConfig):
        super().__init__()
        self.model = TwoStreamModel(cfg.model)
        self.objective = CrossModalObjective(cfg.loss, cfg.model.embed_dim)

    def forward(self, feats, faces, generator):
        out = self.model(feats, faces)
        return self.objective(out, generator), out


def _generator(seed: int, epoch: int, step: int) -> torch.Generator:
    gen = torch.Generator()
    gen.manual_seed(int(np.random.SeedSequence([seed, epoch, step]).generate_state(1)[0]))
    return gen


def _loader(dataset, sampler, num_workers: int) -> DataLoader:
    return DataLoader(dataset, batch_sampler=sampler, num_workers=num_workers,
                      persistent_workers=False, pin_memory=torch.cuda.is_available())


def _mean(records: list[dict[str, float]]) -> dict[str, float]:
    return {k: sum(r[k] for r in records) / len(records) for k in records[0]} if records else {}


@torch.no_grad()
def validate(network: _Network, adversaries: Adversaries | None, dataset: TrackWindowDataset,
             cfg: TrainConfig, device: torch.device) -> dict[str, float]:
    """Self-supervised objectives on fixed batches of held-out tracks (never trial lists)."""
    # B tracks of B different identities, as stage 4 scores them (identities read only here).
    speakers = dataset.speakers()
    batch = min(cfg.data.batch_size, len(set(speakers)))
    sampler = TrackBatchSampler(dataset.num_frames, cfg.data.n_frames, batch,
                                cfg.data.valid_batches, VALID_SEED, groups=speakers)
    network.eval()
    if adversaries is not None:
        adversaries.eval()
    records = []
    for step, (feats, faces) in enumerate(_loader(dataset, sampler, 0)):
        gen = _generator(VALID_SEED, 0, step)
        terms, out = network(feats.to(device), faces.to(device), gen)
        if adversaries is not None:
            terms.update(adversaries.confusion(out, gen))
        records.append({k: float(v) for k, v in terms.items()})
    network.train()
    if adversaries is not None:
        adversaries.train()
    return _mean(records)


def _state(epoch, network, optimizer, scheduler, adversaries, adv_optimizer, cfg) -> dict:
    state = {"epoch": epoch, "model": network.model.state_dict(),
             "objective": network.objective.state_dict(), "optimizer": optimizer.state_dict(),
             "scheduler": scheduler.state_dict(), "config": asdict(cfg),
             "rng": {"torch": torch.get_rng_state()}}
    if adversaries is not None:
        state["adversaries"] = adversaries.state_dict()
        state["adversary_optimizer"] = adv_optimizer.state_dict()
    return state


def _restore(state, network, optimizer, scheduler, adversaries, adv_optimizer, where: str) -> None:
    load_model_weights(network.model, state["model"], where)
    network.objective.load_state_dict(state["objective"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    torch.set_rng_state(state["rng"]["torch"])
    if adversaries is not None:
        adversaries.load_state_dict(state["adversaries"])
        adv_optimizer.load_state_dict(state["adversary_optimizer"])


def train(cfg: TrainConfig, train_dir: str | Path, valid_dir: str | Path, output_dir: str | Path,
          resume: bool = False, device: str = "auto") -> Path:
    """Train per ``cfg``; checkpoints, logs and the final model go to ``output_dir``.

    Returns the path of the final model (``model.pt``: the average of the last
    ``cfg.average_last`` epochs' weights).
    """
    output_dir = Path(output_dir)
    ctx = distributed.setup(device)
    is_main = ctx.rank == 0
    done = completed_epochs(output_dir)
    if done and not resume:
        raise FileExistsError(f"{output_dir} already holds checkpoints (epoch{done[-1]}.pt); "
                              "pass --resume to continue or choose another --output-dir")
    torch.manual_seed(cfg.seed)  # identical initial weights on every rank
    network = _Network(cfg)
    if ctx.world_size > 1:
        convert_to_global_batchnorm(network)
    network = network.to(ctx.device)
    adversaries = (Adversaries(cfg.loss, cfg.model.embed_dim).to(ctx.device)
                   if cfg.loss.disentangle else None)
    optimizer = cfg.optim.make(network.parameters(), cfg.optim.lr)
    scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=cfg.optim.lr_decay)
    adv_optimizer = (cfg.optim.make(adversaries.parameters(), cfg.optim.adversary_lr, 0.0)
                     if adversaries is not None else None)
    start_epoch = 1
    if resume and done:
        path = checkpoint_path(output_dir, done[-1])
        _restore(load_checkpoint(path), network, optimizer, scheduler, adversaries,
                 adv_optimizer, str(path))
        start_epoch = done[-1] + 1
        if is_main:
            log.info("resuming from %s", path)
    if is_main:
        # Only now: a resumed run whose checkpoint does not fit the config keeps its config.yaml.
        output_dir.mkdir(parents=True, exist_ok=True)
        save_config(cfg, output_dir / "config.yaml")
        # CPU results depend on the thread count (reduction order): the log says which it was.
        log.info("training on %s, %d torch threads per process, %d process(es)",
                 ctx.device, torch.get_num_threads(), ctx.world_size)
    ddp = network
    if ctx.world_size > 1:
        # A config that leaves a loss out leaves that loss' heads without gradients.
        unused = not (cfg.loss.content and cfg.loss.identity)
        ddp = DistributedDataParallel(network, device_ids=ctx.device_ids,
                                      find_unused_parameters=unused)

    train_set = TrackWindowDataset(train_dir, cfg.data.n_frames)
    valid_set = TrackWindowDataset(valid_dir, cfg.data.n_frames) if is_main else None
    sampler = TrackBatchSampler(train_set.num_frames, cfg.data.n_frames, cfg.data.batch_size,
                                cfg.data.batches_per_epoch, cfg.seed, ctx.rank, ctx.world_size)
    writer = None
    if is_main:
        from torch.utils.tensorboard import SummaryWriter  # only rank 0 writes
        writer = SummaryWriter(str(output_dir / "tensorboard"), purge_step=start_epoch)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16,
                              enabled=cfg.amp and ctx.device.type == "cuda")

    for epoch in range(start_epoch, cfg.optim.epochs + 1):
        sampler.set_epoch(epoch)
        lr = optimizer.param_groups[0]["lr"]
        records, start = [], time.time()
        bar = tqdm(_loader(train_set, sampler, cfg.data.num_workers), total=len(sampler),
                   desc=f"epoch {epoch}/{cfg.optim.epochs}", disable=not is_main,
                   dynamic_ncols=True, unit="batch")
        for step, (feats, faces) in enumerate(bar):
            gen = _generator(cfg.seed, epoch, step)  # the same on every rank: global batch
            feats, faces = feats.to(ctx.device), faces.to(ctx.device)
            with autocast:
                terms, out = ddp(feats, faces, gen)
                loss = terms["loss"]
                if adversaries is not None:
                    terms.update(adversaries.confusion(out, gen))
                    loss = loss + terms["confusion_loss"]
                    adv_terms = adversaries(out, gen)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"non-finite loss {float(loss)} at epoch {epoch} step "
                                         f"{step}: the training diverged (try a lower optim.lr)")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.optim.grad_clip > 0:
                nn.utils.clip_grad_norm_(network.parameters(), cfg.optim.grad_clip)
            optimizer.step()
            if adversaries is not None:
                adv_optimizer.zero_grad(set_to_none=True)
                adv_terms["adversary_loss"].backward()
                distributed.average_gradients(adversaries, ctx)
                adv_optimizer.step()
                terms.update(adv_terms)
            records.append({k: float(v.detach()) for k, v in terms.items()})
            bar.set_postfix(loss=f"{records[-1]['loss']:.3f}")
        bar.close()
        scheduler.step()
        seconds = time.time() - start
        fingerprints = distributed.parameter_fingerprints(
            [network] + ([adversaries] if adversaries is not None else []), ctx)
        train_terms = distributed.mean_across_ranks(_mean(records), ctx)
        if is_main:
            valid = validate(network, adversaries, valid_set, cfg, ctx.device)
            entry = {"epoch": epoch, "lr": lr, "seconds": round(seconds, 2),
                     "samples_per_s": round(len(sampler) * cfg.data.batch_size / seconds, 2),
                     "train": train_terms, "valid": valid, "rank_param_sums": fingerprints}
            if len(set(fingerprints)) > 1:
                log.warning("ranks disagree on the weights: %s", fingerprints)
            for split in ("train", "valid"):
                for key, value in entry[split].items():
                    writer.add_scalar(f"{split}/{key}", value, epoch)
            writer.flush()
            save_checkpoint(_state(epoch, network, optimizer, scheduler, adversaries,
                                   adv_optimizer, cfg), checkpoint_path(output_dir, epoch))
            # After the checkpoint: an epoch killed mid-save is redone on resume, logged once.
            with open(output_dir / "train_log.jsonl", "a") as f:
                f.write(json.dumps(entry, sort_keys=True) + "\n")
            log.info("epoch %d: train loss %.4f, valid %s", epoch, entry["train"]["loss"],
                     {k: round(v, 4) for k, v in valid.items()})
        distributed.barrier(ctx)
    final = output_dir / "model.pt"
    if is_main:
        writer.close()
        write_final_model(output_dir, cfg)
    distributed.teardown(ctx)
    return final


def write_final_model(output_dir: Path, cfg: TrainConfig) -> Path:
    """``model.pt``: the mean of the last ``cfg.average_last`` epochs' model weights."""
    epochs = completed_epochs(output_dir)[-max(1, cfg.average_last):]
    weights = average_model_weights([checkpoint_path(output_dir, e) for e in epochs])
    final = output_dir / "model.pt"
    save_checkpoint({"model": weights, "config": asdict(cfg), "epochs": epochs}, final)
    write_text_atomic(output_dir / "model.json",
                      json.dumps({"averaged_epochs": epochs}, indent=1) + "\n")
    return final


def write_initial_model(cfg: TrainConfig, output_dir: str | Path) -> Path:
    """``output_dir/{config.yaml,model.pt}`` of an untrained model: the weights ``train``
    starts from with ``cfg.seed``. Scored like a trained model, it is the floor that training
    must beat (the recipes' "random init" row)."""
    output_dir = Path(output_dir)
    torch.manual_seed(cfg.seed)  # as train() does before building the network
    model = TwoStreamModel(cfg.model)
    output_dir.mkdir(parents=True, exist_ok=True)
    save_config(cfg, output_dir / "config.yaml")
    final = output_dir / "model.pt"
    save_checkpoint({"model": model.state_dict(), "config": asdict(cfg), "epochs": []}, final)
    return final
