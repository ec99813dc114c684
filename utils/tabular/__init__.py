"""The tabular lessons' data, models and plots (notebooks 01-02).

* ``penguins``: the Palmer penguins task and its models (re-exported here)
* ``plots``: weight and waterfall plots for tabular explanations
"""
from utils.tabular.penguins import (  # noqa: F401 - the package's main API
    BINARY,
    CATEGORICAL,
    FEATURES,
    LEVELS,
    NUMERICAL,
    PENGUINS_CSV,
    REFERENCE_LEVELS,
    TARGET_NAMES,
    categorical_names,
    decision_path_text,
    decode_codes,
    encode_codes,
    load_penguins,
    logistic_contributions,
    logistic_regression,
    make_preprocessor,
    penguin_task,
    proba_on_codes,
    split,
    train_decision_tree,
    train_logistic_regression,
    train_random_forest,
    transformed_feature_names,
    tree_counterfactuals,
)
