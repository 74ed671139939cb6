# FastFlyer developer commands. `make` (or `make help`) lists them.
#
# Variables (override on the command line: make run PORT=9000):
#   IMAGE, TAG       the image built and run                (jagerzhang/fastflyer:local)
#   PYTHON_VERSION   Python of the image                    (3.14)
#   BASE_IMAGE       another base, e.g. a mirror's python:3.12-slim-bookworm (Dockerfile default)
#   PORT             host port of `make run` / `make dev`   (8080)
#   PROJECT          project mounted by `make dev`          (examples/demo)
#   DOCKER           a Docker client with BuildKit: one with buildx, or Debian's /usr/bin/docker
#                    (Docker 20.10, BuildKit built in); found automatically
# Without buildx, `make image` falls back from `docker buildx bake` to `docker build`. On a
# daemon without a bridge network (see .ci/docker.sh) builds and containers use the host network.

PYTHON ?= python3
IMAGE ?= jagerzhang/fastflyer
TAG ?= local
PYTHON_VERSION ?= 3.14
BASE_IMAGE ?=
PORT ?= 8080
PROJECT ?= examples/demo
UV ?= uv
DOCKER ?= $(shell if docker buildx version >/dev/null 2>&1; then echo docker; \
	elif [ -x /usr/bin/docker ]; then echo /usr/bin/docker; else echo docker; fi)

VERSION := $(shell sed -n 's/^version *= *"\(.*\)"/\1/p' pyproject.toml | head -n 1)
REVISION := $(shell git rev-parse --verify -q HEAD 2>/dev/null || echo unknown)
CREATED := $(shell date -u +%Y-%m-%dT%H:%M:%SZ)

# Shell snippets, evaluated in the recipes (not when make reads this file).
HOST_NET = $(DOCKER) network inspect bridge >/dev/null 2>&1
PUBLISH = $$(if $(HOST_NET); then echo "-p $(PORT):8080"; \
	else echo "--network host -e flyer_port=$(PORT)"; fi)
TTY = $$([ -t 0 ] && echo -it)

.DEFAULT_GOAL := help
.PHONY: help install test test-lowest lock lock-upgrade lock-check image run dev bench bench-image \
	lint clean

help: ## list the targets
	@awk 'BEGIN { FS = ":.*## " } /^[a-z-]+:.*## / { printf "  make %-12s %s\n", $$1, $$2 }' \
		$(MAKEFILE_LIST)

install: ## install the runtime (editable) with the test tools
	$(PYTHON) -m pip install -e '.[test]'

test: ## run the test suite (container tests need Docker: see docs/image.md)
	$(PYTHON) -m pytest

test-lowest: ## the server and contract tests with the lowest dependency versions allowed
	UV=$(UV) bash .ci/lowest.sh

# The lock. pyproject.toml holds the ranges (each upper bound the next release not yet tested,
# each lower bound the version .ci/lowest.sh tests); uv.lock pins every dependency, extras
# included, with hashes, for Python 3.10+ on every platform (uv's universal resolution);
# requirements/runtime.txt is its runtime part (no extras, no fastflyer itself), exported for
# the image, which installs it with `pip install --require-hashes --no-deps` and then fastflyer
# with --no-deps: no resolution at build time. After changing dependencies in pyproject.toml,
# `make lock` and commit uv.lock and requirements/runtime.txt together; `make lock-upgrade`
# moves every pin to the newest release the ranges allow. CI (`make lock-check`, and
# tests/test_lock.py) fails when pyproject.toml, uv.lock and the export disagree.
LOCK_EXPORT = $(UV) export --frozen --no-dev --no-emit-project --format requirements-txt
WRITE_EXPORT = $(LOCK_EXPORT) > requirements/runtime.txt.tmp \
	&& mv requirements/runtime.txt.tmp requirements/runtime.txt

lock: ## refresh uv.lock and requirements/runtime.txt after editing pyproject.toml
	$(UV) lock
	$(WRITE_EXPORT)

lock-upgrade: ## the same, with every pin moved to the newest version the ranges allow
	$(UV) lock --upgrade
	$(WRITE_EXPORT)

lock-check: ## fail when pyproject.toml, uv.lock and requirements/runtime.txt disagree
	$(UV) lock --check
	$(LOCK_EXPORT) | diff -u requirements/runtime.txt - \
		|| { echo "requirements/runtime.txt does not match uv.lock: make lock" >&2; exit 1; }

image: ## build the image IMAGE:TAG (jagerzhang/fastflyer:local) for this machine
	@if $(DOCKER) buildx version >/dev/null 2>&1; then \
		set -x; VERSION=$(VERSION) REVISION=$(REVISION) CREATED=$(CREATED) \
		DEFAULT_PYTHON=$(PYTHON_VERSION) IMAGE=$(IMAGE) \
		$(DOCKER) buildx bake local --set local.tags=$(IMAGE):$(TAG) \
			$(if $(BASE_IMAGE),--set local.args.BASE_IMAGE=$(BASE_IMAGE)); \
	else \
		net=$$(if $(HOST_NET); then :; else echo --network=host; fi); \
		set -x; DOCKER_BUILDKIT=1 $(DOCKER) build $$net -f image/Dockerfile \
			--build-arg PYTHON_VERSION=$(PYTHON_VERSION) \
			$(if $(BASE_IMAGE),--build-arg BASE_IMAGE=$(BASE_IMAGE)) \
			--build-arg VERSION=$(VERSION) --build-arg REVISION=$(REVISION) \
			--build-arg CREATED=$(CREATED) -t $(IMAGE):$(TAG) . ; \
	fi

run: image ## serve the demo from the image on :PORT (8080; docs at /flyer/docs)
	$(DOCKER) run --rm $(TTY) --name fastflyer-run $(PUBLISH) $(IMAGE):$(TAG)

dev: image ## serve PROJECT (examples/demo) mounted at /app, with hot reload
	$(DOCKER) run --rm $(TTY) --name fastflyer-dev $(PUBLISH) -e flyer_reload=1 \
		-v "$(abspath $(PROJECT))":/app $(IMAGE):$(TAG)

bench: ## benchmark the runtime against reference servers (wrk)
	$(PYTHON) benchmarks/run.py

bench-image: ## benchmark the image
	$(PYTHON) benchmarks/run.py --image

lint: ## ruff, hadolint on the Dockerfiles, shellcheck on the scripts (when installed)
	ruff check --extend-exclude .ci-cache .
	hadolint image/Dockerfile examples/project/Dockerfile
	@if command -v shellcheck >/dev/null; then \
		set -x; shellcheck entrypoint/docker-entrypoint.sh image/check-lock.sh .ci/docker.sh \
			.ci/run .ci/lowest.sh; \
	else echo "shellcheck not installed: scripts not checked"; fi

clean: ## remove caches and build leftovers
	find . -path ./.git -prune -o -path ./.ci-cache -prune -o \
		\( -name __pycache__ -o -name .pytest_cache -o -name .ruff_cache \) -type d -print \
		| xargs rm -rf
	rm -rf build dist
