# Two commands do everything on a fresh machine: `make run` and `make test`. Both create .venv
# and install the pinned dependencies (requirements.lock) the first time. `make test` also
# installs Debian's chromium and TeX with apt when it runs as root (the browser and PDF tests).
# `make paper` builds paper/main.pdf from finished runs: RUNS="runs/a runs/b runs/c" (repeats that
# differ only in the seed; default the demo run of `make run`) and VALIDATION=runs/demo (a run on
# synthetic galaxies); `make publish RUN=...` refreshes the committed figures/ from a run.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
PROFILE ?= demo
RUN ?= runs/demo
RUNS ?= $(RUN)
VALIDATION ?=
TEX_PACKAGES := texlive-latex-recommended texlive-publishers lmodern latexmk poppler-utils

.PHONY: install system-packages run publish test paper notebooks lock clean

$(INSTALLED): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.lock
	$(BIN)/python -m pip install -q --no-deps --no-build-isolation -e .
	touch $@

install: $(INSTALLED)

run: install  ## the demo profile end to end on built-in synthetic galaxies, into runs/demo/ (nothing tracked changes)
	$(BIN)/python -m galaxyutils run --profile $(PROFILE) --run-dir runs/$(PROFILE)

publish: install  ## copy RUN's figures into figures/, the committed figures of the named run (figures/README.md says which)
	$(BIN)/python -m galaxyutils publish $(RUN) --to figures

system-packages:  ## Debian's chromium (explorer test) and TeX (paper), where we are root with apt
	@if command -v chromium >/dev/null && command -v latexmk >/dev/null && command -v pdftotext >/dev/null && kpsewhich mnras.cls lmodern.sty >/dev/null; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium $(TEX_PACKAGES) >/dev/null; \
	else echo "not root with apt: install chromium and $(TEX_PACKAGES) yourself, or the browser and PDF tests are skipped"; fi

test: install system-packages  ## unit tests, end-to-end smoke run, nbval over the committed notebooks
	rm -rf runs/notebook-smoke
	$(BIN)/python -m pytest --nbval-lax tests notebooks

paper: install  ## regenerate paper/generated/ from the repeats RUNS (and a synthetic VALIDATION run), build paper/main.pdf
	$(BIN)/python -m galaxyutils paper $(RUNS) $(if $(VALIDATION),--validation $(VALIDATION))
	@command -v latexmk >/dev/null || { echo "TeX is not installed. On Debian/Ubuntu: sudo apt-get install $(TEX_PACKAGES)"; \
		echo "(elsewhere: a TeX Live with latexmk; MNRAS's class comes with texlive-publishers, without it the paper uses article)"; exit 1; }
	cd paper && latexmk -pdf -interaction=nonstopmode -halt-on-error -quiet main.tex
	@echo "built paper/main.pdf from $(RUNS)$(if $(VALIDATION), with $(VALIDATION) as validation)"

notebooks: install  ## re-execute the committed notebooks in place with the smoke profile
	$(BIN)/python -m galaxyutils notebooks

lock: install  ## re-pin requirements.lock from pyproject.toml's dependencies and extras
	$(BIN)/python -m pip install -q -e ".[notebooks,test,bench]"
	{ head -2 requirements.lock; $(BIN)/python -m pip freeze --exclude-editable; } > requirements.lock.new
	mv requirements.lock.new requirements.lock

clean:
	rm -rf $(VENV) runs
