# The two commands the README opens with: `make demo` and `make test`.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test chaos bench serve lint install clean

$(STAMP): pyproject.toml emulators/pyproject.toml requirements.lock
	@echo "Installing bcc-capture and its dependencies into $(VENV) (a few minutes the first time)…"
	@test -x $(BIN)/python || $(PY) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[dev]' -e ./emulators
	@touch $(STAMP)
	@echo "Installed."

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m emulators.demo

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q

chaos: $(STAMP)
	BCC_CAPTURE_CHAOS=full $(BIN)/python -m pytest -q -m chaos -s

bench: $(STAMP)
	$(BIN)/python -m bench

# make serve KEEP=1: the last run's database and console port (make itself takes --keep as --keep-going)
serve: $(STAMP)
	$(BIN)/python -m emulators.demo --serve $(if $(KEEP),--keep)

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
