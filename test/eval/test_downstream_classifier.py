"""Downstream classifiers on synthetic features: planted signals found, independent labels at
chance, order found only by the GRU, early stopping on validation alone, determinism, training
statistics, speaker normalisation, and the speaker-bootstrap accuracy and paired comparison
against hand resampling."""
from __future__ import annotations

import io
import re

import numpy as np
import pytest
import torch

from xmodal.eval import bootstrap
from xmodal.eval.bootstrap import cluster_bootstrap_accuracy
from xmodal.eval.downstream_classifier import (MIN_TEST_SPEAKERS, ClassifierConfig, FeatureSet,
                                               TrainedClassifier, accuracy_with_ci,
                                               normalise_per_speaker, paired_accuracy_comparison,
                                               train_classifier)

D = 8
# Fast settings for the tiny sets: a large lr reaches the optimum in tens of epochs.
LINEAR = dict(kind="linear", lr=0.05, max_epochs=200, patience=20, batch_size=16)
GRU = dict(kind="gru", hidden=8, lr=0.02, max_epochs=40, patience=8, batch_size=16)
CONV = dict(GRU, kind="conv")


def feature_set(split: str, seed: int, signal: str = "mean", n_classes: int = 3,
                n_speakers: int = 10, per_speaker: int = 10, frames: tuple[int, int] = (20, 41),
                offset: float = 0.0) -> FeatureSet:
    """Noise features of ``n_speakers`` speakers (named after ``split``, so splits share none)
    with a label carried by dim 0: ``mean`` adds 2 * label to every frame; ``ramp`` makes dim 0
    rise over the utterance for label 1 and fall for label 0 (both average 0); ``none``
    leaves the label independent of the features. ``offset`` is added to every value."""
    rng = np.random.default_rng(seed)
    keys, feats, labels, speakers = [], [], [], []
    for s in range(n_speakers):
        for u in range(per_speaker):
            label, n_frames = int(rng.integers(n_classes)), int(rng.integers(*frames))
            x = rng.normal(size=(n_frames, D))
            if signal == "mean":
                x[:, 0] += 2.0 * label
            elif signal == "ramp":
                x[:, 0] = (2 * label - 1) * 2.0 * np.linspace(-1, 1, n_frames) + 0.5 * x[:, 0]
            keys.append(f"{split}{s}/{u}")
            feats.append((x + offset).astype(np.float32))
            labels.append(label)
            speakers.append(f"{split}{s}")
    return FeatureSet(keys, feats, np.array(labels), speakers)


def splits(signal: str = "mean", n_classes: int = 3, **kwargs) -> tuple[FeatureSet, ...]:
    """Training, validation and test sets of one kind, each from its own seed and speakers."""
    return tuple(feature_set(name, seed, signal, n_classes, **kwargs)
                 for name, seed in (("train", 1), ("valid", 2), ("test", 3)))


def weights(classifier: TrainedClassifier) -> dict[str, torch.Tensor]:
    return classifier.state_dict()["network"]


def same_weights(a: TrainedClassifier, b: TrainedClassifier) -> bool:
    wa, wb = weights(a), weights(b)
    return wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


def scored(classifier: TrainedClassifier, data: FeatureSet) -> dict:
    return accuracy_with_ci(classifier.predict(data) == data.labels, data.speakers)



@pytest.fixture(scope="module")
def planted():
    train, valid, test = splits("mean")
    return train, valid, test, train_classifier(train, valid, 3, ClassifierConfig(**LINEAR))


@pytest.fixture(scope="module")
def temporal():
    train, valid, test = splits("ramp", n_classes=2, frames=(15, 26))
    return (train, valid, test, train_classifier(train, valid, 2, ClassifierConfig(**GRU)),
            train_classifier(train, valid, 2, ClassifierConfig(**LINEAR)),
            train_classifier(train, valid, 2, ClassifierConfig(**CONV)))


# ----------------------------------------------------------------------------- signal

def test_planted_mean_signal_is_found(planted):
    _, _, test, classifier = planted
    result = scored(classifier, test)
    assert result["accuracy"] > 0.9
    assert result["ci"][0] > 1 / 3
    assert result["n_test"] == 100 and result["n_speakers"] == 10


def test_independent_labels_stay_at_chance():
    train, valid, test = splits("none")
    classifier = train_classifier(train, valid, 3, ClassifierConfig(**LINEAR))
    result = scored(classifier, test)
    assert result["ci"][0] <= 1 / 3 <= result["ci"][1]
    assert result["accuracy"] < 1 / 3 + 0.2


def test_frame_order_is_found_by_the_frame_models_only(temporal):
    _, _, test, gru, linear, conv = temporal
    assert scored(gru, test)["accuracy"] > 0.85
    # The convolutions see the local slope of the ramp before pooling.
    assert scored(conv, test)["accuracy"] > 0.85
    # Mean pooling cancels the ramp: the linear classifier sees noise.
    linear_result = scored(linear, test)
    assert linear_result["accuracy"] < 0.7
    assert linear_result["ci"][0] <= 0.5 <= linear_result["ci"][1]


@pytest.mark.parametrize("model", [3, 5], ids=["gru", "conv"])
def test_frame_models_ignore_padding_and_batch_companions(temporal, model: int):
    """Each utterance gets the logits alone that it gets in a padded batch with longer ones:
    the masked mean, the packed backward direction of the GRU and the masked convolutions
    see only its own frames."""
    test, classifier = temporal[2], temporal[model]
    together = classifier.logits(test)
    order = np.argsort([len(f) for f in test.feats])  # the shortest first, padded the most
    for i in order[:5]:
        alone = FeatureSet([test.keys[i]], [test.feats[i]], test.labels[i:i + 1],
                           [test.speakers[i]])
        np.testing.assert_allclose(classifier.logits(alone)[0], together[i], rtol=1e-5,
                                   atol=1e-5)
    assert len({len(f) for f in test.feats}) > 1  # the lengths do differ


# ----------------------------------------------------------------------------- early stopping

def run_logged(train, valid, n_classes, **config) -> tuple[TrainedClassifier, list[float]]:
    """A classifier and the validation accuracy of each epoch, read from its log."""
    lines: list[str] = []
    classifier = train_classifier(train, valid, n_classes, ClassifierConfig(**config),
                                  log=lines.append)
    assert len(lines) == classifier.epochs_run
    return classifier, [float(re.search(r"valid accuracy ([0-9.]+)", line).group(1))
                        for line in lines]


def test_early_stopping_keeps_the_earliest_best_epoch(planted):
    train, valid, _, _ = planted
    config = dict(LINEAR, patience=5)
    classifier, accuracies = run_logged(train, valid, 3, **config)
    best = max(accuracies)
    assert accuracies.count(best) > 1  # a tie, so "earliest" is tested
    assert classifier.best_epoch == accuracies.index(best) + 1
    assert classifier.valid_accuracy == pytest.approx(best, abs=1e-4)
    assert classifier.epochs_run == classifier.best_epoch + 5 < config["max_epochs"]
    assert np.mean(classifier.predict(valid) == valid.labels) == classifier.valid_accuracy


def test_predict_uses_the_best_epochs_weights(planted):
    """The kept weights are those of a run of exactly ``best_epoch`` epochs (whose last epoch
    is its best), not those after the ``epochs_run`` epochs of training."""
    train, valid, _, _ = planted
    config = dict(LINEAR, patience=5)
    classifier = train_classifier(train, valid, 3, ClassifierConfig(**config))
    assert classifier.best_epoch < classifier.epochs_run
    at_best = train_classifier(train, valid, 3, ClassifierConfig(
        **dict(config, max_epochs=classifier.best_epoch)))
    assert at_best.epochs_run == at_best.best_epoch == classifier.best_epoch
    assert same_weights(classifier, at_best)


def test_validation_labels_choose_the_epoch():
    """Same training data, validation labels shuffled: another epoch is chosen. The choice
    reads the validation set, which train_classifier is the only place to give it."""
    train, valid, _ = splits("mean", frames=(3, 5))  # short utterances: a noisier task
    config = dict(LINEAR, lr=0.01, patience=30)
    clean, clean_accuracies = run_logged(train, valid, 3, **config)
    rng = np.random.default_rng(0)
    shuffled_valid = FeatureSet(valid.keys, valid.feats, rng.permutation(valid.labels),
                                valid.speakers)
    shuffled, shuffled_accuracies = run_logged(train, shuffled_valid, 3, **config)
    assert shuffled.best_epoch != clean.best_epoch
    assert max(shuffled_accuracies) < max(clean_accuracies)
    assert shuffled.best_epoch == shuffled_accuracies.index(max(shuffled_accuracies)) + 1


# ----------------------------------------------------------------------------- determinism

@pytest.mark.parametrize("config", [dict(LINEAR, max_epochs=8), dict(GRU, max_epochs=3),
                                    dict(CONV, max_epochs=3)])
def test_same_seed_same_weights_other_seed_differs(config):
    train, valid, test = splits("mean", n_speakers=4)
    global_state = torch.get_rng_state()
    first = train_classifier(train, valid, 3, ClassifierConfig(**config))
    torch.manual_seed(1234)  # the global stream must not matter
    second = train_classifier(train, valid, 3, ClassifierConfig(**config))
    other = train_classifier(train, valid, 3, ClassifierConfig(**dict(config, seed=1)))
    assert same_weights(first, second)
    assert np.array_equal(first.logits(test), second.logits(test))
    assert not same_weights(first, other)
    torch.set_rng_state(global_state)


def test_training_leaves_the_global_rng_alone():
    train, valid, _ = splits("mean", n_speakers=3)
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    train_classifier(train, valid, 3, ClassifierConfig(**dict(LINEAR, max_epochs=2)))
    assert torch.equal(torch.rand(3), expected)


def test_state_dict_round_trip(planted):
    _, _, test, classifier = planted
    buffer = io.BytesIO()
    torch.save(classifier.state_dict(), buffer)
    buffer.seek(0)
    loaded = TrainedClassifier.from_state_dict(torch.load(buffer, weights_only=True))
    assert np.array_equal(loaded.logits(test), classifier.logits(test))
    assert (loaded.best_epoch, loaded.epochs_run, loaded.valid_accuracy, loaded.config) == (
        classifier.best_epoch, classifier.epochs_run, classifier.valid_accuracy,
        classifier.config)


# ----------------------------------------------------------------------------- standardisation

def test_standardisation_uses_training_frames_only():
    train = feature_set("train", 1)
    valid = feature_set("valid", 2, offset=5.0)  # other statistics than training's
    classifier = train_classifier(train, valid, 3, ClassifierConfig(**dict(LINEAR,
                                                                          max_epochs=1)))
    frames = np.concatenate(train.feats).astype(np.float64)
    np.testing.assert_allclose(classifier.mean, frames.mean(axis=0), rtol=1e-10)
    np.testing.assert_allclose(classifier.std, frames.std(axis=0), rtol=1e-10)


def test_a_test_subset_gets_the_logits_it_gets_in_the_full_set(planted):
    """One class's utterances alone: standardising by the tested set's own statistics would
    remove the class offset and change their scores."""
    _, _, test, classifier = planted
    together = classifier.logits(test)
    own = np.flatnonzero(test.labels == 2)
    subset = FeatureSet([test.keys[i] for i in own], [test.feats[i] for i in own],
                        test.labels[own], [test.speakers[i] for i in own])
    np.testing.assert_allclose(classifier.logits(subset), together[own], rtol=1e-5,
                               atol=1e-5)


def test_common_offset_and_scale_do_not_change_predictions(planted):
    train, valid, test, classifier = planted
    moved = [FeatureSet(d.keys, [3.0 * f + 200.0 for f in d.feats], d.labels, d.speakers)
             for d in (train, valid, test)]
    moved_classifier = train_classifier(moved[0], moved[1], 3, ClassifierConfig(**LINEAR))
    assert np.array_equal(moved_classifier.predict(moved[2]), classifier.predict(test))
    assert moved_classifier.best_epoch == classifier.best_epoch


# ----------------------------------------------------------------------------- accuracy

def test_speaker_normalisation_standardises_each_speakers_frames(relative_cue_set):
    data = relative_cue_set("a", 0, n_speakers=3, per_speaker=4)
    normalised = normalise_per_speaker(data)
    assert normalised.keys == data.keys and np.array_equal(normalised.labels, data.labels)
    for speaker in set(data.speakers):
        index = [i for i, s in enumerate(data.speakers) if s == speaker]
        frames = np.concatenate([normalised.feats[i] for i in index])
        assert np.allclose(frames.mean(axis=0), 0, atol=1e-5)
        assert np.allclose(frames.std(axis=0), 1, atol=1e-4)
        # Known answer on one value: (x - the speaker's mean) / its deviation.
        raw = np.concatenate([data.feats[i] for i in index]).astype(np.float64)
        first = index[0]
        expected = (data.feats[first][0, 3] - raw[:, 3].mean()) / raw[:, 3].std()
        assert normalised.feats[first][0, 3] == pytest.approx(expected, abs=1e-5)
    # A dimension constant within a speaker is centred, not divided by zero.
    flat = FeatureSet(["a/1", "a/2"], [np.full((3, 2), 5.0), np.full((2, 2), 5.0)],
                      np.array([0, 1]), ["a", "a"])
    assert all(np.array_equal(f, np.zeros_like(f)) for f in normalise_per_speaker(flat).feats)


def test_a_cue_relative_to_the_speaker_needs_speaker_normalisation(relative_cue_set):
    train, valid, test = (relative_cue_set(name, seed)
                          for name, seed in (("train", 1), ("valid", 2), ("test", 3)))
    plain = train_classifier(train, valid, 2, ClassifierConfig(**LINEAR))
    normed = train_classifier(*(normalise_per_speaker(d) for d in (train, valid)), 2,
                              ClassifierConfig(**LINEAR))
    plain_accuracy = scored(plain, test)["accuracy"]
    normed_accuracy = scored(normed, normalise_per_speaker(test))["accuracy"]
    # Measured 0.53 without (held-out speakers' levels swamp the shift) and 1.00 with; on
    # features normalised over all speakers at once (one mean, not each speaker's), 0.54.
    assert normed_accuracy >= 0.95 and plain_accuracy <= 0.7


def test_speaker_normalisation_needs_two_utterances_a_speaker():
    data = small_set()  # speaker b has one utterance
    with pytest.raises(ValueError, match="speaker 'b' has one utterance \\('b/1'\\)"):
        normalise_per_speaker(data)


def test_accuracy_with_ci_known_answers():
    speakers = np.repeat([f"s{i}" for i in range(10)], 10)
    right = accuracy_with_ci(np.ones(100, dtype=bool), speakers)
    assert right["accuracy"] == 1.0 and right["ci"] == [1.0, 1.0]
    assert accuracy_with_ci(np.zeros(100), speakers)["ci"] == [0.0, 0.0]
    assert right["n_test"] == 100 and right["n_speakers"] == 10
    assert right["n_boot"] == 1000 and right["ci_level"] == 0.95
    # Half right either way: errors of whole speakers vs half of every speaker's utterances.
    clustered = accuracy_with_ci(np.arange(100) < 50, speakers, seed=3)
    spread = accuracy_with_ci(np.arange(100) % 2 == 0, speakers, seed=3)
    assert clustered["accuracy"] == spread["accuracy"] == 0.5
    assert spread["ci"] == [0.5, 0.5]
    assert clustered["ci"][1] - clustered["ci"][0] > 0.3
    boot = cluster_bootstrap_accuracy(np.arange(100) < 50, speakers, 1000, 3, 0.95)
    assert clustered["ci"] == [boot["low"], boot["high"]]


# ----------------------------------------------------------------------------- paired

def test_identical_systems_do_not_differ():
    rng = np.random.default_rng(0)
    correct = rng.random(80) < 0.7
    result = paired_accuracy_comparison(correct, correct, np.repeat(np.arange(20), 4))
    assert result["difference"] == 0.0 and result["ci"] == [0.0, 0.0]
    assert result["p_value"] == 1.0 and not result["significant"]
    assert result["a"] == result["b"] == pytest.approx(correct.mean())


def test_a_better_system_is_significant_with_the_right_sign():
    speakers = np.repeat([f"s{i}" for i in range(30)], 4)
    always, half = np.ones(120), np.arange(120) % 2
    better = paired_accuracy_comparison(always, half, speakers)
    assert better["difference"] == 0.5 and better["ci"][0] > 0
    assert better["significant"] and better["p_value"] < 0.01
    worse = paired_accuracy_comparison(half, always, speakers)
    assert worse["difference"] == -0.5 and worse["ci"][1] < 0
    assert worse["significant"] and worse["p_value"] < 0.01
    assert better["n_speakers"] == 30 and better["n_test"] == 120


def test_too_few_speakers_are_never_significant():
    """One speaker: every replicate is that speaker, the interval has zero width and would
    exclude 0 for any difference; below MIN_TEST_SPEAKERS nothing is tested."""
    always = np.ones(40)
    for n_speakers, testable in ((1, False), (MIN_TEST_SPEAKERS - 1, False),
                                 (MIN_TEST_SPEAKERS, True)):
        # Every speaker: half its utterances right, so every replicate differs by 0.5.
        speakers = np.arange(40) % n_speakers
        half = (np.arange(40) // n_speakers) % 2
        result = paired_accuracy_comparison(always, half, speakers)
        assert result["testable"] is testable and result["significant"] is testable
        assert result["ci"][0] > 0  # the interval alone would have called it


def hand_paired(correct_a, correct_b, speakers, n_boot, seed, level):
    """The paired bootstrap spelled out: draw speakers with replacement (the draws of
    ``draw_multiplicities``, indices into the sorted speaker names), gather every drawn
    copy's utterances, difference of the two accuracies."""
    names = np.unique(speakers)
    draws = np.random.default_rng(seed).integers(0, len(names), size=(n_boot, len(names)))
    diffs = []
    for row in draws:
        index = np.concatenate([np.flatnonzero(speakers == names[j]) for j in row])
        diffs.append(correct_a[index].mean() - correct_b[index].mean())
    diffs = np.array(diffs)
    tail = 50 * (1 - level)
    p = min(1.0, 2 * min(np.mean(diffs <= 0), np.mean(diffs >= 0)))
    return list(np.percentile(diffs, [tail, 100 - tail])), p


@pytest.mark.parametrize("chunk_elements", [None, 12])
def test_paired_comparison_matches_hand_resampling(monkeypatch, chunk_elements):
    if chunk_elements is not None:  # replicates drawn 2 at a time: the same stream
        # The paired comparison is bootstrap.cluster_paired_difference's resampling.
        monkeypatch.setattr(bootstrap, "BOOT_CHUNK_ELEMENTS", chunk_elements)
    rng = np.random.default_rng(4)
    # Unsorted speaker names with unequal numbers of utterances.
    speakers = np.array(["sE", "sB", "sD", "sA", "sC", "sF"])[rng.integers(0, 6, 40)]
    a, b = rng.random(40) < 0.75, rng.random(40) < 0.55
    result = paired_accuracy_comparison(a, b, speakers, n_boot=300, seed=9, level=0.9)
    ci, p = hand_paired(a, b, speakers, 300, 9, 0.9)
    assert result["ci"] == pytest.approx(ci, abs=1e-12)
    assert result["p_value"] == pytest.approx(p, abs=1e-12)
    assert result["difference"] == pytest.approx(a.mean() - b.mean())
    assert result["significant"] == (ci[0] > 0 or ci[1] < 0)
    assert 0 < result["p_value"] < 1  # a case where both sides of 0 are drawn


def test_paired_draws_are_those_of_accuracy_with_ci():
    """Against a system that is never right, the difference is A's own accuracy, so its
    interval must be accuracy_with_ci's with the same seed."""
    rng = np.random.default_rng(5)
    speakers = rng.integers(0, 12, 90).astype(str)
    correct = rng.random(90) < 0.6
    paired = paired_accuracy_comparison(correct, np.zeros(90), speakers, seed=2)
    assert paired["ci"] == accuracy_with_ci(correct, speakers, seed=2)["ci"]


def test_paired_comparison_rejects_bad_outcomes():
    with pytest.raises(ValueError, match="shapes"):
        paired_accuracy_comparison(np.ones(4), np.ones(3), ["a", "a", "b", "b"])
    with pytest.raises(ValueError, match="correct_b"):
        paired_accuracy_comparison(np.ones(4), np.full(4, 0.5), ["a", "a", "b", "b"])
    with pytest.raises(ValueError, match="n_boot"):
        paired_accuracy_comparison(np.ones(4), np.ones(4), ["a", "a", "b", "b"], n_boot=0)


# ----------------------------------------------------------------------------- bad input

def small_set(feats=None, labels=None, keys=("a/1", "a/2", "b/1")) -> FeatureSet:
    feats = feats if feats is not None else [np.zeros((3, D), np.float32)] * 3
    labels = labels if labels is not None else np.array([0, 1, 0])
    return FeatureSet(list(keys), feats, labels, [k.split("/")[0] for k in keys])


def test_feature_set_errors_name_the_key():
    good = np.zeros((3, D), np.float32)
    with pytest.raises(ValueError, match="'b/1' lacks an entry"):
        small_set(labels=np.array([0, 1]))
    with pytest.raises(ValueError, match="'a/2': 5 dimensions"):
        small_set(feats=[good, np.zeros((3, 5)), good])
    nan = good.copy()
    nan[1, 2] = np.nan
    with pytest.raises(ValueError, match="'b/1': features hold NaN"):
        small_set(feats=[good, good, nan])
    with pytest.raises(ValueError, match="'a/2': features hold NaN or infinite"):
        small_set(feats=[good, np.full((3, D), 1e40), good])  # inf once cast to float32
    with pytest.raises(ValueError, match="'a/2': features must be"):
        small_set(feats=[good, np.zeros((0, D)), good])
    with pytest.raises(ValueError, match="'a/2': negative label"):
        small_set(labels=np.array([0, -1, 0]))
    with pytest.raises(ValueError, match="'a/1' appears twice"):
        small_set(keys=("a/1", "a/1", "b/1"))


def test_training_and_prediction_errors_name_the_problem():
    train = small_set()
    with pytest.raises(ValueError, match="validation utterance 'a/2': label 2"):
        train_classifier(train, small_set(labels=np.array([0, 2, 1])), 2, ClassifierConfig())
    with pytest.raises(ValueError, match="n_classes"):
        train_classifier(train, train, 1, ClassifierConfig())
    classifier = train_classifier(train, train, 2, ClassifierConfig(max_epochs=1))
    with pytest.raises(ValueError, match="5 dimensions"):
        classifier.predict(small_set(feats=[np.zeros((2, 5))] * 3))


@pytest.mark.parametrize("field, value", [
    ("kind", "lstm"), ("hidden", 0), ("max_epochs", 0), ("patience", 0), ("lr", 0.0),
    ("lr", float("nan")), ("weight_decay", -1e-4), ("batch_size", 0), ("seed", -1),
    ("max_epochs", 2.5)])
def test_bad_config_names_the_field(field, value):
    with pytest.raises(ValueError, match=f"^{field} "):
        ClassifierConfig(**{field: value})
