"""Table 2 results read by people and by the recipe's chance check."""
from __future__ import annotations

from xmodal.eval.ssl_results import EMBEDDINGS, accuracy_cell, chance_failures, format_table


def test_chance_failures_name_the_trained_task_left_at_chance():
    result = {"content_acc_content": 0.30, "content_acc_content_ci": [0.25, 0.35],
              "identity_acc_identity": 0.08, "identity_acc_identity_ci": [0.05, 0.11],
              "chance_content": 1 / 16, "chance_identity": 1 / 16}
    assert chance_failures(result, content_trained=True, identity_trained=False) == []
    [failure] = chance_failures(result, content_trained=True, identity_trained=True)
    assert "identity loss was trained" in failure and "8.0% [5.0, 11.0]" in failure
    assert "chance (6.2%)" in failure
    result["content_acc_content_ci"] = [0.0625, 0.35]  # touching chance is not leaving it
    assert len(chance_failures(result, content_trained=True, identity_trained=False)) == 1


def test_accuracy_cell_shows_the_interval_when_there_is_one():
    result = {"identity_acc_identity": 0.1234, "identity_acc_identity_ci": [0.101, 0.149],
              "content_acc_identity": 0.07}
    assert accuracy_cell(result, "identity_acc_identity") == "12.3 [10.1, 14.9]"
    assert accuracy_cell(result, "content_acc_identity") == "7.0"


def test_each_trained_loss_is_judged_with_its_own_embedding():
    """A content task at chance fails even when the identity embedding does well on it."""
    result = {"chance_content": 1 / 16, "chance_identity": 1 / 16,
              "content_acc_content": 0.05, "content_acc_content_ci": [0.0, 0.1],
              "content_acc_identity": 0.95, "content_acc_identity_ci": [0.9, 1.0],
              "identity_acc_identity": 0.14, "identity_acc_identity_ci": [0.08, 0.2],
              "identity_acc_content": 0.01, "identity_acc_content_ci": [0.0, 0.02]}
    failures = chance_failures(result, content_trained=True, identity_trained=True)
    assert [f.split(",")[0] for f in failures] == ["the content loss was trained"]


def test_rows_of_an_untrained_head_are_dashes():
    """Paper Table 2 shows '-' for the content head of an identity-only model."""
    result = {f"{task}_acc_{emb}": 0.25 for task in EMBEDDINGS for emb in EMBEDDINGS}
    result.update(chance_content=1 / 16, chance_identity=1 / 16, track_eer_identity=20.0,
                  track_eer_content=45.0)
    table = format_table({"id_only": result}, {"id_only": {"identity"}})
    assert "| id_only | content | - | - | - |" in table
    assert "| id_only | identity | 25.0 | 25.0 | 20.0 |" in table
    assert "| id_only | content | 25.0 | 25.0 | 45.0 |" in format_table({"id_only": result})
