# adit — the user's entry points. Every target sets up the virtual environment first (idempotent).
SHELL := /bin/bash
PYTHON_BIN ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
ADIT := $(VENV)/bin/adit
RUN ?= runs/demo
CONFIG ?= configs/train-demo.yaml
SITE ?= configs/site-demo.yaml
# The config's task and `out:` (what the user's YAML says; never overridden here) name the checkpoint.
TASK := $(or $(shell sed -n 's/^task: *\([a-z]*\).*/\1/p' $(CONFIG) 2>/dev/null),classify)
TASK_SUFFIX := $(if $(filter classify,$(TASK)),,-$(TASK))
TRAIN_OUT := $(or $(shell sed -n 's/^out: *\([^ #]*\).*/\1/p' $(CONFIG) 2>/dev/null),$(RUN)/train$(TASK_SUFFIX))
CHECKPOINT ?= $(TRAIN_OUT)/best.pt
BUNDLE ?= $(RUN)/bundle$(TASK_SUFFIX)
PYTEST_ARGS ?=

.PHONY: setup demo belt-demo data train export bench run lint test test-all clean signal-demo

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml requirements-labelling-dev.txt
	test -x $(PY) || $(PYTHON_BIN) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[workstation,dev]"
	$(PY) -m pip install --quiet --no-deps -r requirements-labelling-dev.txt
	touch $@

# The whole pipeline on generated data; everything lands under $(RUN) (git-ignored).
# The demo passes its own paths (its data and outputs under $(RUN)); the replay runs the bundle's
# recommended artifact (the site names none).
demo: setup
	$(ADIT) synth out=$(RUN)/data preset=demo
	$(ADIT) train config=configs/train-demo.yaml out=$(RUN)/train data=$(RUN)/data/classify
	$(ADIT) export checkpoint=$(RUN)/train/best.pt out=$(RUN)/bundle
	$(ADIT) bench bundle=$(RUN)/bundle checkpoint=$(RUN)/train/best.pt out=$(RUN)/bench \
		video=$(RUN)/data/video/belt.avi site=$(SITE)
	rm -f $(RUN)/events/events.jsonl
	$(ADIT) replay video=$(RUN)/data/video/belt.avi config=$(SITE) out=$(RUN)/events/events.jsonl \
		model.bundle=$(RUN)/bundle
	$(PY) -m benchmarks.demo_summary --run $(RUN) --site $(SITE)

# Belt load and speed: generated video with known load -> segment model -> bundle -> figures -> replay
# checked against the video's overload truth (configs/site-belt-demo.yaml; README "Belt load and speed").
belt-demo: setup
	$(PY) -m train.synth --out $(RUN)/data --preset demo
	$(PY) -m train fit --config configs/train-segment-demo.yaml out=$(RUN)/train-segment data.root=$(RUN)/data/segment
	$(PY) -m export build --checkpoint $(RUN)/train-segment/best.pt --out $(RUN)/bundle-segment
	$(PY) -m benchmarks.belt_load --bundle $(RUN)/bundle-segment --video-dir $(RUN)/data/video --out $(RUN)/bench-belt
	$(PY) -m edge_runtime replay $(RUN)/data/video/belt.avi --config configs/site-belt-demo.yaml \
		--expect $(RUN)/data/video/belt_truth.jsonl --tolerance 15 --out $(RUN)/events/belt-events.jsonl \
		model.bundle=$(RUN)/bundle-segment

data: setup
	$(ADIT) synth out=$(RUN)/data preset=demo

# Trains on what $(CONFIG) says (data.root, out); ARGS adds key=value overrides, e.g. ARGS="epochs=3".
train: setup
	$(ADIT) train config=$(CONFIG) $(ARGS)

export: setup
	$(ADIT) export checkpoint=$(CHECKPOINT) out=$(BUNDLE) $(ARGS)

bench: setup
	$(ADIT) bench bundle=$(BUNDLE) checkpoint=$(CHECKPOINT) out=$(RUN)/bench \
		video=$(RUN)/data/video/belt.avi site=$(SITE) $(ARGS)

run: setup
	@echo "dashboard: http://$$(sed -n '/^http:/,/^[a-z]/s/^  host: *\([^ #]*\).*/\1/p' $(SITE) | head -1):$$(sed -n '/^http:/,/^[a-z]/s/^  port: *\([0-9]*\).*/\1/p' $(SITE) | head -1)/ (the daemon logs the address it bound)"
	$(ADIT) run config=$(SITE) $(ARGS)

# Style and bug patterns (ruff), types of edge_runtime and the contracts (mypy), the layering (import-linter).
lint: setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy
	$(VENV)/bin/lint-imports

test: setup
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

test-all: setup
	$(PY) -m pytest $(PYTEST_ARGS)

# Vibration fault prediction: train on 0 HP, few-shot fine-tune on 1 HP, export (INT8, gated), then
# monitor a degrading stream through the rules and sinks. CWRU data when present, generated signals otherwise.
CWRU ?= ../shared/data/cwru_bearing_12k_de
SIGNAL_RUN ?= runs/signal/demo
signal-demo: setup
	@if [ -f $(CWRU)/manifest.csv ]; then \
		set -e; echo "signal-demo: CWRU data at $(CWRU)"; \
		$(PY) -m train fit --config configs/train-signal-cwru-1d.yaml data.root=$(CWRU) out=$(SIGNAL_RUN); \
		$(PY) -m train.signal.stream --out $(SIGNAL_RUN)/stream.npy --cwru $(CWRU); \
		SITE_SIGNAL=configs/signal-site-cwru.yaml; \
	else \
		set -e; echo "signal-demo: no CWRU data at $(CWRU); using generated signals"; \
		$(PY) -m train fit --config configs/train-signal-cwru-1d.yaml data.source=synth optim.epochs=10 out=$(SIGNAL_RUN); \
		$(PY) -m train.signal.stream --out $(SIGNAL_RUN)/stream.npy; \
		SITE_SIGNAL=configs/signal-site-demo.yaml; \
	fi; \
	$(PY) -m export build --checkpoint $(SIGNAL_RUN)/target_k20/best.pt --out $(SIGNAL_RUN)/bundle && \
	rm -f $(SIGNAL_RUN)/events.jsonl $(SIGNAL_RUN)/outbox.sqlite* && \
	SIGNAL_SITE_ARGS="machines.0.source=$(SIGNAL_RUN)/stream.npy machines.0.bundle=$(SIGNAL_RUN)/bundle" && \
	$(PY) -m edge_runtime run --config $$SITE_SIGNAL $$SIGNAL_SITE_ARGS sinks.jsonl.path=$(SIGNAL_RUN)/events.jsonl \
		outbox.path=$(SIGNAL_RUN)/outbox.sqlite && \
	$(PY) -m edge_runtime.signal_monitor --config $$SITE_SIGNAL $$SIGNAL_SITE_ARGS --health-log $(SIGNAL_RUN)/health.jsonl

clean:
	rm -rf runs
