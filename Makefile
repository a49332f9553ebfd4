# tileos build entry points. `make run` boots the default tile system in QEMU; `make test`
# runs every test. Both install the Debian packages they need first (`make deps`).
#
# Bare-metal binaries are built for the host target with their own link scripts (see
# docs/build.md), in separate cargo target directories per image flavour so that `dev` and
# `test` builds never invalidate each other and never contend with host builds in target/.

SHELL := /bin/bash
# A failing command in a pipeline fails the recipe (the kernel build's warning filter).
.SHELLFLAGS := -o pipefail -c
CARGO ?= cargo
# Property tests (proptest) draw their cases from this seed, so that `make check` and `make
# test` run the same cases every time (CI lands or fails on the code, not on the draw);
# `PROPTEST_RNG_SEED=random` draws new ones, and `PROPTEST_CASES=N` runs N cases of the
# slot manager's properties (a soak). A failing case is saved in the test's
# `.proptest-regressions` file, which is committed and replayed first (README, "Commands").
PROPTEST_RNG_SEED ?= 20261207
ifneq ($(PROPTEST_RNG_SEED),random)
export PROPTEST_RNG_SEED
endif
BUILD := build
DEV := $(BUILD)/dev
TEST := $(BUILD)/test

# Debian packages and the program that shows each is installed.
DEBIAN_TOOLS := qemu-system-x86:qemu-system-x86_64 grub-pc-bin:/usr/lib/grub/i386-pc/multiboot.mod \
	grub-common:grub-mkrescue xorriso:xorriso mtools:mformat binutils:objcopy netcat-openbsd:nc \
	coq:coqc ocaml:ocamlopt

.PHONY: domains mutants weights lab lab-bench bundles check fuzz torture bench bench-kernel bench-host iso-file help deps run debug test test-images images image loc proofs verify clean dev-kernel test-kernel test-kernel-no-kpti

help:
	@echo "make run     boot the default tile system in QEMU (serial on this terminal; Ctrl-A X quits)"
	@echo "make test    install what is missing, build, run host unit tests and boot tests"
	@echo "make check   formatting, clippy and the host unit tests only (no QEMU; the inner loop)"
	@echo "KPTI=off     (with images, test-images, run, ...) kernels without the Meltdown mitigation (docs/security.md)"
	@echo "make image   write $(BUILD)/tileos.iso (GRUB, boots on QEMU -cdrom and real x86_64)"
	@echo "make debug   boot halted with QEMU's gdb stub and print the gdb command"
	@echo "make loc     kernel size in lines of code (fails above 10,000)"
	@echo "make bench   kernel, NVMe and TCP figures under QEMU -icount (build/bench.json) and host core figures"
	@echo "make proofs  check the Coq proofs"
	@echo "make verify  the Coq proofs, then the kernel-vs-Coq refinement test at depth (STEPS=1000 SEEDS=100 per universe, each seed with and without one-unit deletions)"
	@echo "make mutants mutation testing (cargo-mutants) of the kernel library, the model checker and some cores; hours, not in make test (MUTANTS=kernel checker cores)"
	@echo "make weights retrain the model's base and adapters ($(BUILD)/weights, minutes) and check them against weights/manifest.json"
	@echo "make bundles the demo slot's signed module bundles in $(BUILD)/bundles (DEV ONLY keys) and $(BUILD)/keys/trusted.bin"
	@echo "make torture power-cut torture of the store: CYCLES=1000 SEED=1 boots, each killed at a random moment (docs/store.md)"
	@echo "make lab     run a tile lab scenario: SCENARIO=partition-heal-8 [N=tiles] KIND=host|qemu (docs/federation.md, \"The tile lab\"); JSON in build/lab.json"
	@echo "make lab-bench  the lab's figures: partition-heal-n at N=4, 8, 16 and throughput-2, QEMU tiles and host nodes"
	@echo "make domains boot the most domains the image builder fits in RAM=256 MiB, under -icount (minutes; prints N and boot to ready)"
	@echo "make fuzz    run the in-guest fuzzer (SEED=1 ITERS=100000 [TRACE=first iteration to print] [FEATURES=bits, docs/fuzzing.md])"
	@echo "run, image and debug take TILE=description.toml (default tile.toml); run and debug take TILE_DISK, TILE_*_PORT and TILE_SENSORS=HOST:PORT (the tile simulator on COM2, docs/sensors.md; make run starts one when it is empty: TILE_SIM_SCENARIO, TILE_SIM_SPEED, TILE_SIM_PORT)"

# Installs only the missing Debian packages (apt-get update first, as Debian requires).
deps:
	@missing=""; for entry in $(DEBIAN_TOOLS); do pkg=$${entry%%:*}; tool=$${entry#*:}; \
	  if [[ $$tool == /* ]]; then [ -e "$$tool" ] || missing="$$missing $$pkg"; \
	  else command -v $$tool >/dev/null || missing="$$missing $$pkg"; fi; done; \
	if [ -n "$$missing" ]; then \
	  echo "deps: installing Debian packages:$$missing"; \
	  sudo_cmd=""; [ "$$(id -u)" = 0 ] || sudo_cmd=sudo; \
	  $$sudo_cmd apt-get update -q && DEBIAN_FRONTEND=noninteractive $$sudo_cmd apt-get install -y -q $$missing; \
	fi

# The kernel is compiled without SSE, as seL4 is, so kernel code never touches a thread's
# vector registers (docs/security.md). `--target` names the host target explicitly so that
# these flags reach only the kernel's own crates, not build scripts or proc macros; the
# kernel's artifacts land in $(KERNEL_TARGET)/release of the flavour's target directory.
# rustc warns that disabling sse2 is being phased out for this target (it matters only for
# floating point, which the kernel has none of); the boot test
# `kernel_code_uses_no_vector_registers` checks the result instruction by instruction.
KERNEL_TARGET := x86_64-unknown-linux-gnu
KERNEL_RUSTFLAGS := -Ctarget-feature=-sse,-sse2
KERNEL_WARNING_FILTER := 2>&1 | { grep -v -e 'sse2. must be enabled' -e 'previously accepted by the compiler' \
	-e 'issue \#116344' -e 'generated 1 warning' -e '^ *|$$' -e '^$$' || true; }
# The Meltdown mitigation (kernel page-table isolation, docs/security.md) is on in every
# kernel; `KPTI=off` builds the dev, test and release kernels without it (cargo feature
# `no-kpti`). `make bench` measures both kernels whatever KPTI says, and the kpti boot test
# boots the test kernel without it (build/test/kernel-no-kpti.elf32) beside the default one.
KPTI ?= on
KERNEL_BUILD = RUSTFLAGS="$(KERNEL_RUSTFLAGS)" $(CARGO) build --quiet --release -p tileos-kernel --target $(KERNEL_TARGET) \
	$(if $(filter off,$(KPTI)),--features no-kpti)

# The system description `make run`, `make image` and `make debug` boot (README: "More").
TILE ?= tile.toml
# The scenarios of the tile boot tests: the test flavour builds their programs too.
SCENARIO_FILES := $(wildcard qemu/runner/tests/scenarios/*.toml)

# The programs every flavour builds besides those its descriptions name: the root server,
# which travels as the first boot module, and the bench-server and fuzzer of `make fuzz`.
BOOT_PROGRAMS := tileos-rootserver bench-server fuzzer
# Prints the cargo packages holding the programs of the descriptions given after it and the
# boot programs, one per line (tools/imagebuild: a program is a binary of a package that
# build-depends on tileos-build-support), so no package list is written here.
PROGRAM_PACKAGES = $(CARGO) run --quiet -p tileos-imagebuild -- --packages $(addprefix --extra-program ,$(BOOT_PROGRAMS))

# flavour(dir, kernel features, description, cargo progress, more descriptions): the kernel
# as ELF64 with symbols (for gdb) and ELF32 (for QEMU -kernel), the root server, which
# travels as the first boot module, the programs of the description and of the further
# descriptions, and the tile archive of the description. The kernel is built on its own
# so that cargo's feature unification never gives it the user crates' features (e.g. serde
# with alloc through heapless, which would need a heap in the kernel). Each step says what
# it builds; the dev flavour shows cargo's own progress for the programs (the longest step of
# a first build), the test flavour stays quiet.
define flavour
	@echo "build: kernel for $(1) ($(2); a first build of everything takes a few minutes)"
	$(KERNEL_BUILD) $(2) --target-dir $(BUILD)/target-$(notdir $(1)) $(KERNEL_WARNING_FILTER)
	@packages=$$($(PROGRAM_PACKAGES) $(3) $(5)) && \
	  echo "build: root server, drivers and domain programs ($(1)): "$$packages && \
	  $(CARGO) build $(4) --release $$(printf -- '-p %s ' $$packages) --target-dir $(BUILD)/target-$(notdir $(1))
	@mkdir -p $(1)
	@cmp -s $(BUILD)/target-$(notdir $(1))/release/bench-server $(1)/bench-server.elf || \
	  cp $(BUILD)/target-$(notdir $(1))/release/bench-server $(1)/bench-server.elf
	@cmp -s $(BUILD)/target-$(notdir $(1))/release/fuzzer $(1)/fuzzer.elf || \
	  cp $(BUILD)/target-$(notdir $(1))/release/fuzzer $(1)/fuzzer.elf
	@cmp -s $(BUILD)/target-$(notdir $(1))/$(KERNEL_TARGET)/release/tileos-kernel $(1)/kernel.elf || \
	  cp $(BUILD)/target-$(notdir $(1))/$(KERNEL_TARGET)/release/tileos-kernel $(1)/kernel.elf
	@cmp -s $(BUILD)/target-$(notdir $(1))/release/tileos-rootserver $(1)/rootserver.elf || \
	  cp $(BUILD)/target-$(notdir $(1))/release/tileos-rootserver $(1)/rootserver.elf
	@[ $(1)/kernel.elf32 -nt $(1)/kernel.elf ] || objcopy -O elf32-i386 $(1)/kernel.elf $(1)/kernel.elf32
	@echo "build: tile archive from $(3) ($(1)/tile.archive)"
	$(CARGO) run --quiet -p tileos-imagebuild -- $(3) --program-dir $(BUILD)/target-$(notdir $(1))/release -o $(1)/tile.archive
endef

dev-kernel:
	$(call flavour,$(DEV),--features debug-console,$(TILE))

# Test kernels also time every slow-path system call (DebugLongestEntry, for the kernel
# suite's preemption checks); the benchmark kernel below is the same kernel without that.
test-kernel:
	$(call flavour,$(TEST),--features entry-timing,tile.toml,--quiet,$(SCENARIO_FILES))

# The test kernel without the Meltdown mitigation, for the kpti boot test (the kernel suite
# on it expects protection faults where the default kernel's pages are absent).
test-kernel-no-kpti:
	@echo "build: test kernel without the Meltdown mitigation ($(TEST)/kernel-no-kpti.elf32)"
	$(KERNEL_BUILD) --features entry-timing,no-kpti --target-dir $(BUILD)/target-test-no-kpti $(KERNEL_WARNING_FILTER)
	@mkdir -p $(TEST)
	@objcopy -O elf32-i386 $(BUILD)/target-test-no-kpti/$(KERNEL_TARGET)/release/tileos-kernel $(TEST)/kernel-no-kpti.elf32

# The kernels `make bench` measures: the test kernel without entry timing (its two time-stamp
# reads per system call would count in the figures), with the Meltdown mitigation
# (kernel.elf32) and without it (kernel-no-kpti.elf32, the kernel figures' second column).
# Everything else comes from test-images.
BENCH := $(BUILD)/bench
bench-kernel:
	@echo "build: kernels for benchmarks ($(BENCH)), with and without the Meltdown mitigation"
	$(KERNEL_BUILD) --features testing --target-dir $(BUILD)/target-bench $(KERNEL_WARNING_FILTER)
	$(KERNEL_BUILD) --features testing,no-kpti --target-dir $(BUILD)/target-bench-no-kpti $(KERNEL_WARNING_FILTER)
	@mkdir -p $(BENCH)
	@objcopy -O elf32-i386 $(BUILD)/target-bench/$(KERNEL_TARGET)/release/tileos-kernel $(BENCH)/kernel.elf32
	@objcopy -O elf32-i386 $(BUILD)/target-bench-no-kpti/$(KERNEL_TARGET)/release/tileos-kernel $(BENCH)/kernel-no-kpti.elf32

# The release kernel: no DebugPutChar, no test hooks (what firmware builders flash). Boot
# tests check that the debug console really is compiled out.
release-kernel:
	@echo "build: release kernel"
	$(KERNEL_BUILD) --target-dir $(BUILD)/target-release $(KERNEL_WARNING_FILTER)
	@mkdir -p $(BUILD)/release
	@objcopy -O elf32-i386 $(BUILD)/target-release/$(KERNEL_TARGET)/release/tileos-kernel $(BUILD)/release/kernel.elf32

# iso(dir, iso path, kernel command line, root server command line): rebuilt only when the
# kernel or root server is newer.
define iso
	@[ $(2) -nt $(1)/kernel.elf ] && [ $(2) -nt $(1)/rootserver.elf ] && [ $(2) -nt $(1)/tile.archive ] || \
	  $(MAKE) --no-print-directory ISO_DIR=$(1) ISO=$(2) ISO_CMDLINE="$(3)" ROOT_CMDLINE="$(4)" iso-file
endef

iso-file:
	@mkdir -p $(ISO_DIR)/iso/boot/grub
	@cp $(ISO_DIR)/kernel.elf $(ISO_DIR)/iso/boot/kernel.elf
	@cp $(ISO_DIR)/rootserver.elf $(ISO_DIR)/iso/boot/rootserver.elf
	@cp $(ISO_DIR)/tile.archive $(ISO_DIR)/iso/boot/tile.archive
	@printf 'set timeout=0\nset default=0\nmenuentry "tileos" {\n  multiboot /boot/kernel.elf %s\n  module /boot/rootserver.elf %s\n  module /boot/tile.archive tile-archive\n  boot\n}\n' "$(ISO_CMDLINE)" "$(ROOT_CMDLINE)" > $(ISO_DIR)/iso/boot/grub/grub.cfg
	@echo "build: $(ISO)"
	@grub-mkrescue -o $(ISO) $(ISO_DIR)/iso >$(ISO_DIR)/grub-mkrescue.log 2>&1 || { cat $(ISO_DIR)/grub-mkrescue.log; exit 1; }

images: dev-kernel

# Scenario archives for the tile boot tests (qemu/runner/tests/scenarios/*.toml).
SCENARIOS := $(basename $(notdir $(SCENARIO_FILES)))

test-images: test-kernel test-kernel-no-kpti release-kernel
	@mkdir -p $(TEST)/scenarios
	@for scenario in $(SCENARIOS); do \
	  $(CARGO) run --quiet -p tileos-imagebuild -- qemu/runner/tests/scenarios/$$scenario.toml \
	    --program-dir $(BUILD)/target-test/release -o $(TEST)/scenarios/$$scenario.archive >/dev/null || exit 1; \
	done
	$(call iso,$(TEST),$(TEST)/tileos-test.iso,,rootserver test=kernel untimed)

image: deps dev-kernel
	$(call iso,$(DEV),$(BUILD)/tileos.iso,,rootserver)
	@echo "image: $(BUILD)/tileos.iso (try it: qemu-system-x86_64 -cdrom $(BUILD)/tileos.iso -serial stdio -display none)"

# `make run` boots the default tile with its devices: an NVMe disk image kept in
# $(TILE_DISK), the tile status on host TCP port $(TILE_TCP_PORT), the UDP echo on host UDP
# port $(TILE_UDP_PORT), and the net-client domain's line and datagram services on host TCP
# port $(TILE_CLIENT_TCP_PORT) and UDP port $(TILE_CLIENT_UDP_PORT) (README: "Talking to the tile"), and
# the update agent (tilectl, docs/tilectl.md) on host TCP port $(TILE_AGENT_PORT).
TILE_DISK ?= $(DEV)/disk.img
TILE_TCP_PORT ?= 8080
TILE_UDP_PORT ?= 7007
TILE_CLIENT_TCP_PORT ?= 7070
TILE_CLIENT_UDP_PORT ?= 5000
TILE_AGENT_PORT ?= 7700
# TILE_SENSORS=HOST:PORT connects COM2 to a tile simulator already running (docs/sensors.md).
# Empty (the default), `make run` starts one itself on 127.0.0.1:$(TILE_SIM_PORT), playing
# $(TILE_SIM_SCENARIO) at $(TILE_SIM_SPEED) simulated seconds per second (stopped with QEMU;
# its log in $(DEV)/tile-sim.log).
TILE_SENSORS ?=
TILE_SIM_PORT ?= 7800
TILE_SIM_SCENARIO ?= tools/tile-sim/scenarios/bearing-wear.toml
TILE_SIM_SPEED ?= 10
TILE_DEVICES = --tile-devices $(TILE_DISK) --tcp-port $(TILE_TCP_PORT) --udp-port $(TILE_UDP_PORT) \
	--client-tcp-port $(TILE_CLIENT_TCP_PORT) --client-udp-port $(TILE_CLIENT_UDP_PORT) --agent-port $(TILE_AGENT_PORT) \
	--sensors $(if $(TILE_SENSORS),$(TILE_SENSORS),127.0.0.1:$(TILE_SIM_PORT))

run: deps images
	@echo "run: booting $(DEV)/kernel.elf32 with $(TILE) — serial on this terminal; quit with Ctrl-A X"
	@echo "run: tile status: nc 127.0.0.1 $(TILE_TCP_PORT); UDP echo: nc -u 127.0.0.1 $(TILE_UDP_PORT); net-client: nc 127.0.0.1 $(TILE_CLIENT_TCP_PORT), nc -u 127.0.0.1 $(TILE_CLIENT_UDP_PORT); disk image $(TILE_DISK)"
	@if [ -z "$(TILE_SENSORS)" ]; then $(CARGO) build --quiet -p tileos-tile-sim --target-dir $(BUILD)/target-host; fi
	@sim=; if [ -z "$(TILE_SENSORS)" ]; then \
	  echo "run: tile simulator on 127.0.0.1:$(TILE_SIM_PORT) playing $(TILE_SIM_SCENARIO) at $(TILE_SIM_SPEED)x (log $(DEV)/tile-sim.log)"; \
	  $(BUILD)/target-host/debug/tileos-tile-sim serve $(TILE_SIM_SCENARIO) --listen 127.0.0.1:$(TILE_SIM_PORT) --speed $(TILE_SIM_SPEED) \
	    >$(DEV)/tile-sim.log 2>&1 & sim=$$!; trap 'kill $$sim 2>/dev/null' EXIT; fi; \
	$(CARGO) run --quiet -p tileos-qemu -- --kernel $(DEV)/kernel.elf32 --module $(DEV)/rootserver.elf=rootserver --module $(DEV)/tile.archive=tile-archive $(TILE_DEVICES)

# gdb script with the symbols of the kernel, the root server and every domain program of
# the description. Each program links at an address of its own, so a breakpoint on one
# program's code stops only in its domains (docs/build.md, "Breakpoints per domain").
debug: deps images
	$(CARGO) run --quiet -p tileos-imagebuild -- $(TILE) --program-dir $(BUILD)/target-dev/release --gdb-script $(DEV)/gdbinit --symbols $(DEV)/kernel.elf --symbols $(DEV)/rootserver.elf
	@echo "debug: QEMU waits for gdb; in another terminal run:"
	@echo "  gdb -x $(DEV)/gdbinit"
	$(CARGO) run --quiet -p tileos-qemu -- --kernel $(DEV)/kernel.elf32 --module $(DEV)/rootserver.elf=rootserver --module $(DEV)/tile.archive=tile-archive $(TILE_DEVICES) --gdb

# The inner loop: formatting (rustfmt.toml), clippy at its default level with warnings as
# errors, and the host unit tests of the host crates (the workspace's default-members: no
# QEMU). Clippy runs four times: on the host crates, on the QEMU runner and its boot tests,
# on the kernel with its host unit tests (built for the host: the library and the tests
# the model checker and `cargo test` run), then on the packages of the programs of every
# description (drivers, netstack, domains, services, the root server; their library tests
# included), in a target directory of their own: checked together with the host
# crates they would get std's panic handler (Cargo.toml, default-members). Then the host
# crates' documentation (`cargo doc --no-deps`) with rustdoc's warnings as errors (a broken
# intra-doc link, a private item linked from a public one). `make test` runs it first.
check:
	@echo "check: cargo fmt, cargo clippy, cargo doc, host unit tests"
	$(CARGO) fmt --all --check
	$(CARGO) clippy --quiet -- -D warnings
	$(CARGO) clippy --quiet -p tileos-qemu --all-targets -- -D warnings
	$(CARGO) clippy --quiet -p tileos-kernel --all-targets -- -D warnings
	@packages=$$($(PROGRAM_PACKAGES) tile.toml $(SCENARIO_FILES)) && \
	  echo "check: cargo clippy on the bare-metal packages: "$$packages && \
	  $(CARGO) clippy --quiet --release --all-targets --target-dir $(BUILD)/target-clippy $$(printf -- '-p %s ' $$packages) -- -D warnings
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --quiet --no-deps
	$(CARGO) test --quiet

test: deps check test-images
	@$(MAKE) --no-print-directory bundles BUNDLE_TARGET=$(BUILD)/target-test
	@echo "test: host unit tests, model checker, boot tests and the in-guest kernel suite"
	$(CARGO) test --workspace --no-fail-fast
	@$(MAKE) --no-print-directory proofs

# The model's weights (docs/inference.md, "Recipe"): retrains the base and the adapters from
# the recipe into $(BUILD)/weights on one thread (so the split of work over threads cannot
# change the order of any sum) and checks the dataset and weights hashes against the shipped weights/manifest.json.
weights:
	$(CARGO) build --quiet --release -p tileos-trainer
	RAYON_NUM_THREADS=1 $(CARGO) run --quiet --release -p tileos-trainer -- train $(BUILD)/weights
	$(CARGO) run --quiet --release -p tileos-trainer -- check weights $(BUILD)/weights

# The demo slot's signed module bundles (docs/slots.md, "The demo slot"): builds the
# checksum programs, runs the host tests of their logic (the counts become the manifests'
# evidence), then tools/bundle writes $(BUNDLES)/*.bundle from the stripped ELFs, signed with
# the DEV ONLY keys of tileos_module_bundle::dev_keys (good, wrong, crash, slow, greedy,
# unsigned, wrong key, tampered, lineage B, and the ~100 KiB one of the install benchmark),
# checks that each verifies (or fails) exactly as it must, and writes the trusted public
# keys to $(BUILD)/keys/trusted.bin. BUNDLE_TARGET is the cargo target directory used.
BUNDLES := $(BUILD)/bundles
BUNDLE_TARGET ?= $(BUILD)/target-dev
bundles:
	@echo "build: checksum programs for the demo slot's bundles ($(BUNDLE_TARGET))"
	$(CARGO) build --quiet --release -p tileos-checksum-modules --target-dir $(BUNDLE_TARGET)
	@mkdir -p $(BUNDLES)
	@$(CARGO) test --quiet -p tileos-checksum >$(BUNDLES)/checksum-tests.txt 2>&1 || { cat $(BUNDLES)/checksum-tests.txt; exit 1; }
	@echo "build: signed bundles ($(BUNDLES))"
	$(CARGO) run --quiet --release -p tileos-bundle-tool -- demo --program-dir $(BUNDLE_TARGET)/release --out-dir $(BUNDLES) \
	  --trusted-out $(BUILD)/keys/trusted.bin --test-output $(BUNDLES)/checksum-tests.txt

# Machine-checks the Coq model of the capability system (installs Debian coq if missing).
proofs:
	@echo "proofs: checking the Coq capability model"
	bash proofs/coq/check.sh

# The refinement test deeper than in `make test` (60 steps, 4 seeds; the frames universe
# 300 x 2 steps, 8 seeds; the tables universe 150 x 2 steps, 8 seeds): random operation
# sequences through the kernel's capability code and the extracted Coq step function, compared after every operation (docs/model-checker.md,
# "The refinement link"). Each seed runs without and with one-unit deletions; the frames
# and tables universes run 2 x STEPS operations per seed and mode. DEPTH: the test of every
# transition (small and standard universes) explores to this many accepted operations
# (2 in `make test`, 137,082 operations compared; 3 here, 6,067,346, about 4 minutes).
STEPS ?= 1000
SEEDS ?= 100
DEPTH ?= 3
verify: deps proofs
	@echo "verify: refinement test, $(SEEDS) seeds x $(STEPS) operations per universe, every transition to depth $(DEPTH)"
	TILEOS_REFINEMENT_STEPS=$(STEPS) TILEOS_REFINEMENT_SEEDS=$(SEEDS) TILEOS_REFINEMENT_DEPTH=$(DEPTH) $(CARGO) test --release -p tileos-model-checker --test refinement -- --nocapture

# Mutation testing (docs/research.md, "Mutation testing"): cargo-mutants breaks the code
# one small change at a time and reruns the crate's tests; a mutant the tests still pass is
# "missed". cargo-mutants is pinned and installed into $(BUILD)/tools (not the system). Not
# part of `make test`: each mutant is a build and a test run, so this takes hours on a
# loaded 2-core machine; it runs at nice 19, one mutant at a time, each test run cut off
# after MUTANTS_TIMEOUT_MULTIPLIER times the unmutated run (a mutant may loop forever).
# MUTANTS picks the sets (results in $(BUILD)/mutants/SET/mutants.out: caught.txt,
# missed.txt, timeout.txt, unviable.txt):
# - kernel: the kernel library (the host-testable modules of kernel/src, every module of
#   kernel/src/lib.rs: KERNEL_LIBRARY_FILES, paths under kernel/src without `.rs`, so a
#   file in a subdirectory is `DIR/NAME`; override it to run some files, e.g.
#   KERNEL_LIBRARY_FILES="queue lock"). The binary's arch glue and invocation layer are
#   left out (its boot tests run in QEMU); so are the `#[cfg(test)]` modules such as
#   cspace/steps.rs and cspace/reference.rs, which are test code: cargo-mutants makes no
#   mutants in them;
# - checker: the model checker's library (its tests: unit tests, the exhaustive runs);
# - cores: MUTANTS_CORES, services/* library crates whose decisions guard authority or data
#   (bundle-protocol and TCPCL decoding, CRDT merges, the durable update log, bundle
#   signatures, reputation), a subset of the cores (docs/research.md says which and why).
MUTANTS_VERSION := 27.1.0
MUTANTS_ROOT := $(BUILD)/tools
# Per-mutant test timeout: this many times the unmutated test run of the set, at least 60 s.
MUTANTS_TIMEOUT_MULTIPLIER ?= 4
MUTANTS ?= kernel checker cores
MUTANTS_CORES ?= tileos-bpv7 tileos-tcpcl tileos-crdt tileos-update-log tileos-module-bundle tileos-reputation
# opt-level 1 for the mutants' builds: the kernel library's tests (2,048-deep chains against
# the quadratic reference code) take 52 s unoptimised and 5 s with it; overflow checks stay.
MUTANTS_RUN = CARGO_PROFILE_DEV_OPT_LEVEL=1 CARGO_PROFILE_TEST_OPT_LEVEL=1 nice -n 19 \
	env PATH="$(abspath $(MUTANTS_ROOT))/bin:$$PATH" $(CARGO) mutants --no-shuffle --jobs 1 \
	--timeout-multiplier $(MUTANTS_TIMEOUT_MULTIPLIER) --minimum-test-timeout 60 --build-timeout 900
KERNEL_LIBRARY_FILES ?= acpi budget cap cspace decode donation iospace lock multiboot queue transfer untyped vspace
CHECKER_LIBRARY_FILES := donation explore invariants iospace mapping memory op refinement universe work
# Exit status 2 (mutants missed) and 3 (timeouts) are results, reported; others are errors.
mutants:
	@[ -x $(MUTANTS_ROOT)/bin/cargo-mutants ] && $(MUTANTS_ROOT)/bin/cargo-mutants mutants --version | grep -qx 'cargo-mutants $(MUTANTS_VERSION)' || \
	  { echo "mutants: installing cargo-mutants $(MUTANTS_VERSION) into $(MUTANTS_ROOT)"; \
	    $(CARGO) install --locked --quiet cargo-mutants@$(MUTANTS_VERSION) --root $(MUTANTS_ROOT); }
	@mkdir -p $(BUILD)/mutants
	@for set in $(MUTANTS); do status=0; case $$set in \
	  kernel) $(MUTANTS_RUN) -p tileos-kernel $(foreach f,$(KERNEL_LIBRARY_FILES),-f kernel/src/$(f).rs) \
	    --output $(BUILD)/mutants/kernel || status=$$? ;; \
	  checker) $(MUTANTS_RUN) -p tileos-model-checker $(foreach f,$(CHECKER_LIBRARY_FILES),-f proofs/model-checker/src/$(f).rs) \
	    --output $(BUILD)/mutants/checker || status=$$? ;; \
	  cores) $(MUTANTS_RUN) $(foreach p,$(MUTANTS_CORES),-p $(p)) --output $(BUILD)/mutants/cores || status=$$? ;; \
	  *) echo "mutants: unknown set $$set (kernel, checker, cores)"; exit 2 ;; \
	esac; case $$status in 0|2|3) ;; *) echo "mutants: $$set: cargo-mutants failed ($$status)"; exit $$status ;; esac; \
	echo "mutants: $$set: $$(for o in caught missed timeout unviable; do \
	  printf '%s %s, ' $$o $$(cat $(BUILD)/mutants/$$set/mutants.out/$$o.txt 2>/dev/null | wc -l); done)"; done

# Kernel figures in guest instructions, NVMe 4 KiB and TCP receive figures in guest virtual
# time, the demo slot's figures (QEMU -icount; docs/research.md), written to build/bench.json.
bench: deps test-images bench-kernel
	@$(MAKE) --no-print-directory bundles BUNDLE_TARGET=$(BUILD)/target-test
	TILEOS_BENCH_KERNEL=$(BENCH)/kernel.elf32 TILEOS_BENCH_KERNEL_NO_KPTI=$(BENCH)/kernel-no-kpti.elf32 \
	  $(CARGO) run --quiet --release -p tileos-qemu --bin tileos-bench
	@$(MAKE) --no-print-directory bench-host

# The largest tile of minimal domains (issue 20; docs/system-description.md, "Limits"): the
# most echo clients whose description the image builder fits in RAM MiB, booted once under
# -icount; every domain must be admitted and answer. Minutes, so not part of make test.
RAM ?= 256
domains: deps test-images
	TILEOS_DOMAINS_RAM_MIB=$(RAM) $(CARGO) test -p tileos-qemu --test domains -- --ignored --nocapture

# The in-guest syscall fuzzer (docs/fuzzing.md). A failing seed replays with the same
# command; TRACE=K prints every operation from iteration K on.
SEED ?= 1
ITERS ?= 100000
TRACE ?=
fuzz: deps test-images
	$(CARGO) run --quiet -p tileos-qemu --bin tileos-qemu -- --kernel $(TEST)/kernel.elf32 \
	  --module "$(TEST)/rootserver.elf=rootserver fuzz seed=$(SEED) iters=$(ITERS)$(if $(TRACE), trace=$(TRACE))$(if $(FEATURES), features=$(FEATURES))" \
	  --module $(TEST)/bench-server.elf=bench-server --module $(TEST)/fuzzer.elf=fuzzer \
	  --log $(TEST)/logs/fuzz-$(SEED).log --timeout $$(( 120 + $(ITERS) / 100 ))

# The store's power-cut torture (docs/store.md): CYCLES boots of scenario `torture`, each
# killed with SIGKILL at a random moment (SEED picks them), checked at the next boot for
# lost, resurrected or damaged writes. `make test` runs 10 cycles (qemu/runner/tests/store.rs).
CYCLES ?= 1000
torture: deps test-images
	$(CARGO) run --quiet --release -p tileos-qemu --bin tileos-torture -- $(CYCLES) $(SEED)

# Host figures of the library cores: bundle encode/decode, bundles per second over loopback
# TCPCL in one session (1 KiB and 64 KiB), and CRDT delta merges per second.
bench-host:
	$(CARGO) run --quiet --release -p tileos-dtn-node --bin tileos-bench-host
	$(CARGO) run --quiet --release -p tileos-dtn-node --bin tileos-dtn-node -- bench
	$(CARGO) run --quiet --release -p tileos-crdt --example merge_rate

# The tile lab (docs/federation.md, "The tile lab"): N tiles joined by relays the lab
# controls, running a scenario of tools/tile-lab/scenarios/ (or a path); KIND=host runs each
# tile as a host node (tileos-dtn-node's store-and-forward node), KIND=qemu as a QEMU tile
# (needs test-images and the federation domain). Prints the timeline and summary, writes the
# report as JSON to $(LAB_JSON), and fails if a check of the scenario fails.
SCENARIO ?= partition-heal-8
N ?=
KIND ?= host
LAB_JSON ?= $(BUILD)/lab.json
LAB_SCENARIO = $(if $(findstring /,$(SCENARIO)),$(SCENARIO),tools/tile-lab/scenarios/$(SCENARIO).toml)
lab:
	$(CARGO) run --quiet --release -p tileos-tile-lab -- run $(LAB_SCENARIO) $(if $(N),--tiles $(N)) --kind $(KIND) \
	  --work $(BUILD)/lab --json $(LAB_JSON)

# The lab's figures (docs/federation.md, "Figures"): partition-heal-n at N = 4, 8 and 16 and
# throughput-2, each with QEMU tiles and with host nodes (tileos-dtn-node's node), then one
# table of them all. Reports in $(BUILD)/lab-bench/. Takes a few minutes; runs QEMU.
LAB_BENCH := $(BUILD)/lab-bench
lab-bench: deps test-images
	@mkdir -p $(LAB_BENCH)
	@for kind in qemu host; do \
	  for n in 4 8 16; do \
	    $(CARGO) run --quiet --release -p tileos-tile-lab -- run tools/tile-lab/scenarios/partition-heal-n.toml --tiles $$n \
	      --kind $$kind --work $(BUILD)/lab --json $(LAB_BENCH)/partition-heal-$$n-$$kind.json >$(LAB_BENCH)/partition-heal-$$n-$$kind.log 2>&1 \
	      || { tail -40 $(LAB_BENCH)/partition-heal-$$n-$$kind.log; exit 1; }; \
	    echo "lab-bench: partition-heal-n N=$$n $$kind done"; \
	  done; \
	  $(CARGO) run --quiet --release -p tileos-tile-lab -- run tools/tile-lab/scenarios/throughput-2.toml \
	    --kind $$kind --work $(BUILD)/lab --json $(LAB_BENCH)/throughput-2-$$kind.json >$(LAB_BENCH)/throughput-2-$$kind.log 2>&1 \
	    || { tail -40 $(LAB_BENCH)/throughput-2-$$kind.log; exit 1; }; \
	  echo "lab-bench: throughput-2 $$kind done"; \
	done
	$(CARGO) run --quiet --release -p tileos-tile-lab -- table $(LAB_BENCH)/*.json

loc:
	@$(CARGO) run --quiet -p tileos-loc -- kernel 10000

clean:
	rm -rf $(BUILD) target
