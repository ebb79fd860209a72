"""``python -m training`` from the plugin folder: the training CLI (see training/cli.py)."""

import sys

from plugin_root import make_importable

make_importable()
from landslide_mapper.training.cli import main  # noqa: E402 (importable only now)

if __name__ == "__main__":
    sys.exit(main())
