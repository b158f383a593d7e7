"""Run the compat tests and print the measured max errors per generation x layer.

Usage: python tests/compat/report_errors.py  (the same table ends every
``pytest tests/compat`` run)."""

import os
import sys

import pytest

if __name__ == "__main__":
    here = os.path.dirname(os.path.abspath(__file__))
    sys.exit(pytest.main(["-q", "-p", "no:cacheprovider", here, *sys.argv[1:]]))
