"""topic_bias controls how much a speaker's words depend on who they are."""
import numpy as np
import pytest

from xmodal.synth.lexicon import COMMON, TOPIC_NAMES, TOPICS, sample_sentence


def home_topic_share(bias: float, topic: int = 3) -> float:
    rng = np.random.default_rng(0)
    words = [w for _ in range(300) for w in sample_sentence(rng, topic, bias, 10)]
    content = [w for w in words if w not in COMMON]
    return np.mean([w in TOPICS[TOPIC_NAMES[topic]] for w in content])


def test_bias_zero_is_independent_of_identity_and_one_is_home_topic():
    uniform = 1 / len(TOPICS)
    assert abs(home_topic_share(0.0) - uniform) < 0.03
    assert home_topic_share(1.0) > 0.97
    assert uniform + 0.3 < home_topic_share(0.5) < 0.75


def test_bias_out_of_range():
    with pytest.raises(ValueError, match="topic_bias"):
        sample_sentence(np.random.default_rng(0), 0, 1.5, 5)
