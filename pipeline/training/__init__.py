"""Training and evaluation of the model zoo: recipes, trainer, losses, data, metrics.

``trainer`` loads a YAML recipe and trains (``tools/train.py`` →
:func:`pipeline.training.trainer.main`, console script ``nocturne-train``); ``evaluate`` scores
enhancers on paired, synthetic, exposure-bracket and real photos (``tools/eval.py`` →
:func:`pipeline.training.evaluate.main`, ``nocturne-eval``); ``losses`` and ``metrics`` are what
both use; ``data`` reads images and video frames, synthesizes night pairs and finds real
exposure brackets.
"""
