"""qgis_process with a private QGIS profile, as an operations cell runs the plugin headless."""

import os
import shutil
import subprocess
import sysconfig
from pathlib import Path

from locations import ROOT

QGIS_PROCESS = shutil.which("qgis_process.bin") or "/usr/bin/qgis_process.bin"


def start_profile(home: Path, plugin_path: Path = ROOT / "build" / "plugins", venv_packages: bool = True) -> dict:
    """The environment of a private QGIS profile in ``home`` with the plugin (found in
    ``plugin_path``) enabled and, unless told otherwise, this venv's packages visible."""
    home.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.pop("QGIS_CUSTOM_CONFIG_PATH", None)  # pytest-qgis's own profile: qgis_process gets a fresh one
    env.update(
        HOME=str(home),
        QT_QPA_PLATFORM="offscreen",
        QGIS_PLUGINPATH=str(plugin_path),
        PYTHONPATH=os.pathsep.join([sysconfig.get_paths()["purelib"], env.get("PYTHONPATH", "")]) if venv_packages else "",
        XDG_RUNTIME_DIR=str(home / "runtime"),
    )
    (home / "runtime").mkdir(mode=0o700, exist_ok=True)
    # exits 1 with "Plugin is already enabled!" when the profile has it on: not an error
    subprocess.run([QGIS_PROCESS, "plugins", "enable", "landslide_mapper"], env=env, capture_output=True,
                   timeout=300)
    listing = subprocess.run([QGIS_PROCESS, "list"], env=env, capture_output=True, text=True, timeout=300)
    assert "landslidemapper:detect" in listing.stdout, listing.stdout + listing.stderr
    return env


def qgis_process(env, *args, timeout=600):
    return subprocess.run([QGIS_PROCESS, *args], env=env, capture_output=True, text=True, timeout=timeout)
