# The two commands of the README. Both set everything up first (idempotent, cached).
#   make demo   the main job on the embedded default: local model server + offline tasks
#   make test   the whole test suite (starts and stops its own real servers)
.PHONY: demo test setup lint

VENV := .venv/bin
PYTEST_ARGS ?=

setup:
	@bash scripts/bootstrap.sh

# The demo's time budget counts from here, its set-up included (DEMO_STARTED).
demo:
	@DEMO_STARTED=$$(date +%s) && BOOTSTRAP_EXTRAS=eval bash scripts/bootstrap.sh && DEMO_STARTED=$$DEMO_STARTED bash scripts/demo.sh

test: setup
	$(VENV)/python -m pytest $(PYTEST_ARGS)
