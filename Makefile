# Two commands do everything on a fresh machine: `make demo` and `make test`.
# torch is installed first so that the range in pyproject.toml is already satisfied;
# GPU users override it, e.g. `make TORCH="torch==2.9.1 --index-url https://download.pytorch.org/whl/cu128" test`.
PYTHON ?= python3
VENV   ?= .venv
TORCH  ?= torch==2.13.0
EXTRAS ?= dev,mtgc,ray
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed

.PHONY: venv demo test lint bench clean

venv: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q $(TORCH)
	$(BIN)/python -m pip install -q -e ".[$(EXTRAS)]"
	# piq without its dependencies: its declared torchvision would replace this torch (metrics/fullref.py)
	$(BIN)/python -m pip install -q --no-deps "piq==0.8.0"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/mtgc-link demo --out results/demo

test: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: $(STAMP)
	for f in experiments/bench/bench_*.py; do $(BIN)/python $$f || exit 1; done

clean:
	rm -rf $(VENV) results .pytest_cache
