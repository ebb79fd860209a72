#!/usr/bin/env bash
# Idempotent set-up for a fresh Debian 12 machine (run as root, or with sudo available):
# Debian's QGIS 3.22 LTR + Xvfb (+ Chromium, which the tests open the evaluation report in), then a venv that sees the system QGIS/GDAL/SciPy and
# holds the pinned pip packages. Re-running it does only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

DEBIAN_PACKAGES=(qgis python3-qgis qgis-providers xvfb python3-venv python3-scipy python3-gdal python3-matplotlib chromium)
missing=()
for pkg in "${DEBIAN_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${missing[@]}"
fi

VENV=.venv
STAMP="$VENV/.requirements.sha256"
want=$(sha256sum requirements.txt | cut -d' ' -f1)
if [ ! -x "$VENV/bin/python" ]; then
  echo "setup: creating $VENV (system site packages, for QGIS and GDAL)"
  /usr/bin/python3 -m venv --system-site-packages "$VENV"
fi
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$want" ]; then
  echo "setup: installing pinned Python packages"
  "$VENV/bin/python" -m pip install -q --upgrade pip
  "$VENV/bin/python" -m pip install -q -r requirements.txt
  echo "$want" > "$STAMP"
fi
"$VENV/bin/python" -c "import qgis.core, onnxruntime, osgeo.gdal; print('setup: ok — QGIS', qgis.core.Qgis.QGIS_VERSION, '| ONNX Runtime', onnxruntime.__version__)"
