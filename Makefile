# Two commands: `make demo` (set up, run the mini recipe) and `make test` (set up, run tests).
VENV := tools/venv
PY := $(VENV)/bin/python

.PHONY: setup demo test bench clean-demo

setup:
	bash tools/install.sh

demo: setup
	cd egs/mini_voxceleb/v1 && ./run.sh

test: setup
	$(PY) -m pytest -q test

bench: setup
	$(PY) -m bench.run_all

clean-demo:
	cd egs/mini_voxceleb/v1 && rm -rf corpus data dump exp
