"""Every training yaml the recipes ship loads and checks; each paper variant changes only what
its name says (a copy that drifted from its base would compare more than one thing)."""
from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import pytest

from xmodal.methods import load_run_config

REPO = Path(__file__).resolve().parents[2]
TRAINING_YAMLS = sorted([*REPO.glob("egs/*/v1/conf/**/ssl_*.yaml"),
                         *REPO.glob("egs/*/v1/conf/**/recon_*.yaml"),
                         *REPO.glob("egs/*/v1/conf/**/xvector_*.yaml"),
                         *REPO.glob("egs/*/v1/conf/**/supervised.yaml"),
                         *REPO.glob("egs/*/v1/conf/**/facegen*.yaml")])


def flat(cfg) -> dict[str, object]:
    return {f"{section}.{key}": value for section, values in asdict(cfg).items()
            if isinstance(values, dict) for key, value in values.items()}


@pytest.mark.parametrize("path", TRAINING_YAMLS, ids=lambda p: str(p.relative_to(REPO)))
def test_every_training_yaml_loads(path: Path):
    _, cfg = load_run_config(path)
    assert cfg.optim.epochs >= 1


# variant -> (its base, the keys that may differ)
VARIANTS = {
    "egs/voxceleb/v1/conf/ssl_id_content_dis_euclidean.yaml":
        ("ssl_id_content_dis.yaml", {"loss.similarity": "euclidean"}),
    "egs/voxceleb/v1/conf/ssl_id_content_dis_lr1e-3.yaml":
        ("ssl_id_content_dis.yaml", {"optim.lr": 1e-3, "optim.adversary_lr": 1e-3}),
    "egs/mini_voxceleb/v1/conf/ssl_id_content_dis_euclidean.yaml":
        ("ssl_id_content_dis.yaml", {"loss.similarity": "euclidean"}),
    "egs/mini_voxceleb/v1/conf/ssl_id_content_dis_sgd.yaml":
        ("ssl_id_content_dis.yaml", {"optim.name": "sgd", "optim.lr": 0.01,
                                     "optim.adversary_lr": 0.01}),
}
# Stafylakis et al.'s comparisons: each reconstruction config against recon_phones.yaml.
# (Classification-only configs have no decoder; their decoder section is the default, unused.)
RECON_VARIANTS = {
    "recon_none.yaml": {"data.content": "none"},
    "recon_units.yaml": {"data.content": "units"},
    "recon_phones_classify.yaml": {"data.labels": "train", "loss.classify_weight": 1.0},
    "recon_phones_semisup.yaml": {"data.labels": "labelled", "loss.classify_weight": 1.0,
                                  "data.labelled_batch_size": None},
}
for recipe in ("egs/voxceleb/v1/conf", "egs/mini_voxceleb/v1/conf", "egs/mini_voxceleb/v1/conf/demo"):
    for name, keys in RECON_VARIANTS.items():
        if (REPO / recipe / name).exists():
            VARIANTS[f"{recipe}/{name}"] = ("recon_phones.yaml", keys)
VARIANTS["egs/voxceleb/v1/conf/facegen_shukla_outside.yaml"] = (
    "facegen_shukla.yaml", {"data.still_frame": "outside_window"})
VARIANTS["egs/mini_voxceleb/v1/conf/facegen_same_window.yaml"] = (
    "facegen.yaml", {"data.still_frame": "same_window"})
VARIANTS["egs/mini_voxceleb/v1/conf/recon_noisy.yaml"] = (
    "recon_phones.yaml", {"data.content": "noisy"})


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_paper_variants_differ_from_their_base_only_as_named(variant: str):
    base_name, expected = VARIANTS[variant]
    path = REPO / variant
    a, b = flat(load_run_config(path)[1]), flat(load_run_config(path.parent / base_name)[1])
    differ = {k: v for k, v in a.items() if a[k] != b[k]}
    # None: the key must differ, with any value (e.g. a batch share).
    assert differ.keys() == expected.keys()
    assert all(differ[k] == v for k, v in expected.items() if v is not None)
