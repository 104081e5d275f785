# The two README commands: `make demo` (main job on bundled defaults) and `make test`.
.PHONY: setup demo test lint check bench

setup:
	./scripts/setup

demo: setup
	.venv/bin/openenvs demo

test: setup
	.venv/bin/python -m pytest -q -p no:cacheprovider --timeout=900

lint:
	.venv/bin/ruff check src environments tests

check: setup lint test

bench: setup
	for b in benchmarks/*.py; do .venv/bin/python $$b || exit 1; done
