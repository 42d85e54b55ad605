"""Fault injection for the stage tools: SIGKILL at chosen moments, a full disk, read-only dirs.

Helpers are fixtures (``faults``, ``tiny_exp``, ``trained_run``) so that test modules share
them without importing each other. Every tool runs for real, as a subprocess when a fault
has to hit it from outside.
"""
from __future__ import annotations

import ctypes
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Callable

import pytest
import torch

PR_CAPBSET_DROP = 24
CAP_DAC_OVERRIDE = 1


def train_cmd(config: Path, dump: Path, out: Path, *extra: str) -> list[str]:
    """``python -m xmodal.bin.train`` on the tiny dump's ssl_train/ssl_test, on the CPU."""
    return [sys.executable, "-m", "xmodal.bin.train", "--config", str(config),
            "--train-dir", str(dump / "ssl_train"), "--valid-dir", str(dump / "ssl_test"),
            "--output-dir", str(out), "--device", "cpu", *extra]


def module_cmd(module: str, *args: str) -> list[str]:
    """``python -m module args`` with this interpreter."""
    return [sys.executable, "-m", module, *args]


def start(cmd: list[str], log: Path, preexec_fn: Callable[[], None] | None = None,
          ) -> subprocess.Popen:
    """Start ``cmd`` with stderr (and stdout) going to ``log``."""
    with open(log, "wb") as f:
        return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=f, stderr=f,
                                preexec_fn=preexec_fn)


def wait_for(condition: Callable[[], bool], proc: subprocess.Popen, what: str,
             timeout: float = 300.0) -> None:
    """Poll ``condition`` every 0.2 ms until it holds; fail if ``proc`` ends first."""
    deadline = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None:
            raise AssertionError(f"the process ended (status {proc.returncode}) before {what}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.0002)


def sigkill(proc: subprocess.Popen) -> None:
    """SIGKILL ``proc`` and reap it; it must not have finished on its own."""
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, f"the process finished ({proc.returncode}) " \
                                               "before it could be killed"


def temporaries(directory: Path) -> list[str]:
    """Names of the temporary files (``.<name>.*tmp``) in ``directory``, recursively."""
    return sorted(str(p.relative_to(directory)) for p in directory.rglob(".*tmp") if p.is_file())


def file_bytes(directory: Path) -> dict[str, bytes]:
    """Every regular file under ``directory`` and its content."""
    return {str(p.relative_to(directory)): p.read_bytes()
            for p in sorted(directory.rglob("*")) if p.is_file()}


def file_size_limit(nbytes: int) -> Callable[[], None]:
    """A ``preexec_fn``: files may not grow past ``nbytes`` (writes fail with EFBIG)."""
    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of death by signal
        resource.setrlimit(resource.RLIMIT_FSIZE, (nbytes, nbytes))
    return limit


def obey_permissions() -> None:
    """A ``preexec_fn``: as root, drop CAP_DAC_OVERRIDE so that directory modes apply.

    Root ignores a directory's mode; without that capability (dropped from the bounding set,
    so the exec'd program does not get it back) a 0o555 directory is read-only for it too.
    """
    if os.geteuid() == 0:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_CAPBSET_DROP, CAP_DAC_OVERRIDE, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP, CAP_DAC_OVERRIDE)")


@pytest.fixture(scope="session")
def faults(train_config) -> SimpleNamespace:
    """The helpers above, and ``train_config(path, epochs, batches)``: the tiny training
    config with ``epochs`` epochs of ``batches`` batches, in-process loading and one validation
    batch (enough to kill a run between, inside and while saving epochs)."""
    def tiny_train_config(path: Path, epochs: int = 3, batches: int = 2) -> Path:
        return train_config(path, optim__epochs=epochs, data__batches_per_epoch=batches,
                            data__valid_batches=1, data__num_workers=0)

    return SimpleNamespace(train_config=tiny_train_config, train_cmd=train_cmd,
                           module_cmd=module_cmd, start=start, wait_for=wait_for,
                           sigkill=sigkill, temporaries=temporaries, file_bytes=file_bytes,
                           file_size_limit=file_size_limit, obey_permissions=obey_permissions)


@pytest.fixture
def read_only(tmp_path: Path) -> Callable[[Path], None]:
    """Make a directory tree read-only for the tools run with ``obey_permissions``.

    Skips when this user cannot be denied a write (root without CAP_SETPCAP): the file-size
    limit tests cover failed writes then.
    """
    probe = tmp_path / "read_only_probe"
    probe.mkdir()
    probe.chmod(0o555)
    try:
        denied = subprocess.run(["sh", "-c", f": > {probe}/x"], preexec_fn=obey_permissions,
                                stderr=subprocess.DEVNULL).returncode != 0
    except subprocess.SubprocessError:
        denied = False
    probe.chmod(0o755)
    if not denied:
        pytest.skip("this user writes into a 0o555 directory (root that cannot drop "
                    "CAP_DAC_OVERRIDE); see the file-size limit tests")

    def make(root: Path) -> None:
        for path in [root, *root.rglob("*")]:
            path.chmod(0o555 if path.is_dir() else 0o444)
    return make


@pytest.fixture(scope="session")
def tiny_exp(tmp_path_factory) -> Path:
    """An untrained tiny model saved as a trained experiment (config.yaml + model.pt)."""
    from xmodal.config import save_config
    from xmodal.models.two_stream import ModelConfig, TwoStreamModel
    from xmodal.train.checkpoint import save_checkpoint
    from xmodal.methods.cross_modal import CrossModalConfig

    root = tmp_path_factory.mktemp("tiny_exp")
    cfg = ModelConfig(width=0.125, face_size=32, embed_dim=32, head_hidden=32, trunk_dim=32)
    torch.manual_seed(0)
    save_config(CrossModalConfig(model=cfg), root / "config.yaml")
    save_checkpoint({"model": TwoStreamModel(cfg).state_dict()}, root / "model.pt")
    return root


@pytest.fixture(scope="session")
def trained_run(tiny_dump: Path, tmp_path_factory, faults) -> SimpleNamespace:
    """A finished one-epoch training run: ``exp`` dir and its ``config`` (copy before changing)."""
    root = tmp_path_factory.mktemp("trained")
    config = faults.train_config(root / "one_epoch.yaml", epochs=1, batches=1)
    proc = subprocess.run(train_cmd(config, tiny_dump, root / "exp"), capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return SimpleNamespace(exp=root / "exp", config=config)
