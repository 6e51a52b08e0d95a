# Shared helpers for the scripts in bench/ (sourced, not run).
# shellcheck shell=bash

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(cd "$BENCH_DIR/.." && pwd)"

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

is_root() { [ "$(id -u)" -eq 0 ]; }

APT_UPDATED=0
apt_update_once() {
    if [ "$APT_UPDATED" -eq 0 ]; then
        DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
        APT_UPDATED=1
    fi
}

# ensure_debs PKG... : install the Debian packages that are not installed yet
# (only possible as root; otherwise name them and fail).
ensure_debs() {
    local missing=() p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    [ "${#missing[@]}" -eq 0 ] && return 0
    is_root || die "missing Debian packages: ${missing[*]} (run as root, or apt-get install them)"
    log "installing Debian packages: ${missing[*]}"
    apt_update_once
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

# The podman-rs binary: $PODMAN_RS_BIN, default the release build.
podman_rs_bin() {
    local bin="${PODMAN_RS_BIN:-/var/cache/podman-rs/target/release/podman-rs}"
    [ -x "$bin" ] || die "podman-rs binary not found at $bin (build it: cd $REPO_DIR && CARGO_TARGET_DIR=/var/cache/podman-rs/target cargo build --release -p podman-rs-cli, or set PODMAN_RS_BIN)"
    readlink -f "$bin"
}

# crun (1.8.1 in Debian 12) refuses a cgroup v1 "hybrid" layout whose cgroup2
# mount still has a controller attached: it fails every create/run with
# "cgroups in hybrid mode not supported, drop all controllers from cgroupv2".
# On this host the only such controller is hugetlb (it is the one v1 controller
# no hierarchy was mounted for, so it sits in
# /sys/fs/cgroup/unified/cgroup.controllers). Mounting a v1 hugetlb hierarchy
# moves it off the v2 tree; cgroup.controllers then reads empty and crun runs
# containers (checked on the Debian 12 VM, kernel 6.18: `crun run` went from
# exit 1 with that message to exit 0). runc and podman-rs work either way.
# Any other controller still listed there is mounted as v1 the same way.
ensure_cgroup_v1_hybrid_clean() {
    local unified=/sys/fs/cgroup/unified ctrls c
    [ -r "$unified/cgroup.controllers" ] || return 0   # not a hybrid layout
    ctrls="$(cat "$unified/cgroup.controllers")"
    [ -n "$ctrls" ] || return 0
    is_root || die "cgroup v2 still holds controllers ($ctrls): crun needs them moved to v1; run as root"
    for c in $ctrls; do
        if ! mountpoint -q "/sys/fs/cgroup/$c"; then
            log "mounting cgroup v1 hierarchy for '$c' (crun refuses hybrid mode while cgroup2 holds it)"
            mkdir -p "/sys/fs/cgroup/$c"
            mount -t cgroup -o "$c" cgroup "/sys/fs/cgroup/$c"
        fi
    done
    ctrls="$(cat "$unified/cgroup.controllers")"
    [ -z "$ctrls" ] || log "warning: cgroup2 still lists controllers: $ctrls (crun may refuse to run)"
}

# What the podman-rs binary was built from, for the results: $PODMAN_RS_SOURCE
# when set (a binary built elsewhere), else this checkout's `git describe`.
podman_rs_source() {
    echo "${PODMAN_RS_SOURCE:-$(git -C "$REPO_DIR" describe --always --dirty 2>/dev/null || echo unknown)}"
}

# busybox_rootfs DIR : a root filesystem with Debian's static /bin/busybox and
# a symlink for each of its applets (busybox-static must be installed).
busybox_rootfs() {
    local dir="$1" applet
    file -L /bin/busybox 2>/dev/null | grep -q 'statically linked' ||
        die "/bin/busybox is not a static binary (install busybox-static)"
    mkdir -p "$dir"/{bin,proc,sys,dev,tmp,etc,root}
    cp /bin/busybox "$dir/bin/busybox"
    for applet in $(/bin/busybox --list); do
        [ "$applet" = busybox ] || ln -sf busybox "$dir/bin/$applet"
    done
}

# start_registry DIR : Debian's docker-registry on a free 127.0.0.1 port,
# storing under DIR. Sets REG_PID (kill it in the caller's cleanup) and
# REG_ADDR (127.0.0.1:PORT).
start_registry() {
    local dir="$1" port
    mkdir -p "$dir"
    port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
    cat >"$dir/registry.yml" <<YAML
version: 0.1
storage:
  filesystem:
    rootdirectory: $dir/data
http:
  addr: 127.0.0.1:$port
YAML
    docker-registry serve "$dir/registry.yml" >"$dir/registry.log" 2>&1 &
    REG_PID=$!
    REG_ADDR="127.0.0.1:$port"
    for _ in $(seq 1 100); do
        curl -fsS "http://$REG_ADDR/v2/" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    die "registry did not start: $(cat "$dir/registry.log")"
}

# median : the median of the numbers on stdin, one a line.
median() {
    sort -g | awk '{ a[NR] = $1 } END { if (NR == 0) exit 1; print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}
