# The two commands of the README. Both set everything up first (idempotent, cached).
#   make demo   the main job on the embedded default: local vLLM server + offline tasks
#   make test   the whole test suite (starts and stops its own real servers)
.PHONY: demo test setup lint

VENV := .venv/bin
PYTEST_ARGS ?=

setup:
	@bash scripts/bootstrap.sh

demo: setup
	@bash scripts/demo.sh

test: setup
	$(VENV)/python -m pytest $(PYTEST_ARGS)
