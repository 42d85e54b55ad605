"""The one training loop of every method: one process, or many under ``torchrun`` (DDP).

A method (``xmodal.methods``) supplies its network, optional auxiliary modules with their own
optimiser, and its batches; this module owns the rest and knows no method by name.

Every random choice is a function of (seed, epoch, batch index): which examples a batch holds
(the method's sampler) and what the network draws inside a step (a generator seeded per
step). With the full state in each epoch's checkpoint, a run stopped after any epoch and
resumed produces the same weights as one that never stopped.

``data.batch_size`` is the global batch. Under ``torchrun`` each of the R processes takes B/R
examples of every batch; BatchNorm statistics (``GlobalBatchNorm``) and the losses that
compare examples across the batch (``gather_batch``) span the global batch, so R processes
compute what one process does with the same batch, up to floating-point summation order.
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
from xmodal.train import distributed
from xmodal.train.checkpoint import (average_model_weights, checkpoint_path, completed_epochs,
                                     load_checkpoint, load_model_weights, save_checkpoint)
from xmodal.train.config import RunConfig
from xmodal.train.global_batchnorm import convert_to_global_batchnorm
from xmodal.train.method import Auxiliary, Method, MethodNetwork, TrainingData

log = logging.getLogger(__name__)
VALID_SEED = 20200504  # validation batches are the same in every epoch and every run


def _generator(seed: int, epoch: int, step: int) -> torch.Generator:
    gen = torch.Generator()
    gen.manual_seed(int(np.random.SeedSequence([seed, epoch, step]).generate_state(1)[0]))
    return gen


def _loader(dataset, sampler, num_workers: int) -> DataLoader:
    return DataLoader(dataset, batch_sampler=sampler, num_workers=num_workers,
                      persistent_workers=False, pin_memory=torch.cuda.is_available())


def _mean(records: list[dict[str, float]]) -> dict[str, float]:
    return {k: sum(r[k] for r in records) / len(records) for k in records[0]} if records else {}


def _to(batch, device: torch.device) -> tuple[torch.Tensor, ...]:
    return tuple(t.to(device) for t in batch)


@torch.no_grad()
def validate(network: MethodNetwork, auxiliary: Auxiliary | None, batches,
             device: torch.device) -> dict[str, float]:
    """The method's terms on its fixed validation batches (held-out data, never trial lists)."""
    dataset, sampler = batches
    network.eval()
    if auxiliary is not None:
        auxiliary.eval()
    records = []
    for step, batch in enumerate(_loader(dataset, sampler, 0)):
        gen = _generator(VALID_SEED, 0, step)
        terms, out = network(_to(batch, device), gen)
        if auxiliary is not None:
            terms.update(auxiliary.model_terms(out, gen))
        records.append({k: float(v) for k, v in terms.items()})
    network.train()
    if auxiliary is not None:
        auxiliary.train()
    return _mean(records)


def _state(epoch, network, optimizer, scheduler, auxiliary, aux_optimizer, cfg) -> dict:
    state = {"epoch": epoch, "model": network.model.state_dict(),
             "objective": network.objective.state_dict(), "optimizer": optimizer.state_dict(),
             "scheduler": scheduler.state_dict(), "config": asdict(cfg),
             "rng": {"torch": torch.get_rng_state()}}
    if auxiliary is not None:
        state["auxiliary"] = auxiliary.state_dict()
        state["auxiliary_optimizer"] = aux_optimizer.state_dict()
    return state


def _restore(state, network, optimizer, scheduler, auxiliary, aux_optimizer, where: str) -> None:
    load_model_weights(network.model, state["model"], where)
    network.objective.load_state_dict(state["objective"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    torch.set_rng_state(state["rng"]["torch"])
    if auxiliary is not None:
        auxiliary.load_state_dict(state["auxiliary"])
        aux_optimizer.load_state_dict(state["auxiliary_optimizer"])


def train(method: Method, cfg: RunConfig, data: TrainingData, output_dir: str | Path,
          resume: bool = False, device: str = "auto") -> Path:
    """Train ``method`` per ``cfg`` on ``data``; checkpoints, logs and the final model go to
    ``output_dir``.

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
    network = method.network(cfg, data)
    if ctx.world_size > 1:
        convert_to_global_batchnorm(network)
    network = network.to(ctx.device)
    auxiliary = method.auxiliary(cfg)
    if auxiliary is not None:
        auxiliary = auxiliary.to(ctx.device)
    optimizer = cfg.optim.make(network.parameters(), cfg.optim.lr)
    scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=cfg.optim.lr_decay)
    aux_optimizer = (cfg.optim.make(auxiliary.parameters(), cfg.optim.adversary_lr, 0.0)
                     if auxiliary is not None else None)
    start_epoch = 1
    if resume and done:
        path = checkpoint_path(output_dir, done[-1])
        _restore(load_checkpoint(path), network, optimizer, scheduler, auxiliary,
                 aux_optimizer, str(path))
        start_epoch = done[-1] + 1
        if is_main:
            log.info("resuming from %s", path)
    if is_main:
        # Only now: a resumed run whose checkpoint does not fit the config keeps its config.yaml.
        output_dir.mkdir(parents=True, exist_ok=True)
        save_config(cfg, output_dir / "config.yaml")
        # CPU results depend on the thread count (reduction order): the log says which it was.
        log.info("training %s on %s, %d torch threads per process, %d process(es)",
                 method.name, ctx.device, torch.get_num_threads(), ctx.world_size)
    ddp = network
    if ctx.world_size > 1:
        ddp = DistributedDataParallel(
            network, device_ids=ctx.device_ids,
            find_unused_parameters=not method.every_parameter_used(cfg))

    train_set, sampler = method.train_batches(cfg, data, ctx.rank, ctx.world_size)
    valid_batches = method.valid_batches(cfg, data, VALID_SEED) if is_main else None
    writer = None
    if is_main:
        from torch.utils.tensorboard import SummaryWriter  # only rank 0 writes
        writer = SummaryWriter(str(output_dir / "tensorboard"), purge_step=start_epoch)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16,
                              enabled=cfg.amp and ctx.device.type == "cuda")

    for epoch in range(start_epoch, cfg.optim.epochs + 1):
        sampler.set_epoch(epoch)
        if auxiliary is not None:
            auxiliary.set_epoch(epoch)
        lr = optimizer.param_groups[0]["lr"]
        records, start = [], time.time()
        bar = tqdm(_loader(train_set, sampler, cfg.data.num_workers), total=len(sampler),
                   desc=f"epoch {epoch}/{cfg.optim.epochs}", disable=not is_main,
                   dynamic_ncols=True, unit="batch")
        for step, batch in enumerate(bar):
            gen = _generator(cfg.seed, epoch, step)  # the same on every rank: global batch
            batch = _to(batch, ctx.device)
            with autocast:
                terms, out = ddp(batch, gen)
                loss = terms["loss"]
                if auxiliary is not None:
                    terms.update(auxiliary.model_terms(out, gen))
                    loss = loss + terms[auxiliary.model_loss_key]
                    aux_terms = auxiliary.own_terms(out, gen)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"non-finite loss {float(loss)} at epoch {epoch} step "
                                         f"{step}: the training diverged (try a lower optim.lr)")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.optim.grad_clip > 0:
                nn.utils.clip_grad_norm_(network.parameters(), cfg.optim.grad_clip)
            optimizer.step()
            if auxiliary is not None:
                for aux_step in range(auxiliary.steps_per_model_step):
                    if aux_step:  # again on the same outputs, by the updated modules
                        with autocast:
                            aux_terms = auxiliary.own_terms(out, gen)
                    aux_optimizer.zero_grad(set_to_none=True)
                    aux_terms[auxiliary.own_loss_key].backward()
                    distributed.average_gradients(auxiliary, ctx)
                    aux_optimizer.step()
                terms.update(aux_terms)
            records.append({k: float(v.detach()) for k, v in terms.items()})
            bar.set_postfix(loss=f"{records[-1]['loss']:.3f}")
        bar.close()
        scheduler.step()
        seconds = time.time() - start
        fingerprints = distributed.parameter_fingerprints(
            [network] + ([auxiliary] if auxiliary is not None else []), ctx)
        train_terms = distributed.mean_across_ranks(_mean(records), ctx)
        if is_main:
            valid = (validate(network, auxiliary, valid_batches, ctx.device)
                     if valid_batches is not None else {})
            entry = {"epoch": epoch, "lr": lr, "seconds": round(seconds, 2),
                     "samples_per_s": round(len(sampler) * cfg.data.batch_size / seconds, 2),
                     "train": train_terms, "valid": valid, "rank_param_sums": fingerprints}
            if len(set(fingerprints)) > 1:
                log.warning("ranks disagree on the weights: %s", fingerprints)
            for split in ("train", "valid"):
                for key, value in entry[split].items():
                    writer.add_scalar(f"{split}/{key}", value, epoch)
            writer.flush()
            save_checkpoint(_state(epoch, network, optimizer, scheduler, auxiliary,
                                   aux_optimizer, cfg), checkpoint_path(output_dir, epoch))
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


def write_final_model(output_dir: Path, cfg: RunConfig) -> Path:
    """``model.pt``: the mean of the last ``cfg.average_last`` epochs' model weights."""
    epochs = completed_epochs(output_dir)[-cfg.average_last:]
    weights = average_model_weights([checkpoint_path(output_dir, e) for e in epochs])
    final = output_dir / "model.pt"
    save_checkpoint({"model": weights, "config": asdict(cfg), "epochs": epochs}, final)
    write_text_atomic(output_dir / "model.json",
                      json.dumps({"averaged_epochs": epochs}, indent=1) + "\n")
    return final


def write_initial_model(method: Method, cfg: RunConfig, output_dir: str | Path) -> Path:
    """``output_dir/{config.yaml,model.pt}`` of an untrained encoder: the weights ``train``
    starts from with ``cfg.seed``. Scored like a trained model, it is the floor that training
    must beat (the recipes' "random init" row)."""
    output_dir = Path(output_dir)
    torch.manual_seed(cfg.seed)  # as train() does before building the network (model first)
    model = method.encoder(cfg)
    output_dir.mkdir(parents=True, exist_ok=True)
    save_config(cfg, output_dir / "config.yaml")
    final = output_dir / "model.pt"
    save_checkpoint({"model": model.state_dict(), "config": asdict(cfg), "epochs": []}, final)
    return final
