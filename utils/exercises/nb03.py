"""Exercises of notebook 03 (LIME for text): the distance of a mask, a token's share per class, the perturbed
text, and the word weights.

The checks run on small word masks, a handful of short e-mail-like texts and synthetic spam probabilities;
no classifier is trained.
"""
from __future__ import annotations

import re

import numpy as np

from utils.exercises.core import Exercise, Mistake


def _random_masks(n_words: int, num_samples: int, seed: int) -> np.ndarray:
    """0/1 masks like LIME's (row 0 keeps every word), each row keeping at least one word."""
    rng = np.random.default_rng(seed)
    masks = np.ones((num_samples, n_words))
    for row in masks[1:]:
        row[rng.choice(n_words, rng.integers(1, n_words), replace=False)] = 0
    return masks


def _mask_examples() -> list[tuple]:
    """Masks over 16 words (one keeps 4 of them) and over the lecture comment's 6 words."""
    keep_four = np.zeros(16)
    keep_four[:4] = 1
    return [(np.vstack([np.ones(16), keep_four, _random_masks(16, 6, 0)[1:]]),),
            (_random_masks(6, 8, 1),)]


def text_distance(masks: np.ndarray) -> np.ndarray:
    """LIME's distance of each mask (a row of 0/1, 1 = word kept) to the all-ones mask of the full text."""
    ones = np.ones(masks.shape[1])
    cosine = masks @ ones / (np.linalg.norm(masks, axis=1) * np.linalg.norm(ones))
    return (1 - cosine) * 100


q1 = Exercise(
    1, "LIME's text distance",
    reference=text_distance,
    examples=_mask_examples,
    why="A mask that keeps k of n words has cosine sqrt(k/n) with the full text, so keeping 4 of 16 words "
        "gives distance 50; on lime's x100 scale the default kernel width of 25 makes such a sample weigh "
        "about 0.14.",
    hint_text="Cosine similarity of a mask m with the all-ones vector 1: (m . 1) / (|m| |1|). The distance is "
              "1 minus it, times 100 (lime's scale, which its kernel width of 25 is meant for). Every mask in "
              "the check keeps at least one word.",
    mistakes=(
        Mistake("You forgot the factor 100: lime scales the cosine distance to 0-100, the scale its kernel "
                "width of 25 is meant for.",
                lambda masks: 1 - masks.sum(axis=1) / (np.linalg.norm(masks, axis=1) * np.sqrt(masks.shape[1]))),
        Mistake("You returned the similarity, not the distance: the full text must be at distance 0, so take "
                "1 - cosine (times 100).",
                lambda masks: masks.sum(axis=1) / (np.linalg.norm(masks, axis=1) * np.sqrt(masks.shape[1])) * 100),
        Mistake("You returned the share of words removed (times 100): LIME's distance is the *cosine* distance, "
                "(1 - (m . 1) / (|m| |1|)) * 100, which grows more slowly at first.",
                lambda masks: (1 - masks.mean(axis=1)) * 100),
    ),
)

_TEXTS = ["Re: patch | Bob wrote: the patch works",
          "Re: scripts | I rewrote the script in 2002",
          "news | Date: 2002-08-19 he wrote it down",
          "Re: lunch | see you at noon",
          "status | the build wrote logs, wrote:",
          "Make money fast | visit our site today",
          "Free CDs | software2002 deals, we wrote the offer",
          "Cheap | 2002 prices on everything",
          "Winner | you have won a prize"]
_LABELS = [0, 0, 0, 0, 0, 1, 1, 1, 1]  # 0 = ham, 1 = spam


def _share_examples() -> list[tuple]:
    """(texts, labels, token): the nine texts above with two tokens, and a reordered subset."""
    order = [8, 1, 4, 6, 2, 5]
    return [(_TEXTS, _LABELS, "wrote"), (_TEXTS, _LABELS, "2002"),
            ([_TEXTS[i] for i in order], [_LABELS[i] for i in order], "wrote")]


def token_share(texts: list[str], labels: list[int], token: str) -> tuple[float, float]:
    """The share of ham messages (label 0) and of spam messages (label 1) that contain ``token`` as a whole word."""
    has = np.array([re.search(rf"\b{re.escape(token)}\b", text) is not None for text in texts])
    labels = np.asarray(labels)
    return float(has[labels == 0].mean()), float(has[labels == 1].mean())


def _substring_share(texts: list[str], labels: list[int], token: str) -> tuple[float, float]:
    has = np.array([token in text for text in texts])
    labels = np.asarray(labels)
    return float(has[labels == 0].mean()), float(has[labels == 1].mean())


def _split_share(texts: list[str], labels: list[int], token: str) -> tuple[float, float]:
    has = np.array([token in text.split() for text in texts])
    labels = np.asarray(labels)
    return float(has[labels == 0].mean()), float(has[labels == 1].mean())


def _token_counts(texts: list[str], labels: list[int], token: str) -> tuple[float, float]:
    has = np.array([re.search(rf"\b{re.escape(token)}\b", text) is not None for text in texts])
    labels = np.asarray(labels)
    return float(has[labels == 0].sum()), float(has[labels == 1].sum())


q2 = Exercise(
    2, "a token's share per class",
    reference=token_share,
    examples=_share_examples,
    why="A token that is common in one class and absent from the other, for a reason that has nothing to do "
        "with the task (a reply header, a year), is a shortcut the classifier will learn: on the course's "
        "subset 'wrote' is in 28% of the ham and in no spam.",
    hint_text="For each text, test re.search(rf\"\\b{re.escape(token)}\\b\", text): \\b marks a word boundary, "
              "so 'wrote:' counts and 'rewrote' does not. Then average that yes/no over the ham (label 0) and "
              "over the spam (label 1); return (ham share, spam share).",
    mistakes=(
        Mistake("You matched substrings (token in text): 'rewrote' and 'software2002' count then. Match the "
                "whole word with a regular expression and \\b on both sides.", _substring_share),
        Mistake("You split on whitespace: 'wrote:' (with its colon) is then not the word 'wrote'. Use "
                "re.search with \\b word boundaries instead.", _split_share),
        Mistake("You swapped the classes: label 0 is ham, label 1 is spam; return (ham share, spam share).",
                lambda texts, labels, token: token_share(texts, labels, token)[::-1]),
        Mistake("You returned counts: divide by the number of messages in each class to get shares.",
                _token_counts),
    ),
)


def _perturbation_examples() -> list[tuple]:
    """(text, mask over the text's distinct words in order of first appearance)."""
    return [("For Christmas Song visit my channel! ;)", np.array([1, 0, 1, 1, 0, 1])),
            ("Re: the patch | the patch works, the tests pass.", np.array([1, 0, 1, 1, 0, 1])),
            ("Please visit http://ukprankcalls.com today! Please, visit.", np.array([0, 1, 1, 0, 1, 1]))]


def perturbed_text(text: str, mask: np.ndarray) -> str:
    """The text without the words whose mask entry is 0 (every occurrence); separators stay, as in lime."""
    pieces = [piece for piece in re.split(r"(\W+)", text) if piece]
    words = list(dict.fromkeys(piece for piece in pieces if re.fullmatch(r"\w+", piece)))
    removed = {word for word, keep in zip(words, mask) if not keep}
    return "".join(piece for piece in pieces if piece not in removed)


def _joined_with_spaces(text: str, mask: np.ndarray) -> str:
    words = list(dict.fromkeys(re.findall(r"\w+", text)))
    removed = {word for word, keep in zip(words, mask) if not keep}
    return " ".join(word for word in re.findall(r"\w+", text) if word not in removed)


def _first_occurrence_only(text: str, mask: np.ndarray) -> str:
    pieces = [piece for piece in re.split(r"(\W+)", text) if piece]
    words = list(dict.fromkeys(piece for piece in pieces if re.fullmatch(r"\w+", piece)))
    removed = {word for word, keep in zip(words, mask) if not keep}
    kept, seen = [], set()
    for piece in pieces:
        if piece in removed and piece not in seen:
            seen.add(piece)
            continue
        kept.append(piece)
    return "".join(kept)


q3 = Exercise(
    3, "the perturbed text",
    reference=perturbed_text,
    examples=_perturbation_examples,
    why="This is the text the classifier scores for one sample: removing every occurrence of a word makes the "
        "word one feature, and keeping the separators changes nothing else about the text.",
    hint_text="re.split(r\"(\\W+)\", text) cuts the text into words and separators (the brackets keep the "
              "separators). The distinct words in order of first appearance are the mask's columns; drop every "
              "piece that is a word with mask 0, and join the rest with \"\".",
    mistakes=(
        Mistake("You inverted the mask: 1 means the word is kept, 0 that it is removed.",
                lambda text, mask: perturbed_text(text, 1 - np.asarray(mask))),
        Mistake("You rebuilt the text from its words joined by spaces: the punctuation and spacing are lost. "
                "Keep the separators that re.split(r\"(\\W+)\", text) returns, and join with \"\".",
                _joined_with_spaces),
        Mistake("You removed only the first occurrence of each word: a mask entry stands for the word, so "
                "remove every occurrence.", _first_occurrence_only),
    ),
)


def _weight_examples() -> list[tuple]:
    """(masks, P(spam) of each perturbed text): spam and ham words with known effects plus a little noise."""
    cases = []
    for seed, words in ((2, 6), (3, 10)):
        rng = np.random.default_rng(seed)
        masks = _random_masks(words, 300, seed)
        beta = rng.normal(0.0, 1.5, words)
        probs = 1 / (1 + np.exp(-(masks @ beta - beta.sum() / 2 + rng.normal(0.0, 0.3, len(masks)))))
        cases.append((masks, probs))
    return cases


def word_weights(masks: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """LIME's weight of each word: a Ridge(alpha=1) fit of probs on the masks, weighted by lime's text kernel."""
    from sklearn.linear_model import Ridge

    ones = np.ones(masks.shape[1])
    distance = (1 - masks @ ones / (np.linalg.norm(masks, axis=1) * np.linalg.norm(ones))) * 100
    kernel = np.sqrt(np.exp(-distance ** 2 / 25 ** 2))
    return Ridge(alpha=1.0).fit(masks, probs, sample_weight=kernel).coef_


def _ridge(masks: np.ndarray, probs: np.ndarray, sample_weight: np.ndarray | None) -> np.ndarray:
    from sklearn.linear_model import Ridge

    return Ridge(alpha=1.0).fit(masks, probs, sample_weight=sample_weight).coef_


q4 = Exercise(
    4, "the word weights",
    reference=word_weights,
    examples=_weight_examples,
    why="That is all of LIME for text: distances of the masks, kernel weights, one weighted linear fit; each "
        "coefficient is the change in P(spam) when the word is kept rather than removed.",
    hint_text="Three steps: your text_distance of exercise 1, then lime's kernel sqrt(exp(-d^2 / 25^2)), then "
              "sklearn's Ridge(alpha=1.0).fit(masks, probs, sample_weight=kernel); return its coef_.",
    mistakes=(
        Mistake("Your fit ignores the kernel: pass the kernel weights as sample_weight, so that texts with few "
                "words left count less.", lambda masks, probs: _ridge(masks, probs, None)),
        Mistake("You put the similarity into the kernel instead of the distance: the full text (distance 0) "
                "must weigh 1, so use d = (1 - cosine) * 100.",
                lambda masks, probs: _ridge(masks, probs, np.sqrt(np.exp(-(100 - text_distance(masks)) ** 2
                                                                         / 25 ** 2)))),
        Mistake("Your kernel has no square root: lime's kernel is sqrt(exp(-d^2 / width^2)).",
                lambda masks, probs: _ridge(masks, probs, np.exp(-text_distance(masks) ** 2 / 25 ** 2))),
    ),
)

EXERCISES = (q1, q2, q3, q4)
