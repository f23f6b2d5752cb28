"""Studies from TOML files, parsed into the objects of the Python API and validated up front.

A study names the dataset, the layers (any argument may be `{ sweep = [...] }`), the compile and
fit settings and the plot settings; `studies/dropout.toml` is the article's experiment. A study
may instead compare models: one [[models]] table each (name, its own [[models.layers]] and
sweeps, optionally its batch_size), and train them on several datasets
(`name = { sweep = ["mnist", "fashion_mnist"] }`), all in one run (training.fit_models);
`studies/layer-types.toml` compares dense, convolutional and batch-normalised networks. Every
error names the file, the key path, what was expected and received, and the fix, e.g.
`studies/x.toml: layers[2].rate: expected a float in the range [0, 1); received 1.5. ...`.
Nothing in a study file is evaluated as code: activations, optimizers and losses are names.

    study.py     load, loads, Study: the whole file, and the checks that need the whole model
    sections.py  [dataset] [[layers]] [[models]] [compile] [fit] [plot], each parsed and checked on its own
    checks.py    one value's checks and the error templates they share

>>> from layerlab import study
>>> s = study.load("studies/dropout.toml")          # doctest: +SKIP
>>> s.model().summary()                              # doctest: +SKIP
"""
from layerlab.study.sections import LAYER_TYPES as LAYER_TYPES, SECTIONS as SECTIONS
from layerlab.study.study import Study as Study, load as load, loads as loads

__all__ = ["LAYER_TYPES", "SECTIONS", "Study", "load", "loads"]
