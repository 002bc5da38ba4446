# Build and test tooling for the mailsec.mta_sts collection.
#
#   make demo     set up everything, start the bundled lab, audit it, stop the lab
#   make test     set up everything, run sanity, ansible-lint, docs lint, unit and integration tests
#   make audit DOMAINS="example.org example.net"   audit real domains (no lab)
#
# Works as root without a TTY on a fresh Debian 12 machine with Python 3.11 (the CI machine), from a clone
# anywhere (a path with spaces, below a mode-700 home directory). As another user, everything but the lab's
# servers runs: `sysdeps` names the command that installs what is missing, and the tests that need root skip.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
# The targets of `make test` and `make demo` must run in the order given.
.NOTPARALLEL:

PYTHON ?= python3
VENV ?= .venv
PY = $(VENV)/bin/python
# ansible-test only works in a real directory named .../ansible_collections/<namespace>/<name>.
BUILD ?= .build
COLLECTION_DIR = $(BUILD)/ansible_collections/mailsec/mta_sts
LAB_DIR ?= .lab
PLAYBOOK ?= playbooks/audit.yml
DOMAINS ?=
# Extra ansible-playbook options for demo and audit, e.g. PLAYBOOK_ARGS=-v
PLAYBOOK_ARGS ?=
# Python version ansible-test sanity runs its tests with; extra options, e.g. SANITY_ARGS="--test pep8"
SANITY_PYTHON ?= 3.11
SANITY_ARGS ?=
PYTEST_ARGS ?=

ABS_VENV := $(abspath $(VENV))
ABS_PY := $(ABS_VENV)/bin/python
ABS_BUILD := $(abspath $(BUILD))
ABS_COLLECTION := $(abspath $(COLLECTION_DIR))
ABS_LAB := $(abspath $(LAB_DIR))

# Debian packages of the test lab (see bindep.txt); the daemons are started by the lab itself.
SYSDEPS_PACKAGES = bind9 bind9-utils bind9-dnsutils nginx pebble postfix pdns-server pdns-backend-sqlite3 \
	sqlite3 chromium dovecot-imapd apache2
SYSDEPS_COMMANDS = named nginx pebble pdns_server postfix chromium dig nsupdate sqlite3 apache2

# Every command below uses the venv's tools and finds both this collection (the copy in $(BUILD))
# and the collections that ship inside the venv's `ansible` package.
export PATH := $(ABS_VENV)/bin:$(PATH)
# ($(wildcard) would split a path with spaces; the colon-separated list itself takes them.)
export ANSIBLE_COLLECTIONS_PATH = $(ABS_BUILD):$(shell ls -d "$(ABS_VENV)"/lib/python3*/site-packages 2>/dev/null | head -n1)
# Interpreter discovery can pick a pyenv shim that does not exist: name the interpreter.
export ANSIBLE_PYTHON_INTERPRETER = $(ABS_PY)

.PHONY: help sysdeps venv collection get-pip sanity lint docs-lint unit integration test \
	demo audit bench changelog build clean distclean finding-docs role-docs

help:
	@echo 'make demo      set up everything and audit the bundled lab'
	@echo 'make test      set up everything and run the whole suite'
	@echo 'make audit DOMAINS="example.org example.net"   audit real domains'
	@echo 'Steps: sysdeps venv collection sanity lint docs-lint unit integration build clean distclean'

## sysdeps: install the test lab's Debian packages (once; skipped when present).
sysdeps:
	@missing=""; \
	for cmd in $(SYSDEPS_COMMANDS); do \
		command -v "$$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$$cmd" ] || missing="$$missing $$cmd"; \
	done; \
	for pkg in $(SYSDEPS_PACKAGES); do \
		dpkg-query -W -f='$${Status}' "$$pkg" 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$pkg"; \
	done; \
	if [ -z "$$missing" ]; then echo "sysdeps: all present"; exit 0; fi; \
	echo "sysdeps: missing:$$missing"; \
	if [ "$$(id -u)" -eq 0 ]; then sudo=""; \
	elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo="sudo -n"; \
	else \
		echo "sysdeps: not root (and no password-less sudo), so they cannot be installed here. Run:" >&2; \
		echo "    sudo make sysdeps" >&2; \
		echo "sysdeps: (it runs apt-get install -y --no-install-recommends $(SYSDEPS_PACKAGES))" >&2; \
		echo "sysdeps: the parts that need none of them run without: make sanity lint docs-lint unit" >&2; \
		exit 1; \
	fi; \
	echo "postfix postfix/main_mailer_type select No configuration" | $$sudo debconf-set-selections; \
	$$sudo apt-get update -q; \
	$$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
		$(SYSDEPS_PACKAGES) </dev/null

## venv: the Python tools, reinstalled only when a requirements file changes.
VENV_REQUIREMENTS = requirements.txt tests/requirements-dev.txt \
	$(wildcard tests/unit/requirements.txt tests/integration/requirements.txt)

venv: $(VENV)/.installed

$(VENV)/.installed: $(VENV_REQUIREMENTS)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(addprefix -r ,$(VENV_REQUIREMENTS))
	touch $@

## collection: copy the repository (tracked and untracked, not ignored files) to $(COLLECTION_DIR).
## The copy is a git repository of its own: ansible-test, antsibull-docs and ansible-lint list files
## with `git ls-files`, which sees nothing in a directory the enclosing repository ignores.
## ansible-test's tests/output (its cached virtual environments) is kept from the previous copy.
collection:
	@rm -rf "$(ABS_COLLECTION).new"; mkdir -p "$(ABS_COLLECTION).new"; \
	if [ "$$(git rev-parse --show-toplevel 2>/dev/null)" = "$(CURDIR)" ]; then \
		git ls-files -z --cached --others --exclude-standard \
		| while IFS= read -r -d '' f; do [ -e "$$f" ] && printf '%s\0' "$$f"; done \
		| tar --null --no-recursion -T - -cf - | tar -xf - -C "$(ABS_COLLECTION).new"; \
	else \
		tar --exclude=./.git --exclude=./$(VENV) --exclude=./$(BUILD) --exclude=./$(LAB_DIR) \
			--exclude=./tests/output --exclude=./.ansible --exclude=__pycache__ -cf - . \
		| tar -xf - -C "$(ABS_COLLECTION).new"; \
	fi; \
	git init -q "$(ABS_COLLECTION).new"; \
	if [ -d "$(ABS_COLLECTION)/tests/output" ]; then \
		mkdir -p "$(ABS_COLLECTION).new/tests"; mv "$(ABS_COLLECTION)/tests/output" "$(ABS_COLLECTION).new/tests/"; \
	fi; \
	rm -rf "$(ABS_COLLECTION)"; mv "$(ABS_COLLECTION).new" "$(ABS_COLLECTION)"; \
	echo "collection: $(COLLECTION_DIR) ($$(git -C "$(ABS_COLLECTION)" ls-files --others --exclude-standard | wc -l) files)"

## get-pip: put the offline get-pip stand-in where ansible-test looks for its bootstrap script.
get-pip: venv
	@version=$$(sed -n "s/^ *pip='\([0-9.]*\)',.*/\1/p" \
		"$(VENV)"/lib/python3*/site-packages/ansible_test/_internal/python_requirements.py | head -n1); \
	test -n "$$version" || { echo "get-pip: cannot tell which pip ansible-test bootstraps" >&2; exit 1; }; \
	dest="$$HOME/.ansible/test/cache/get_pip_$${version//./_}.py"; \
	mkdir -p "$$(dirname "$$dest")"; \
	if [ -e "$$dest" ] && ! grep -q 'Offline stand-in for the get-pip' "$$dest"; then \
		echo "get-pip: keeping the real bootstrap script $$dest"; \
	elif ! cmp -s tests/sanity/get_pip_standin.py "$$dest"; then \
		cp tests/sanity/get_pip_standin.py "$$dest"; echo "get-pip: installed stand-in $$dest"; \
	fi

## sanity: ansible-test sanity in per-test virtual environments (no network, no containers).
sanity: venv collection get-pip
	cd "$(COLLECTION_DIR)" && PIP_QUIET=1 ansible-test sanity --venv --python $(SANITY_PYTHON) --color no --truncate 0 $(SANITY_ARGS)

## lint: ansible-lint, production profile, offline, over the repository.
lint: venv collection
	ansible-lint --offline --profile production $$([ -t 1 ] || echo --nocolor)

## role-docs: the variable tables of the roles' README.md, from their meta/argument_specs.yml.
role-docs: venv
	$(ABS_PY) hacking/role_readme.py roles/deploy

## docs-lint: the collection's plugin docs, docsite and links.
docs-lint: venv collection
	cd "$(COLLECTION_DIR)" && antsibull-docs lint-collection-docs --plugin-docs .

## unit: pytest over tests/unit with the collection importable as ansible_collections.mailsec.mta_sts.
unit: venv collection
	@cd "$(COLLECTION_DIR)"; \
	if [ -z "$$(find tests/unit -name '*.py' -print -quit 2>/dev/null)" ]; then \
		echo "unit: tests/unit has no tests yet"; exit 0; fi; \
	PYTHONPATH="$(ABS_BUILD)" "$(ABS_PY)" -m pytest tests/unit -q $(PYTEST_ARGS)

## integration: pytest over tests/integration (the tests start the lab's servers themselves; -rs lists
## what was skipped and why). MTA_STS_SOURCE_REPO: the clone tests/integration/test_clone_paths.py clones.
integration: venv collection
	cd "$(COLLECTION_DIR)" && PYTHONPATH="$(ABS_BUILD)" MTA_STS_SOURCE_REPO="$(CURDIR)" \
		"$(ABS_PY)" -m pytest tests/integration -q -rs $(PYTEST_ARGS)
	@[ "$$(id -u)" -eq 0 ] || echo "integration: not run as root: the tests that need root (the labs' ports" \
		"25, 53, 443) are among the SKIPPED above, each with its reason; the whole suite runs as root, as CI does"

test: sysdeps venv collection sanity lint docs-lint unit integration

## bench: the benchmark against checkdmarc and postfix-mta-sts-resolver (docs/benchmark.md); not a test.
BENCH_ARGS ?= --n 1000 --n 10000 --loss-runs 0.01,0.05 --hostile --markdown $(ABS_BUILD)/benchmark-tables.md
bench: sysdeps venv collection
	$(PY) tests/bench/run.py $(BENCH_ARGS)

## demo: start the bundled lab, audit it, and always stop the lab.
demo: sysdeps venv collection
	@trap '"$(ABS_PY)" tests/lab/lab.py down --dir "$(ABS_LAB)"' EXIT; trap 'exit 130' INT TERM; \
	"$(ABS_PY)" tests/lab/lab.py up --dir "$(ABS_LAB)"; \
	ANSIBLE_LOCALHOST_WARNING=false ANSIBLE_INVENTORY_UNPARSED_WARNING=false \
	ansible-playbook $(PLAYBOOK) -e @"$(ABS_LAB)/lab-vars.yml" -e '{"ansible_python_interpreter": "$(ABS_PY)"}' \
		$(PLAYBOOK_ARGS)

## audit: audit real domains, e.g. make audit DOMAINS="example.org example.net".
audit: venv collection
	@test -n "$(strip $(DOMAINS))" || { echo 'usage: make audit DOMAINS="example.org example.net"' >&2; exit 2; }
	@domains=$$("$(ABS_PY)" -c 'import json, sys; print(json.dumps(sys.argv[1:]))' $(DOMAINS)); \
	ANSIBLE_LOCALHOST_WARNING=false ANSIBLE_INVENTORY_UNPARSED_WARNING=false \
	ansible-playbook $(PLAYBOOK) -e "{\"mailsec_mta_sts_domains\": $$domains}" \
		-e '{"ansible_python_interpreter": "$(ABS_PY)"}' $(PLAYBOOK_ARGS)

## changelog: release the fragments into CHANGELOG.rst as the version in galaxy.yml (fragments are kept, so a
## rerun adds the fragments merged since).
changelog: venv collection
	antsibull-changelog release --version "$$(sed -n 's/^version: *//p' galaxy.yml)"

## finding-docs: docs/docsite/rst/finding_codes.rst from the catalogue (plugins/module_utils/findings.py).
finding-docs:
	$(PYTHON) hacking/generate_finding_codes.py

## build: the collection tarball, in $(BUILD).
build: venv
	ansible-galaxy collection build --force --output-path $(BUILD) .

clean:
	rm -rf $(BUILD) tests/output .pytest_cache .hypothesis .nox
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV) .ansible $(LAB_DIR)
