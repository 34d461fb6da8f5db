# Two commands do everything on a fresh machine: `make run` and `make test`. Both create .venv
# and install the pinned dependencies (requirements.lock) the first time.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
PROFILE ?= demo

.PHONY: install run test notebooks lock clean

$(INSTALLED): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.lock
	$(BIN)/python -m pip install -q --no-deps --no-build-isolation -e .
	touch $@

install: $(INSTALLED)

run: install  ## the demo profile end to end on built-in synthetic galaxies; figures to figures/
	$(BIN)/python -m galaxyutils run --profile $(PROFILE) --run-dir runs/$(PROFILE) --publish figures

test: install  ## unit tests, end-to-end smoke run, nbval over the committed notebooks
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
		apt-get update -qq && apt-get install -y -qq chromium >/dev/null; } || \
		echo "Debian's chromium is not installed: the explorer's browser test will be skipped"
	rm -rf runs/notebook-smoke
	$(BIN)/python -m pytest --nbval-lax tests notebooks

notebooks: install  ## re-execute the committed notebooks in place with the smoke profile
	rm -rf runs/notebook-smoke
	cd notebooks && for nb in 0*.ipynb; do ../$(BIN)/papermill --no-progress-bar $$nb $$nb || exit 1; done

lock: install  ## re-pin requirements.lock from requirements.in
	$(BIN)/python -m pip install -q -r requirements.in
	{ head -2 requirements.lock; $(BIN)/python -m pip freeze --exclude-editable; } > requirements.lock.new
	mv requirements.lock.new requirements.lock

clean:
	rm -rf $(VENV) runs
