# edgekit — two commands on a fresh Debian/Ubuntu machine:
#   make demo   the bundled model on the emulated Cortex-M55 board (plan, build, flash, chat)
#   make test   the whole test suite
# Both install what they need: Python deps into .venv, cross toolchains and QEMU through apt when missing.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.edgekit-installed

# Debian packages and the command each one provides (installed only when the command is missing).
APT_PACKAGES := cmake:cmake ninja-build:ninja gcc:gcc clang:clang gcc-arm-none-eabi:arm-none-eabi-gcc \
	libnewlib-arm-none-eabi:/usr/lib/arm-none-eabi/include/stdio.h \
	gcc-aarch64-linux-gnu:aarch64-linux-gnu-gcc libc6-dev-arm64-cross:/usr/aarch64-linux-gnu/include/stdio.h \
	qemu-system-arm:qemu-system-arm qemu-user:qemu-aarch64 \
	openocd:openocd teensy-loader-cli:teensy_loader_cli openssh-server:/usr/sbin/sshd openssh-client:ssh \
	ser2net:/usr/sbin/ser2net

.PHONY: all deps venv test demo bench clean help

all: help

help:
	@echo "make demo   run the bundled model on the emulated Cortex-M55 board (qemu-mps3-an547)"
	@echo "make test   run the whole test suite"
	@echo "make bench  run the benchmarks (prints a table, writes bench/results.json)"
	@echo "make deps   install missing cross toolchains and QEMU with apt"

deps:
	@missing=""; for pair in $(APT_PACKAGES); do pkg=$${pair%%:*}; what=$${pair#*:}; \
	  case $$what in /*) test -e $$what || missing="$$missing $$pkg";; \
	  *) command -v $$what >/dev/null 2>&1 || missing="$$missing $$pkg";; esac; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing with apt:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[test,platformio,power]"
	touch $(STAMP)

venv: $(STAMP)

test: deps venv
	$(PY) -m pytest -q -p no:cacheprovider tests

demo: deps venv
	$(VENV)/bin/edgekit demo

bench: deps venv
	$(VENV)/bin/edgekit bench

clean:
	rm -rf build out .pytest_cache
