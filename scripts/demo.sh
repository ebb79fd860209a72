#!/usr/bin/env bash
# Generate a demo scene and run "Detect landslides" on it headless, as an operations
# cell would (qgis_process with this checkout as the plugin); then score the polygons
# against the scene's truth with "Evaluate landslide map" and draw a quick-look PNG.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/qgis_env.sh
DEMO=${DEMO:-demo}
[ -f "$DEMO/scene/image.tif" ] || .venv/bin/python tools/make_scene.py "$DEMO/scene" --size 2048
rm -f "$DEMO"/probability.tif "$DEMO"/mask.tif "$DEMO"/landslides*.gpkg "$DEMO"/evaluation.html
echo "demo: running landslidemapper:detect on $DEMO/scene/image.tif"
qgis_process.bin run landslidemapper:detect -- \
  INPUT="$DEMO/scene/image.tif" DEM="$DEMO/scene/dem.tif" MODEL_FILE="${MODEL_FILE:-}" \
  OUTPUT_PROBABILITY="$DEMO/probability.tif" OUTPUT_MASK="$DEMO/mask.tif" OUTPUT_POLYGONS="$DEMO/landslides.gpkg"
echo "demo: scoring the polygons against the scene's truth (landslidemapper:evaluate)"
qgis_process.bin --json run landslidemapper:evaluate -- \
  PREDICTION="$DEMO/landslides.gpkg" REFERENCE="$DEMO/scene/truth.tif" OUTPUT_REPORT="$DEMO/evaluation.html" \
  > "$DEMO/evaluation.json"
.venv/bin/python - "$DEMO/evaluation.json" <<'PY'
import json, sys
text = open(sys.argv[1]).read()
r = json.loads(text[text.index("{"):])["results"]
found = r["OBJECTS_DETECTED"] + r["OBJECTS_MISSED"]
print(f"demo: against the truth: F1 {r['F1']:.3f} (precision {r['PRECISION']:.3f}, recall {r['RECALL']:.3f}); "
      f"{r['OBJECTS_DETECTED']} of {found} landslides found, {r['FALSE_ALARMS']} false alarm(s)")
PY
.venv/bin/python tools/quicklook.py "$DEMO/scene/image.tif" "$DEMO/probability.tif" "$DEMO/landslides.gpkg" \
  "$DEMO/quicklook.png" --title "Landslide Mapper demo: probability (pink) and landslide polygons (yellow)"
echo "demo: outputs in $DEMO/: probability.tif, mask.tif, landslides.gpkg, landslides_set_aside.gpkg (what the"
echo "      model's object filter set aside), evaluation.html (the score report) and quicklook.png (the map)"
