# Two commands for a fresh machine (see README):
#   make demo   installs everything, generates the sample night drive, enhances it
#   make test   installs everything, runs the whole test suite
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install demo test bench clean

$(STAMP): setup.cfg pyproject.toml tools/install_system_deps.sh
	bash tools/install_system_deps.sh
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	# torch pinned first: an unpinned torch would pull gigabytes of CUDA packages
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(PY) tools/make_sample.py samples/night_drive.mp4
	mkdir -p out
	$(PY) run_stream.py --config configs/default.yaml

test: install
	$(PY) -m pytest

bench: install
	$(PY) tools/bench.py

clean:
	rm -rf $(VENV) out samples bench_out *.egg-info
