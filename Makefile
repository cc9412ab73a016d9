# The two commands of the quick start are `make up` and `make test`; the rest are their parts.
.PHONY: up test setup lint typecheck contracts schemas ui pytest generate ui-build ui-api

BIN := .venv/bin

up: setup
	$(BIN)/33god up

test: setup lint typecheck contracts schemas ui pytest

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

# The UI: type checks and unit tests, then fail when the committed bundle or API clients drift from their sources.
ui:
	npm run --silent test:ui
	npm run --silent check:ui

pytest:
	$(BIN)/pytest

generate: setup
	$(BIN)/holyfields generate

# Rebuild the committed UI bundle (candybar/static) after changing candybar/web.
ui-build: setup
	npm run --silent build:ui

# Refresh the OpenAPI snapshots from the components, then the UI's typed clients.
ui-api: setup
	$(BIN)/python -m tests.candybar.openapi_snapshots
	npm run --silent api:ui
