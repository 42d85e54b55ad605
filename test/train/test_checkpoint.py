"""Checkpoints: atomic, loadable only as weights, clear errors, averaging."""
import pytest
import torch

from xmodal.train.checkpoint import (CheckpointError, average_model_weights, checkpoint_path,
                                     completed_epochs, load_checkpoint, load_model_weights,
                                     save_checkpoint)


def small_model():
    return torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))


def test_round_trip_and_discovery(tmp_path):
    model = small_model()
    for epoch in (1, 2, 10):
        save_checkpoint({"model": model.state_dict(), "epoch": epoch}, checkpoint_path(tmp_path, epoch))
    (tmp_path / "notes.txt").write_text("x")
    assert completed_epochs(tmp_path) == [1, 2, 10]
    state = load_checkpoint(checkpoint_path(tmp_path, 10))
    assert state["epoch"] == 10
    other = small_model()
    load_model_weights(other, state["model"], "epoch10.pt")
    assert torch.equal(other[0].weight, model[0].weight)


def test_corrupt_and_missing_checkpoints_are_named(tmp_path):
    path = checkpoint_path(tmp_path, 1)
    save_checkpoint({"model": small_model().state_dict()}, path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="epoch1.pt: cannot read checkpoint"):
        load_checkpoint(path)
    with pytest.raises(CheckpointError, match="epoch7.pt: checkpoint not found"):
        load_checkpoint(checkpoint_path(tmp_path, 7))


def test_other_architecture_is_named(tmp_path):
    state = torch.nn.Sequential(torch.nn.Linear(3, 5)).state_dict()
    with pytest.raises(CheckpointError, match=r"x.pt: checkpoint does not fit this model "
                                              r"\(missing: 1.bias.*shape differs: 0.bias"):
        load_model_weights(small_model(), state, "x.pt")


def test_average_of_weights(tmp_path):
    models = [small_model() for _ in range(3)]
    paths = []
    for i, m in enumerate(models):
        m[1].num_batches_tracked.fill_(i)
        paths.append(checkpoint_path(tmp_path, i + 1))
        save_checkpoint({"model": m.state_dict()}, paths[-1])
    avg = average_model_weights(paths)
    expected = torch.stack([m[0].weight.detach() for m in models]).mean(0)
    assert torch.allclose(avg["0.weight"], expected)
    assert avg["1.num_batches_tracked"].item() == 2
