# Two commands: `make demo` (set up, run the mini recipe) and `make test` (set up, run tests).
VENV := tools/venv
PY := $(VENV)/bin/python

.PHONY: setup demo reproduce reproduce-nagrani reproduce-stafylakis reproduce-shukla test bench clean-demo

setup:
	bash tools/install.sh

# The mini recipe end to end on a small synthetic corpus: every stage, tables printed.
demo: setup
	cd egs/mini_voxceleb/v1 && ./run.sh

# The evidence the README quotes: the mini recipe at full size for 3 seeds, checked claims
# (full/exp/RESULTS.md), and the coupling study (sweep/RESULTS.md).
reproduce: setup
	cd egs/mini_voxceleb/v1 && ./reproduce.sh

# One paper at a time (each within 90 minutes on a 2-core machine), on the same corpus; the
# downstream table, which puts the papers' encoders side by side, comes from make reproduce.
reproduce-nagrani: setup
	cd egs/mini_voxceleb/v1 && ./reproduce.sh --papers nagrani --downstream false

reproduce-stafylakis: setup
	cd egs/mini_voxceleb/v1 && ./reproduce.sh --papers stafylakis --downstream false

reproduce-shukla: setup
	cd egs/mini_voxceleb/v1 && ./reproduce.sh --papers shukla --downstream false

# The tests also need Slurm and MUNGE (the Slurm backend's test starts its own cluster).
test:
	bash tools/install.sh --with-slurm
	$(PY) -m pytest -q test

bench: setup
	$(PY) -m bench.run_all

clean-demo:
	cd egs/mini_voxceleb/v1 && rm -rf corpus data dump exp full sweep
