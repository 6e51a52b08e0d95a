# podman-rs — build, demo and test on Debian 12 (as root).
#
#   make demo   install what is missing, build, push a busybox image to a loopback registry,
#               pull it and run a container from it that prints a greeting (scripts/demo.sh)
#   make test   install what is missing, build, run every test (unit + end-to-end)
#   make bench  runtime benchmark side by side with crun and runc (bench/runtime.sh), then
#               the container benchmark side by side with podman (bench/containers.sh)
#   make bench-containers  issue 4's numbers vs podman and crun (bench/containers.sh)
#   make bench-rootless  issue 5's numbers: rootless vs root, first keep-id run (bench/rootless.sh)
#   make bench-pull  image pull benchmark vs podman pull and skopeo copy (bench/pull.sh)
#
# Builds share a target directory outside the checkout, so a fresh clone (CI) reuses
# what an earlier build on the same machine compiled. A fresh machine just builds longer.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
CARGO_TARGET_DIR ?= /var/cache/podman-rs/target
export CARGO_TARGET_DIR
CARGO ?= cargo
BIN := $(CARGO_TARGET_DIR)/debug/podman-rs
# The release binary is linked statically (static-pie: ASLR kept). Every container start
# executes the binary twice (see runtime/src/exe_guard.rs); without the dynamic loader's
# symbol resolution that is ~1 ms cheaper per start here. --target keeps crt-static away from
# build scripts and proc macros.
RELEASE_TARGET := x86_64-unknown-linux-gnu
RELEASE_BIN := $(CARGO_TARGET_DIR)/$(RELEASE_TARGET)/release/podman-rs

# Debian packages the build and the tests need:
#  libseccomp-dev pkg-config   libseccomp for the seccomp filters (libcontainer, libseccomp crate)
#  busybox-static file          the test/demo root filesystem, and the check that it is static
#  uidmap                       newuidmap/newgidmap (rootless id mappings, the pause namespace)
#  golang-github-containers-common  Podman's seccomp.json, compared with ours in the seccomp tests
#  procps                       ps(1) for `runtime ps`
#  passwd util-linux            useradd and runuser for the rootless tests
#  docker-registry skopeo openssl  a registry on loopback, pushing test images to it, its TLS CA
#  curl python3                 the demo and bench scripts (registry readiness, a free port)
#  slirp4netns                  --network slirp4netns (rootless networking) and its tests
#  passt                        --network pasta (its pasta binary) and its tests
#  fuse-overlayfs               rootless overlay mounts where the kernel refuses them
#  podman crun runc             the oracle engine (it runs containers through podman-rs in a
#                               test) and the runtimes podman-rs is compared with
DEB_PKGS := libseccomp-dev pkg-config busybox-static file uidmap golang-github-containers-common \
            procps passwd util-linux jq podman crun runc docker-registry skopeo openssl \
            curl python3 slirp4netns fuse-overlayfs passt

.PHONY: all deps host-setup build release demo test unit e2e lint fmt bench bench-pull bench-containers bench-rootless

all: build

deps:
	@missing=""; for p in $(DEB_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" != 0 ]; then echo "missing Debian packages:$$missing (run make as root, or apt-get install them)"; exit 1; fi; \
	  echo "installing:$$missing"; \
	  apt-get update -qq; \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi
	@command -v $(CARGO) >/dev/null || { echo "cargo not found: install a Rust toolchain >= 1.85 (rustup)"; exit 1; }

# Host quirk: on a hybrid cgroup layout a controller left on the v2 hierarchy (here hugetlb)
# makes crun refuse to run ("cgroups in hybrid mode not supported"). Binding it to a v1
# hierarchy of its own takes it off v2. podman-rs does not need this; crun (compared with in
# tests and benchmarks) does.
host-setup:
	@if [ "$$(stat -f -c %T /sys/fs/cgroup)" = tmpfs ] && [ -r /sys/fs/cgroup/unified/cgroup.controllers ]; then \
	  for c in $$(cat /sys/fs/cgroup/unified/cgroup.controllers); do \
	    if ! grep -q " /sys/fs/cgroup/$$c cgroup " /proc/mounts; then \
	      echo "moving cgroup controller $$c from v2 to a v1 hierarchy"; \
	      mkdir -p /sys/fs/cgroup/$$c && mount -t cgroup -o $$c cgroup /sys/fs/cgroup/$$c; \
	    fi; \
	  done; \
	fi

build: deps
	$(CARGO) build -p podman-rs-cli

release: deps
	LIBSECCOMP_LINK_TYPE=static LIBSECCOMP_LIB_PATH=/usr/lib/x86_64-linux-gnu \
	RUSTFLAGS="-C target-feature=+crt-static" \
	$(CARGO) build --release -p podman-rs-cli --target $(RELEASE_TARGET)
	@echo "built $(RELEASE_BIN)"

demo: build host-setup
	PODMAN_RS_BIN=$(BIN) bash scripts/demo.sh

test: build host-setup lint
	$(CARGO) test --workspace --no-fail-fast -- --test-threads=2

unit: deps
	$(CARGO) test --workspace --exclude podman-rs-integration-tests

e2e: build host-setup
	$(CARGO) test -p podman-rs-integration-tests -- --test-threads=2

lint: deps
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

bench: release host-setup
	PODMAN_RS_BIN=$(RELEASE_BIN) bash bench/runtime.sh
	PODMAN_RS_BIN=$(RELEASE_BIN) bash bench/containers.sh

bench-containers: release host-setup
	PODMAN_RS_BIN=$(RELEASE_BIN) bash bench/containers.sh

bench-rootless: release host-setup
	PODMAN_RS_BIN=$(RELEASE_BIN) bash bench/rootless.sh

bench-pull: release
	PODMAN_RS_BIN=$(RELEASE_BIN) bash bench/pull.sh
