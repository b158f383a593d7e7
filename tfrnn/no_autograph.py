"""Tracing tfrnn's own code without AutoGraph, as TensorFlow traces tf_keras's."""

from __future__ import annotations

from tensorflow.python.autograph.core import config


def exempt_from_autograph(package: str) -> None:
    """Leave the functions of ``package`` unconverted by AutoGraph.

    A ``tf.function`` converts every Python function it reaches with
    AutoGraph unless the function's module is on AutoGraph's list of
    packages to leave alone (tensorflow, keras and tf_keras are). For a
    tfrnn layer that would mean transpiling the whole engine, some seventy
    functions, seconds on the first call, for nothing: its loops are
    ``tf.while_loop`` already. A user's custom cell, defined in the user's
    own module, is still converted, exactly as tf_keras's layers leave it.
    """
    rule = config.DoNotConvert(package)
    if not any(getattr(r, "_prefix", None) == package for r in config.CONVERSION_RULES):
        config.CONVERSION_RULES = (rule, *config.CONVERSION_RULES)
