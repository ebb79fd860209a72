#!/usr/bin/env bash
# Generate a demo scene and run "Detect landslides" on it headless, as an operations
# cell would: qgis_process with this checkout as the plugin.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/qgis_env.sh
DEMO=${DEMO:-demo}
[ -f "$DEMO/scene/image.tif" ] || .venv/bin/python tools/make_scene.py "$DEMO/scene" --size 2048
echo "demo: running landslidemapper:detect on $DEMO/scene/image.tif"
qgis_process.bin run landslidemapper:detect -- \
  INPUT="$DEMO/scene/image.tif" DEM="$DEMO/scene/dem.tif" MODEL_FILE="${MODEL_FILE:-}" \
  OUTPUT_PROBABILITY="$DEMO/probability.tif" OUTPUT_MASK="$DEMO/mask.tif" OUTPUT_POLYGONS="$DEMO/landslides.gpkg"
echo "demo: outputs in $DEMO/ (probability.tif, mask.tif, landslides.gpkg, and landslides_set_aside.gpkg: the polygons the model's object filter set aside)"
