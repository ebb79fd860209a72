"""Build the plugin ZIP that QGIS's plugin manager installs ("Install from ZIP").

Only what the plugin runs on goes in: entry points, algorithms/, core/, styles/, icons/,
the README and licence, and bundled models (by default only the recommended one: each goes
with its saliency graph and its INT8 variant, about 18 MB). No tests, training code, benchmarks
or data.

    .venv/bin/python tools/package.py                   # dist/landslide_mapper-<version>.zip
    .venv/bin/python tools/package.py --models all      # every bundled model (ENSEMBLE needs them)
    .venv/bin/python tools/package.py --models unet spatial_attention_unet
"""

from __future__ import annotations

import argparse
import configparser
import runpy
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
runpy.run_path(str(ROOT / "plugin_root.py"))["make_importable"]()  # the one import root

from landslide_mapper.core.model.catalog import COMPANION_SUFFIXES, RECOMMENDED, bundled_models  # noqa: E402

PLUGIN_NAME = "landslide_mapper"  # the folder QGIS installs it as
FILES = ("metadata.txt", "__init__.py", "plugin.py", "plugin_root.py", "README.md", "LICENSE")
FOLDERS = ("algorithms", "core", "gui", "styles", "icons")
#: every file beside a model that Detect can ask for (its saliency graph, its INT8 variant: the
#: catalog's companions), its card and its curves
MODEL_COMPANIONS = ("{key}.onnx", *(f"{{key}}{suffix}.onnx" for suffix in COMPANION_SUFFIXES), "{key}.md",
                    "{key}_curves.png")


def version() -> str:
    parser = configparser.ConfigParser()
    parser.read(ROOT / "metadata.txt", encoding="utf-8")
    return parser["general"]["version"]


def plugin_files(models: list[str]) -> list[Path]:
    files = [ROOT / name for name in FILES]
    for folder in FOLDERS:
        files += sorted(p for p in (ROOT / folder).rglob("*")
                        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc")
    for key in models:
        files += [ROOT / "models" / pattern.format(key=key) for pattern in MODEL_COMPANIONS
                  if (ROOT / "models" / pattern.format(key=key)).exists()]
    return files


def build(out_dir: Path, models: list[str]) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{PLUGIN_NAME}-{version()}.zip"
    partial = target.with_suffix(".zip.partial")
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
        for path in plugin_files(models):
            archive.write(path, f"{PLUGIN_NAME}/{path.relative_to(ROOT).as_posix()}")
    partial.replace(target)
    return target


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="*", default=["recommended"],
                        help="'recommended' (default), 'all', 'none', or model keys")
    parser.add_argument("--out", default=str(ROOT / "dist"))
    args = parser.parse_args(argv)
    available = list(bundled_models())
    if args.models == ["all"]:
        models = available
    elif args.models in (["none"], []):
        models = []
    elif args.models == ["recommended"]:
        models = [RECOMMENDED] if RECOMMENDED in available else available[:1]
    else:
        unknown = sorted(set(args.models) - set(available))
        if unknown:
            sys.exit(f"unknown model(s) {', '.join(unknown)}; bundled: {', '.join(available)}")
        models = args.models
    target = build(Path(args.out), models)
    print(f"wrote {target} ({target.stat().st_size / 2**20:.1f} MiB; models: {', '.join(models) or 'none'})")


if __name__ == "__main__":
    main()
