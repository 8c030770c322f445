# The two commands of the README: `make demo` and `make test`. Everything they
# need (apt packages, dockerd, images, the venv) is installed idempotently.
# `make check` is the inner loop: lint, unit, sim and the CLI tests that need no node.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
export PATH := $(BIN):$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export ANSIBLE_COLLECTIONS_PATH := $(CURDIR)/.collections
export ANSIBLE_FORCE_COLOR := 0
IMAGES := gpu-node probe tritonserver-sim registry
SCENARIOS := $(notdir $(patsubst %/molecule.yml,%,$(wildcard molecule/*/molecule.yml)))
# Tests spread over both cores, one file per worker in its order (a file's tests share their node).
XDIST := -n 2 --dist loadfile

.PHONY: demo test check venv host images nodes lint unit sim cli cli-nodeless package molecule benchmark \
	benchmark-fleet benchmark-transfer _host _images _nodes _lint _unit _sim _cli _cli-nodeless _package _molecule

demo: images
	ansible-playbook testbed/node.yml
	ansible-playbook site.yml -i testbed/inventories/local

# The whole suite, timed against its 30-minute budget (testbed/suite.py: artifacts/test-times.json,
# the three slowest steps). After the set-up, two lanes side by side, of about equal length (the times
# of the last run are in artifacts/test-times.json): the fleet with the CLI's tests, and the rest.
test: venv
	@python3 testbed/suite.py host images --lane "nodes molecule:fleet cli" \
	  --lane "lint unit sim package molecule:multinode molecule:nvidia_runtime molecule:pipeline"

# The inner loop, in at most 5 minutes: no simulated node is started.
check: venv
	@python3 testbed/suite.py host images --lane "lint sim" --lane "unit cli-nodeless"

venv:
	@testbed/ensure-venv.sh $(VENV)

host:
	@$(MAKE) --no-print-directory _host
_host:
	@testbed/ensure-host.sh

# Each stage alone, with its set-up (`make unit`), or without it (`make _unit`, as testbed/suite.py runs them).
images: venv host
	@$(MAKE) --no-print-directory _images
_images:
	@$(BIN)/python testbed/images.py build $(IMAGES)
	@$(BIN)/python testbed/mirror.py > /dev/null

# The prepared simulated node (testbed/nodes.py): made once by the roles, the start of every scenario
# that does not test a bare host.
nodes: images
	@$(MAKE) --no-print-directory _nodes
_nodes:
	@$(BIN)/python testbed/nodes.py prepared

lint: venv
	@$(MAKE) --no-print-directory _lint
_lint:
	ruff check .
	ansible-lint --profile production
	testbed/sanity.sh
	for m in $(basename $(notdir $(wildcard plugins/modules/*.py))); do ansible-doc trtllm.deploy.$$m > /dev/null; done

unit: venv
	@$(MAKE) --no-print-directory _unit
_unit:
	pytest $(XDIST) --durations=5 tests/unit

sim: images
	@$(MAKE) --no-print-directory _sim
_sim:
	pytest $(XDIST) --durations=5 tests/sim

cli: images
	@$(MAKE) --no-print-directory _cli
_cli:
	pytest $(XDIST) --durations=10 tests/cli

cli-nodeless: venv
	@$(MAKE) --no-print-directory _cli-nodeless
_cli-nodeless:
	pytest $(XDIST) -m "not node" tests/cli

package: images
	@$(MAKE) --no-print-directory _package
_package:
	pytest --durations=5 tests/package

molecule: images
	@$(MAKE) --no-print-directory _molecule
_molecule:
	@for s in $(SCENARIOS); do \
	  start=$$(date +%s); molecule test -s $$s; \
	  echo "[molecule] scenario $$s passed in $$(( $$(date +%s) - start ))s"; \
	done

benchmark: images
	mkdir -p artifacts && python benchmarks/pipeline_converge.py --large-gb 2 --json artifacts/benchmark-pipeline.json

# Engines to two hosts with become: through the controller (before 0.4.0) and host to host.
benchmark-transfer: images
	mkdir -p artifacts && python benchmarks/engine_transfer.py --json artifacts/benchmark-transfer.json

benchmark-fleet: images
	mkdir -p artifacts && python benchmarks/fleet_converge.py --json artifacts/benchmark-fleet.json
	python benchmarks/fleet_converge.py --node-cpus 0.4 --json artifacts/benchmark-fleet-capped.json
