"""Write ``data/corpus.txt``: a small, redistributable corpus of campaign-style sentences.

The course corpus (pre-election speeches, 1.3 MB) may not be redistributed, so the project ships
this deterministic stand-in: a few hundred sentences from a small grammar, with the same flavour
(short declaratives, questions, exclamations, numbers, punctuation) so that a character model
learns something visible in a couple of minutes. Regenerate with ``python data/make_corpus.py``.
"""
from __future__ import annotations

import random
from pathlib import Path

SUBJECTS = ["We", "Our country", "This nation", "The people", "Our workers", "My friends", "Everybody",
            "Our farmers", "The families of this state", "Our children", "The middle class", "Our city"]
VERBS = ["will build", "are going to win", "deserve", "will protect", "need", "will bring back",
         "are fighting for", "believe in", "will never forget", "want"]
OBJECTS = ["good jobs", "better schools", "safe streets", "great roads and bridges", "a strong economy",
           "fair trade deals", "lower taxes", "the future", "real change", "new factories", "clean water",
           "honest government", "a healthy budget", "our veterans"]
TAILS = ["", " again", " very soon", " in this state", " for every family", " starting next year",
         " like never before", " together", " believe me", " and we will do it fast"]
OPENERS = ["Thank you", "Thank you very much", "Wow", "Hello everybody", "It is great to be here",
           "What a crowd", "I love this state", "Folks", "Let me tell you something", "Believe me"]
QUESTIONS = ["Who is going to pay for it", "When did we last win a deal", "Can you believe it",
             "Do you remember {n} years ago", "Why did they wait so long", "How many jobs did we lose",
             "Are you ready", "What happened to our factories", "Is that fair"]
CLAIMS = ["We lost {n} thousand jobs last year", "They spent {n} billion dollars on nothing",
          "{n} percent of the people agree with us", "The room holds {n} hundred people",
          "We visited {n} cities in {m} days", "Unemployment went up {n} percent"]


def sentence(rng: random.Random) -> str:
    kind = rng.random()
    n, m = rng.randint(2, 99), rng.randint(2, 30)
    if kind < 0.40:
        return f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)}{rng.choice(TAILS)}."
    if kind < 0.55:
        return f"{rng.choice(OPENERS)}!"
    if kind < 0.72:
        return rng.choice(QUESTIONS).format(n=n) + "?"
    if kind < 0.90:
        return rng.choice(CLAIMS).format(n=n, m=m) + "."
    return f"{rng.choice(OPENERS)}, {rng.choice(SUBJECTS).lower()} {rng.choice(VERBS)} {rng.choice(OBJECTS)}!"


def make_corpus(n_sentences: int = 800, seed: int = 5) -> str:
    """``n_sentences`` sentences, about eight per paragraph line, reproducible from ``seed``."""
    rng = random.Random(seed)
    sentences = [sentence(rng) for _ in range(n_sentences)]
    lines = [" ".join(sentences[i : i + 8]) for i in range(0, n_sentences, 8)]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    out = Path(__file__).with_name("corpus.txt")
    out.write_text(make_corpus())
    print(f"wrote {out} ({out.stat().st_size} bytes)")
