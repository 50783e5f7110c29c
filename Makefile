PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench demo clean

$(STAMP): requirements.txt
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements.txt
	touch $(STAMP)

# Loopback only: without sign-in anyone who reaches the port sees every dataset (docs/deployment.md).
run: $(STAMP)
	$(BIN)/streamlit run app.py --server.address 127.0.0.1 --server.headless false  # opens the browser on the demo

test: $(STAMP)
	$(BIN)/python -m pytest -q  # includes tests/test_quality.py: ruff and the mypy baseline

lint: $(STAMP)
	$(BIN)/python -m ruff check .
	$(BIN)/python -m mypy

demo: $(STAMP)
	$(BIN)/python -m crm_core demo --customers 5000 --seed 7 --out data/demo

bench: $(STAMP)
	$(BIN)/pip install -q -r requirements-bench.txt
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) .pytest_cache
