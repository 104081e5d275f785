# The two README commands: `make demo` (main job on bundled defaults) and `make test` (what CI runs).
.PHONY: setup demo test lint types check bench

setup:
	./scripts/setup

demo: setup
	.venv/bin/openenvs demo

# The full check: ruff, mypy (strict on src), the tests with the coverage gate on the core and the
# per-component minimums (tests/ci_minimums.json). `./scripts/check tests/x.py` runs a subset.
test: setup
	./scripts/check

check: test

lint:
	.venv/bin/ruff check src environments tests benchmarks

types:
	.venv/bin/mypy

bench: setup
	.venv/bin/openenvs bench
