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
	ser2net:/usr/sbin/ser2net libclang-rt-14-dev:/usr/lib/llvm-14/lib/clang/14.0.6/lib/linux \
	tmux:tmux

.PHONY: all deps venv test demo bench fuzz clean help

all: help

help:
	@echo "make demo   run the bundled model on the emulated Cortex-M55 board (qemu-mps3-an547)"
	@echo "make test   run the whole test suite"
	@echo "make bench  run the benchmarks (prints a table, writes bench/results.json)"
	@echo "make deps   install missing cross toolchains and QEMU with apt"
	@echo "make fuzz   long fuzzing runs (FUZZ_SECONDS per target, default 600); new coverage merged into firmware/tests/fuzz/corpus"

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

# The outside oracle for `make test`: transformers' BitNetForCausalLM on the CPU build of torch. torch is pinned
# exactly: an unpinned or ranged torch pulls a CUDA build of several GB; 2.13.0 (CPU, Python 3.11) is the one
# the bundled model was trained with. transformers and accelerate (its BitNet loader needs it) are pinned to the
# versions the fixtures and the bundled model were written with (tests/fixtures/README.md, training_summary.json).
ORACLE_PACKAGES := torch==2.13.0 transformers==5.24.0 accelerate==1.16.0
ORACLE_STAMP := $(VENV)/.edgekit-oracle-installed

$(ORACLE_STAMP): $(STAMP) Makefile
	$(PY) -m pip install -q $(ORACLE_PACKAGES)
	touch $(ORACLE_STAMP)

venv: $(STAMP)

# EDGEKIT_REQUIRE_ALL=1: a skipped test fails the run unless tests/skip_policy.py's allowlist names it (README:
# "What is checked"), so a missing tool, CPU flag or oracle package cannot hide.
test: deps venv $(ORACLE_STAMP)
	EDGEKIT_REQUIRE_ALL=1 $(PY) -m pytest -q -p no:cacheprovider tests

demo: deps venv
	$(VENV)/bin/edgekit demo

bench: deps venv
	$(VENV)/bin/edgekit bench

# Long fuzzing runs (firmware/tests/fuzz/README.md): each harness FUZZ_SECONDS on a working copy of its
# corpus; inputs that reach new edges are merged back into the committed corpus.
FUZZ_SECONDS ?= 600
FUZZ_TARGETS := fuzz_frame fuzz_message fuzz_image
FUZZ_BUILD := build/fuzz
FUZZ_ENV := ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=print_stacktrace=1

fuzz: deps
	cmake -S firmware/tests/fuzz -B $(FUZZ_BUILD) -G Ninja -DCMAKE_C_COMPILER=clang >/dev/null
	cmake --build $(FUZZ_BUILD) -j2
	@set -e; for t in $(FUZZ_TARGETS); do \
	  rm -rf $(FUZZ_BUILD)/work/$$t; mkdir -p $(FUZZ_BUILD)/work/$$t $(FUZZ_BUILD)/crashes/$$t; \
	  cp firmware/tests/fuzz/corpus/$$t/* $(FUZZ_BUILD)/work/$$t/; \
	  echo "== $$t: $(FUZZ_SECONDS) s"; \
	  $(FUZZ_ENV) $(FUZZ_BUILD)/$$t -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
	    -artifact_prefix=$(FUZZ_BUILD)/crashes/$$t/ $(FUZZ_BUILD)/work/$$t || { \
	    echo "$$t crashed: minimise with $(FUZZ_BUILD)/$$t -minimize_crash=1 -runs=100000 FILE, keep it in"; \
	    echo "firmware/tests/fuzz/regressions/$$t/ and fix the bug (inputs: $(FUZZ_BUILD)/crashes/$$t/)"; exit 1; }; \
	  $(FUZZ_ENV) $(FUZZ_BUILD)/$$t -merge=1 -use_counters=0 firmware/tests/fuzz/corpus/$$t $(FUZZ_BUILD)/work/$$t 2>&1 | tail -1; \
	done

clean:
	rm -rf build out .pytest_cache
