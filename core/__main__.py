"""``python -m core`` from the plugin folder: Detect without QGIS (see core/cli.py)."""

import sys

from plugin_root import make_importable

make_importable()
from landslide_mapper.core.cli import run  # noqa: E402 (importable only now)

if __name__ == "__main__":
    sys.exit(run())
