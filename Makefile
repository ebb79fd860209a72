# Landslide Mapper — the two commands of the README, and their helpers.
#   make demo   set up, generate a demo scene, run Detect on it headless (qgis_process)
#   make test   set up, run the test suite inside real QGIS (offscreen)
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
PLUGINS := build/plugins
DEMO := demo
export QT_QPA_PLATFORM := offscreen
export XDG_RUNTIME_DIR := /tmp/runtime-$(shell id -u)

.PHONY: setup test test-fast demo bench package plugin-link clean

setup:
	@bash scripts/setup.sh

# QGIS loads plugins by folder name: expose this checkout as "landslide_mapper".
plugin-link:
	@mkdir -p $(PLUGINS) && ln -sfn "$(CURDIR)" $(PLUGINS)/landslide_mapper

test: setup plugin-link
	$(VENV)/bin/ruff check .
	$(PY) -m pytest

test-fast: setup plugin-link
	$(PY) -m pytest -m "not slow"

demo: setup plugin-link
	@bash scripts/demo.sh

bench: setup plugin-link
	$(PY) bench/speed.py

# the plugin ZIP for QGIS's "Install from ZIP" (MODELS=all to ship every bundled model)
package: setup
	$(PY) tools/package.py --models $(or $(MODELS),recommended)

clean:
	rm -rf build dist $(DEMO) .pytest_cache
