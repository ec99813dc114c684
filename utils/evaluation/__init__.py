"""Evaluating explanations: faithfulness, localisation, stability, agreement and sanity checks.

* ``metrics``: deletion/insertion, faithfulness correlation, PGI/PGU, pointing game, relevance mass,
  stability, the model-randomisation check                                  - notebooks 07-08
* ``augment``: small input changes with the matching map alignment        - notebook 08
"""
