"""Migrate an old Keras HDF5 file to a modern model (same as ``tfrnn-migrate``)."""

import sys

from tfrnn_cli.migrate import main

if __name__ == "__main__":
    sys.exit(main())
