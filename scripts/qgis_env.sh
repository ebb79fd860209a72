# Sourced by scripts that run qgis_process: the plugin, the venv's packages and a
# private QGIS profile, so nothing depends on (or changes) the user's own QGIS set-up.
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export QT_QPA_PLATFORM=offscreen
export QGIS_PLUGINPATH="$ROOT/build/plugins"
export PYTHONPATH="$($ROOT/.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')${PYTHONPATH:+:$PYTHONPATH}"
export HOME="$ROOT/build/qgis-home"
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp/runtime-$(id -u)}"
mkdir -p "$HOME" "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
# Debian's /usr/bin/qgis_process wrapper passes --noversioncheck, which 3.22 rejects: use the binary.
qgis_process.bin plugins enable landslide_mapper >/dev/null 2>&1 || true
