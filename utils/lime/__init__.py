"""Every LIME of the course in one place: the shared core and the tabular (notebook 02), text
(notebook 03) and image (notebook 04) versions.

* ``core``: the kernel, the mask distance, the weighted surrogate, feature selection - notebook 02
* ``tabular``: LIME for tables, from scratch                                - notebook 02
* ``text``: LIME for text, from scratch                                     - notebook 03
* ``image``: LIME for images (a registered explainer, in ``utils.explain.METHODS``) - notebook 04
"""
