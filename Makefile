# Two commands on a fresh machine:
#   make lab    set up .venv and open the course in JupyterLab
#   make test   set up .venv, lint the code (ruff), run the unit tests and every notebook (nbval)
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8888
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)
NOTEBOOKS ?= notebooks
STAMP := $(VENV)/.installed

.PHONY: help install lab lint test unit notebooks execute benchmark slides site clean

help:
	@echo "make lab        set up .venv (first time) and open JupyterLab on the course"
	@echo "make test       set up .venv (first time), lint, run unit tests and all notebooks (nbval)"
	@echo "make unit       unit tests only;  make notebooks: nbval only;  make lint: ruff only"
	@echo "make execute    re-execute every notebook in place (to commit fresh outputs)"
	@echo "make benchmark  full benchmark run -> benchmarks/results/"
	@echo "                DATA=imagenette or DATA=coco-sample: on ./get_dataset.sh's images -> benchmarks/results/DATA/"
	@echo "make slides     every notebook as an offline reveal.js deck -> slides/index.html"
	@echo "make site       the course website from the committed notebooks -> _site/index.html"

$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip>=24"
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

install: $(STAMP)

lab: install
	$(VENV)/bin/jupyter lab --port=$(PORT) $(ROOT_FLAG) --ServerApp.root_dir=. notebooks/00_introduction.ipynb

lint: install
	$(VENV)/bin/ruff check utils benchmarks tests scripts

test: install lint
	$(PY) -m pytest -q tests $(NOTEBOOKS) --nbval-lax --nbval-current-env \
		--nbval-sanitize-with tests/nbval_sanitize.cfg --nbval-cell-timeout=900 -p no:cacheprovider

unit: install
	$(PY) -m pytest -q tests -p no:cacheprovider

notebooks: install
	$(PY) -m pytest -q $(NOTEBOOKS) --nbval-lax --nbval-current-env \
		--nbval-sanitize-with tests/nbval_sanitize.cfg --nbval-cell-timeout=900 -p no:cacheprovider

execute: install
	for nb in $(NOTEBOOKS)/*.ipynb; do \
		$(VENV)/bin/jupyter nbconvert --to notebook --execute --inplace --ExecutePreprocessor.timeout=900 "$$nb" || exit 1; \
	done
	$(PY) scripts/clean_notebook_outputs.py $(NOTEBOOKS)/*.ipynb
	$(PY) scripts/add_slide_metadata.py $(NOTEBOOKS)/*.ipynb
	$(PY) scripts/thumbnails.py

benchmark: install
	$(PY) -m benchmarks $(if $(DATA),--data $(DATA),)

slides: install
	$(PY) scripts/build_slides.py --out slides $(NOTEBOOKS)

site: install
	$(PY) scripts/build_site.py --out _site --work build/site $(NOTEBOOKS)

clean:
	rm -rf $(VENV) .pytest_cache slides _site build/site test-artifacts
