"""One import root: every entry point imports the plugin as the package QGIS loads,
``landslide_mapper``, so a process holds one copy of each class (an ``except Cancelled``
always matches the ``Cancelled`` that was raised).

QGIS finds the plugin by its folder's name. A checkout may be named anything: it is
exposed as ``build/plugins/landslide_mapper`` (a link, as ``make plugin-link`` makes).
Worker processes started from here (Dask's LocalCluster) inherit ``sys.path`` and so
import the same package; workers elsewhere need that folder on their ``PYTHONPATH``.
"""

from __future__ import annotations

import sys
from pathlib import Path

PACKAGE = "landslide_mapper"
PLUGIN_DIR = Path(__file__).resolve().parent


def make_importable() -> Path:
    """Put the folder holding ``landslide_mapper`` on ``sys.path``; returns that folder."""
    if PLUGIN_DIR.name == PACKAGE:  # an installed plugin (QGIS's plugins folder) or a checkout so named
        parent = PLUGIN_DIR.parent
    else:
        parent = PLUGIN_DIR / "build" / "plugins"
        link = parent / PACKAGE
        if not link.exists():
            parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(PLUGIN_DIR, target_is_directory=True)
    if str(parent) not in sys.path:
        sys.path.insert(0, str(parent))
    return parent
