"""The course's shared code: data, models, explainers, metrics and plots.

Notebooks import from here instead of copying code between each other. Each module's docstring
says which notebook introduces it.
"""
import os

# TensorFlow prints C++ start-up chatter to stderr on import; students should not have to read it.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

__version__ = "0.1.0"
