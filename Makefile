# The two commands of the README: `make demo` and `make test`. Everything they
# need (apt packages, dockerd, images, the venv) is installed idempotently.
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

.PHONY: demo test venv host images lint unit sim cli package molecule benchmark benchmark-fleet

demo: images
	ansible-playbook testbed/node.yml
	ansible-playbook site.yml -i testbed/inventories/local

# The whole suite, each stage and each Molecule step timed against the 30-minute budget
# (testbed/suite.py writes artifacts/test-times.json and names the slowest steps).
test: venv
	@python3 testbed/suite.py images lint unit sim cli package $(addprefix molecule:,$(SCENARIOS))

venv:
	@testbed/ensure-venv.sh $(VENV)

host:
	@testbed/ensure-host.sh

images: venv host
	@$(BIN)/python testbed/images.py build $(IMAGES)
	@$(BIN)/python testbed/mirror.py > /dev/null

lint: venv
	ruff check .
	ansible-lint --profile production
	testbed/sanity.sh
	for m in $(basename $(notdir $(wildcard plugins/modules/*.py))); do ansible-doc trtllm.deploy.$$m > /dev/null; done

unit: venv
	pytest tests/unit

sim: images
	pytest tests/sim

cli: images
	pytest tests/cli

package: images
	pytest tests/package

molecule: images
	@for s in $(SCENARIOS); do \
	  start=$$(date +%s); molecule test -s $$s; \
	  echo "[molecule] scenario $$s passed in $$(( $$(date +%s) - start ))s"; \
	done

benchmark: images
	mkdir -p artifacts && python benchmarks/pipeline_converge.py --large-gb 2 --json artifacts/benchmark-pipeline.json

benchmark-fleet: images
	mkdir -p artifacts && python benchmarks/fleet_converge.py --json artifacts/benchmark-fleet.json
	python benchmarks/fleet_converge.py --node-cpus 0.4 --json artifacts/benchmark-fleet-capped.json
