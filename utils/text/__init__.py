"""The text lesson's data and classifier (notebook 03); LIME for text is :mod:`utils.lime.text`.

* ``spam``: the SpamAssassin subset and its classifier (re-exported here)
"""
from utils.text.spam import (  # noqa: F401 - the package's main API
    CLASS_NAMES,
    SPAM_CSV,
    load_spam,
    mask_numbers,
    spam_split,
    train_spam_classifier,
)
