"""Silencing tf_keras's SavedModel notice about tfrnn's class names."""

from __future__ import annotations

import logging

#: what tf_keras's SavedModel writer logs for a class named like a built-in layer
_NOTICE = "as a built-in TF-Keras object"


class _TfrnnNameNotice(logging.Filter):
    """Drops the notice when it is about a tfrnn object."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args if isinstance(record.args, tuple) else ()
        about_tfrnn = bool(args) and type(args[0]).__module__.startswith("tfrnn.")
        return not (about_tfrnn and _NOTICE in str(record.msg))


def quiet_name_clash_notices() -> None:
    """tf_keras's SavedModel writer warns, for each tfrnn layer and cell,
    that its class shares a built-in layer's name and should be renamed or
    passed in ``custom_objects``. tfrnn's classes are registered under
    ``tfrnn>LSTM`` and so on, so they load without either: the advice is
    wrong for them, and the notice is dropped (for tfrnn objects only)."""
    logger = logging.getLogger("absl")
    if not any(isinstance(f, _TfrnnNameNotice) for f in logger.filters):
        logger.addFilter(_TfrnnNameNotice())
