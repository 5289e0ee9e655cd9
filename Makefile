# conceptd: two commands for a fresh Debian 12 machine with the Swift 6 toolchain:
#   make test   installs missing Debian packages, builds, runs the whole suite
#   make run    builds in release and starts the daemon on the demo config
SHELL := /bin/bash
SWIFT ?= swift
# Tests are built optimised: numeric Swift in a debug build is 10-100x slower.
TEST_FLAGS := -c release -Xswiftc -enable-testing
# A target may import only what it declares in Package.swift.
IMPORT_CHECK := --explicit-target-dependency-import-check=error
DEB_PACKAGES := pkg-config libopenblas-dev libavformat-dev libavcodec-dev libavutil-dev \
	libswscale-dev libavdevice-dev libsystemd-dev libssl-dev ffmpeg systemd chromium util-linux \
	python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base gstreamer1.0-plugins-good \
	gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-libav \
	openmpi-bin libopenmpi-dev
# `make test` runs with OpenBLAS on its Haswell kernels, as CI's environment sets: the float32 parity case C flips a
# ReLU tie with the AVX-512 kernels (seen on an Intel Xeon without the variable, 2026-12-06). Benchmarks unset it.
test: export OPENBLAS_CORETYPE ?= Haswell
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

PREFIX ?= /usr/local
DESTDIR ?=
SYSCONFDIR ?= /etc
UNITDIR ?= $(SYSCONFDIR)/systemd/system
# `make install` builds with the Swift runtime linked in, so the service does not depend on the toolchain.
INSTALL_SCRATCH ?= .build-install

.PHONY: deps build test run run-cluster bench-cluster bench bench-step chaos systemd-check install install-files uninstall clean

deps:
	@missing=""; for p in $(DEB_PACKAGES); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi

build: deps
	$(SWIFT) build -c release

test: deps
	@echo "== parity in the float64 verification build (the reference's precision, the strict criterion)"
	$(SWIFT) build $(TEST_FLAGS) $(IMPORT_CHECK) -Xswiftc -DCONCEPT_FLOAT64 --scratch-path .build-f64 --build-tests
	$(SWIFT) test $(TEST_FLAGS) -Xswiftc -DCONCEPT_FLOAT64 --scratch-path .build-f64 --skip-build --disable-xctest --filter ParityTests
	@echo "== the whole suite in the float32 product build"
	$(SWIFT) build $(TEST_FLAGS) $(IMPORT_CHECK) --build-tests
	$(SWIFT) test $(TEST_FLAGS) --skip-build --disable-xctest --skip LearningProbeTests --skip RealTimeSuites
	@echo "== the real-time suites alone (reconnect delays of a flapping stream, RTSP sessions: wall-clock bounds, ~3 min)"
	$(SWIFT) test $(TEST_FLAGS) --skip-build --disable-xctest --filter RealTimeSuites
	@echo "== the learning test alone (two minutes of both cores: beside the timing-sensitive suites it would starve them)"
	$(SWIFT) test $(TEST_FLAGS) --skip-build --disable-xctest --filter LearningProbeTests

DEMO := .build/demo
run: build
	@mkdir -p $(DEMO)/watch
	@test -f $(DEMO)/probe/manifest.tsv || .build/release/conceptctl make-dataset $(DEMO)/probe \
		--backgrounds 4 --motions 4 --clips-per-pair 8 --size 96x96 --frames 48 --test-fraction 0.5 --seed 7
	@echo "conceptd demo: a feeder drops generated clips into $(DEMO)/watch (log: $(DEMO)/feed.log), plus a live test pattern."
	@echo "Dashboard and API: http://127.0.0.1:8787/   (conceptctl watch for a terminal view). Ctrl-C stops it."
	@.build/release/conceptctl feed $(DEMO)/watch --every 15 --clips 4 --backgrounds 4 --motions 4 --size 96x96 --frames 48 > $(DEMO)/feed.log 2>&1 & \
	feeder=$$!; trap 'kill $$feeder 2>/dev/null' EXIT; \
	.build/release/conceptd --config configs/demo.toml

# The cluster demo: two ranks of one Open MPI job on this machine, one compute thread each, each with its own source
# (rank 0: the feeder's generated clips, rank 1: a live test pattern); rank 0 serves the dashboard for both.
CLUSTER_DEMO := .build/cluster-demo
MPIRUN_AS := $(shell [ "$$(id -u)" = 0 ] && echo --allow-run-as-root)
run-cluster: build
	@mkdir -p $(CLUSTER_DEMO)/watch
	@test -f $(CLUSTER_DEMO)/probe/manifest.tsv || .build/release/conceptctl make-dataset $(CLUSTER_DEMO)/probe \
		--backgrounds 4 --motions 4 --clips-per-pair 8 --size 96x96 --frames 48 --test-fraction 0.5 --seed 7
	@echo "conceptd cluster demo: 2 ranks of one job (mpirun -np 2), one model. Rank 0 ingests clips a feeder drops into"
	@echo "$(CLUSTER_DEMO)/watch (log: $(CLUSTER_DEMO)/feed.log), rank 1 a live test pattern."
	@echo "Dashboard and API for the whole job (rank 0): http://127.0.0.1:8788/   (/v1/status has the cluster object)."
	@echo "Ctrl-C stops both ranks at the same step; rank 0 writes the final snapshot."
	@.build/release/conceptctl feed $(CLUSTER_DEMO)/watch --every 15 --clips 4 --backgrounds 4 --motions 4 --size 96x96 --frames 48 > $(CLUSTER_DEMO)/feed.log 2>&1 & \
	feeder=$$!; trap 'kill $$feeder 2>/dev/null' EXIT; \
	.build/release/conceptd launch --config configs/cluster-demo.toml -- $(MPIRUN_AS) --oversubscribe --bind-to none

bench: build
	env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE .build/release/concept-bench conv
	bench/compare_step.sh tiny 8

# The chaos run (a benchmark, not a test): make chaos MINUTES=30. Faults against the release binaries; one summary
# line; non-zero exit on any violation. As root the snapshot directory is a small tmpfs, so the disk can fill up.
chaos: build
	.build/release/concept-bench chaos --minutes $(or $(MINUTES),10)

# The unit under a real systemd 252 (PID 1 in a systemd-nspawn container; root, systemd-container, debootstrap).
systemd-check: build
	systemd/container-check.sh

# Data-parallel scaling: 2 ranks x 1 thread against 1 x 1, tiny and paper presets (README, "A cluster").
bench-cluster: build
	env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE .build/release/concept-bench cluster --presets tiny,paper --batch 4 --paper-batch 2 --steps 9

# Swift against PyTorch for one preset: make bench-step PRESET=paper BATCH=2
bench-step: build
	bench/compare_step.sh $(or $(PRESET),tiny) $(or $(BATCH),8)

# Installs conceptd, conceptctl, the unit and (when none is there yet) the default configuration.
# As root: `make install && systemctl daemon-reload && systemctl enable --now conceptd`.
install: deps
	$(SWIFT) build -c release --static-swift-stdlib --scratch-path $(INSTALL_SCRATCH) --product conceptd
	$(SWIFT) build -c release --static-swift-stdlib --scratch-path $(INSTALL_SCRATCH) --product conceptctl
	$(MAKE) install-files BIN=$(INSTALL_SCRATCH)/release

# The copying half of install, from binaries in BIN (tests use it with DESTDIR and the test build's binaries).
install-files:
	@test -x "$(BIN)/conceptd" && test -x "$(BIN)/conceptctl" || { echo "no conceptd/conceptctl in BIN=$(BIN)"; exit 1; }
	install -D -s -m 0755 "$(BIN)/conceptd" "$(DESTDIR)$(PREFIX)/bin/conceptd"
	install -D -s -m 0755 "$(BIN)/conceptctl" "$(DESTDIR)$(PREFIX)/bin/conceptctl"
	install -d -m 0755 "$(DESTDIR)$(UNITDIR)"
	sed -e 's|/usr/local/bin/|$(PREFIX)/bin/|g' -e 's|/etc/conceptd|$(SYSCONFDIR)/conceptd|g' systemd/conceptd.service \
		> "$(DESTDIR)$(UNITDIR)/conceptd.service"
	chmod 0644 "$(DESTDIR)$(UNITDIR)/conceptd.service"
	sed -e 's|/usr/local/bin/|$(PREFIX)/bin/|g' -e 's|/etc/conceptd|$(SYSCONFDIR)/conceptd|g' systemd/conceptd-cluster.service \
		> "$(DESTDIR)$(UNITDIR)/conceptd-cluster.service"
	chmod 0644 "$(DESTDIR)$(UNITDIR)/conceptd-cluster.service"
	install -d -m 0755 "$(DESTDIR)$(SYSCONFDIR)/conceptd"
	install -d -m 0700 "$(DESTDIR)$(SYSCONFDIR)/conceptd/credentials"
	@if [ -e "$(DESTDIR)$(SYSCONFDIR)/conceptd/conceptd.toml" ]; then \
		echo "kept the existing $(DESTDIR)$(SYSCONFDIR)/conceptd/conceptd.toml (new default: configs/conceptd.toml)"; \
	else install -m 0644 configs/conceptd.toml "$(DESTDIR)$(SYSCONFDIR)/conceptd/conceptd.toml"; fi
	@echo "installed into $(DESTDIR)$(PREFIX)/bin and $(DESTDIR)$(UNITDIR); now: systemctl daemon-reload && systemctl enable --now conceptd"

uninstall:
	rm -f "$(DESTDIR)$(PREFIX)/bin/conceptd" "$(DESTDIR)$(PREFIX)/bin/conceptctl" "$(DESTDIR)$(UNITDIR)/conceptd.service" \
		"$(DESTDIR)$(UNITDIR)/conceptd-cluster.service"
	@echo "left $(DESTDIR)$(SYSCONFDIR)/conceptd and /var/lib/conceptd in place"

clean:
	rm -rf .build
