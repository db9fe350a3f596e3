# Two entry points for a fresh machine: `make example` (install + run the main job on the bundled
# 1000 Genomes genotypes) and `make test` (install + run the tests). Both build the virtual
# environment when it is missing.
VENV ?= .venv
PYTHON ?= python3
# The CPU wheel of PyTorch; set TORCH="torch" (or a CUDA build) on a GPU machine.
TORCH ?= torch==2.13.0
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: example demo test bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "$(TORCH)"
	$(PY) -m pip install --quiet -e ".[test]"
	touch $(STAMP)

example: $(STAMP)
	mkdir -p example-out
	$(VENV)/bin/ddvi-genomics infer --example --out example-out/1kg --force

demo: $(STAMP)
	$(VENV)/bin/ddvi-genomics demo --out demo-out --force

test: $(STAMP)
	$(PY) -m pytest -q

bench: $(STAMP)
	$(PY) -m workflows.bench.ddvi_throughput --out workflows/results/bench
	$(PY) -m workflows.bench.family_throughput --out workflows/results/bench
	$(PY) -m workflows.bench.genotype_io --out workflows/results/genotype
	$(PY) -m workflows.bench.genotype_1kg --out workflows/results/genotype

clean:
	rm -rf $(VENV) demo-out example-out .pytest_cache
