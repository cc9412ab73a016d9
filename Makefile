# The two commands of the quick start are `make up` and `make test`; the rest are their parts.
.PHONY: up test setup lint typecheck contracts schemas pytest generate

BIN := .venv/bin

up: setup
	$(BIN)/33god up

test: setup lint typecheck contracts schemas pytest

setup:
	@scripts/bootstrap.sh

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck:
	$(BIN)/mypy

contracts:
	$(BIN)/lint-imports

schemas:
	$(BIN)/holyfields validate
	$(BIN)/holyfields check
	npx --no-install tsc -p tests/typescript/tsconfig.json --noEmit

pytest:
	$(BIN)/pytest

generate: setup
	$(BIN)/holyfields generate
