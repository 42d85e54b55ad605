"""What the synthetic speakers say: a topic-structured vocabulary and a sentence sampler.

Each identity has a home topic. ``topic_bias`` sets how strongly an identity prefers the words
of its own topic, reproducing the correlation between who speaks and what is said that the
disentanglement paper worries about (a cricketer says "cricket", a politician "president").
"""
from __future__ import annotations

import numpy as np

TOPICS: dict[str, tuple[str, ...]] = {
    "sport": ("cricket", "match", "goal", "team", "coach", "season", "player", "score",
              "stadium", "league", "trophy", "training", "ball", "final", "captain", "runner"),
    "politics": ("president", "vote", "senate", "party", "policy", "election", "minister",
                 "budget", "debate", "reform", "campaign", "congress", "law", "nation",
                 "treaty", "governor"),
    "music": ("guitar", "album", "concert", "song", "melody", "rhythm", "drummer", "piano",
              "chorus", "studio", "record", "singer", "band", "tour", "violin", "lyrics"),
    "cooking": ("kitchen", "recipe", "garlic", "butter", "oven", "dinner", "flavour", "sauce",
                "pepper", "bread", "chef", "salad", "onion", "lemon", "pasta", "dessert"),
    "science": ("theory", "laboratory", "atom", "experiment", "physics", "energy", "data",
                "model", "planet", "cell", "protein", "research", "formula", "signal",
                "galaxy", "molecule"),
    "film": ("movie", "actor", "director", "scene", "camera", "script", "premiere", "role",
             "studio", "audience", "trailer", "sequel", "drama", "comedy", "festival", "award"),
    "business": ("market", "company", "profit", "investor", "share", "contract", "startup",
                 "revenue", "client", "product", "merger", "office", "bank", "stock",
                 "growth", "customer"),
    "travel": ("airport", "hotel", "island", "journey", "passport", "beach", "mountain",
               "train", "ticket", "museum", "river", "village", "flight", "harbour", "desert",
               "bridge"),
    "health": ("doctor", "hospital", "patient", "medicine", "nurse", "therapy", "vaccine",
               "fitness", "diet", "sleep", "heart", "clinic", "recovery", "muscle", "virus",
               "surgery"),
    "technology": ("computer", "software", "phone", "robot", "network", "screen", "code",
                   "engineer", "battery", "internet", "device", "server", "chip", "laptop",
                   "program", "sensor"),
    "fashion": ("dress", "designer", "model", "jacket", "colour", "fabric", "style", "shoes",
                "collection", "runway", "silk", "jewellery", "boutique", "pattern", "cotton",
                "leather"),
    "nature": ("forest", "ocean", "tiger", "garden", "flower", "weather", "storm", "eagle",
               "valley", "winter", "rain", "animal", "tree", "whale", "spring", "meadow"),
}
TOPIC_NAMES: tuple[str, ...] = tuple(TOPICS)

# Function words and general words shared by everyone; they carry no topic.
COMMON: tuple[str, ...] = (
    "the", "a", "we", "they", "and", "but", "really", "very", "about", "with", "today",
    "always", "think", "know", "said", "people", "good", "great", "time", "year", "new",
    "thing", "first", "little", "because", "never", "maybe", "every", "back", "after",
)


def sample_sentence(rng: np.random.Generator, home_topic: int, topic_bias: float,
                    n_words: int) -> list[str]:
    """A sentence of ``n_words`` words for a speaker whose home topic is ``home_topic``.

    About half of the words are common words; each content word comes from the speaker's home
    topic with probability ``topic_bias`` and otherwise from a topic drawn uniformly, so with
    ``topic_bias=0`` the words are independent of the speaker.
    """
    if not 0.0 <= topic_bias <= 1.0:
        raise ValueError(f"topic_bias must be in [0, 1], got {topic_bias}")
    words = []
    for _ in range(n_words):
        if rng.random() < 0.45:
            words.append(COMMON[rng.integers(len(COMMON))])
            continue
        topic = home_topic if rng.random() < topic_bias else int(rng.integers(len(TOPICS)))
        vocab = TOPICS[TOPIC_NAMES[topic]]
        words.append(vocab[rng.integers(len(vocab))])
    return words
