"""Front ends of the ``tfrnn-migrate`` and ``tfrnn-export`` commands.

Nothing here imports TensorFlow (nor ``tfrnn``, whose import loads it), so
``--help``, ``--version`` and argument errors answer at once. A command's
work runs in a module of ``tfrnn`` that is imported only after the arguments
are checked and TensorFlow's own log is silenced (``tfrnn_cli.quiet``).
"""
