#!/usr/bin/env bash
# Rootless benchmark (issue 5), in one run:
#
#   1. `run --rm --network none IMAGE true`, hyperfine medians, for podman-rs
#      and Podman 4.3.1, each as root and as a normal user (rootless). Every
#      command goes through the same `runuser -u USER -- env -i …` wrapper, so
#      the four medians carry the same wrapper cost and compare directly.
#   2. The first `run --rm --userns=keep-id` of a ~200 MiB image vs a plain
#      `run --rm` of it, as the user (podman-rs: goal <= 200 ms extra; Podman
#      copies and re-owns the whole image for a new mapping), with /dev/fuse
#      usable (fuse-overlayfs idmaps the layers) and without (a copy).
#      KEEPID_ROUNDS images per case (all imported first), medians
#      reported; plus one run right after `rmi` + re-import of one of them.
#
#   sudo bench/rootless.sh
#   PODMAN_RS_BIN=/path/to/podman-rs RUNS=30 sudo bench/rootless.sh
#
# The benchmark user `prs-bench` (created if missing, with subordinate ids
# 400000:65536 added to /etc/subuid and /etc/subgid if it has none) runs
# with its own XDG_RUNTIME_DIR and store under a temp directory, so nobody's
# real stores are touched; everything is removed on exit.
#
# Environment:
#   PODMAN_RS_BIN   podman-rs binary (default: the release build, see lib.sh)
#   RUNS, WARMUP    hyperfine runs / warm-up runs (default 20 / 2)
#   BIG_MIB         size of the keep-id image's extra data (default 200)
#   KEEPID_ROUNDS   rounds of part 2 (default 3)
#   RESULTS_DIR     where rootless-<date>.txt goes (default bench/results)
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

RUNS="${RUNS:-20}"
WARMUP="${WARMUP:-2}"
BIG_MIB="${BIG_MIB:-200}"
KEEPID_ROUNDS="${KEEPID_ROUNDS:-3}"
RESULTS_DIR="${RESULTS_DIR:-$BENCH_DIR/results}"
STAMP="$(date +%Y-%m-%d)"
BUSER=prs-bench

is_root || die "creating the benchmark user and running root containers needs root"
ensure_debs hyperfine podman crun busybox-static uidmap passwd util-linux file python3 fuse-overlayfs

PODMAN_RS="$(podman_rs_bin)"
# The binary must be readable and executable by the user.
WORK="$(mktemp -d /var/tmp/prs-rl.XXXXXX)"
chmod 0755 "$WORK"
cp "$PODMAN_RS" "$WORK/podman-rs"
chmod 0755 "$WORK/podman-rs"
BIN="$WORK/podman-rs"

if ! id -u "$BUSER" >/dev/null 2>&1; then
    useradd -m -s /bin/sh "$BUSER"
fi
BUID="$(id -u "$BUSER")"
for f in /etc/subuid /etc/subgid; do
    grep -q "^$BUSER:" "$f" || echo "$BUSER:400000:65536" >>"$f"
done
BHOME="$(getent passwd "$BUSER" | cut -d: -f6)"
XDG="$WORK/xdg"
mkdir -p "$XDG"
chown "$BUSER:$BUSER" "$XDG"
chmod 0700 "$XDG"

# as USER CMD... : CMD as USER, in the same clean environment for everyone.
as() {
    local u="$1"
    shift
    local home=/root xdg="$WORK/xdg-root"
    if [ "$u" = "$BUSER" ]; then home="$BHOME"; xdg="$XDG"; fi
    runuser -u "$u" -- env -i HOME="$home" USER="$u" LOGNAME="$u" \
        PATH=/usr/local/bin:/usr/bin:/bin XDG_RUNTIME_DIR="$xdg" "$@"
}
mkdir -p "$WORK/xdg-root"
chmod 0700 "$WORK/xdg-root"

PR_ROOT=("$BIN" --root "$WORK/pr" --runroot "$WORK/prr")
PD_ROOT=(podman --root "$WORK/pd" --runroot "$WORK/pdr" --storage-driver overlay
         --cgroup-manager cgroupfs --events-backend file)
PR_USER=("$BIN")
PD_USER=(podman --root "$WORK/pdu" --runroot "$XDG/pdr" --storage-driver overlay
         --cgroup-manager cgroupfs --events-backend file)
mkdir -p "$WORK/pdu"
chown "$BUSER:$BUSER" "$WORK/pdu"
PD_RUN=(--network none --ulimit nofile=1024:1024 --ulimit nproc=1024:1024)

cleanup() {
    local rc=$? mp
    set +e
    trap - EXIT INT TERM
    as "$BUSER" "${PR_USER[@]}" rm -fa -t 0 >/dev/null 2>&1
    as "$BUSER" "${PR_USER[@]}" system migrate >/dev/null 2>&1
    as "$BUSER" "${PD_USER[@]}" rm -fa -t 0 >/dev/null 2>&1
    as "$BUSER" "${PD_USER[@]}" system reset -f >/dev/null 2>&1
    "${PR_ROOT[@]}" rm -fa -t 0 >/dev/null 2>&1
    "${PD_ROOT[@]}" rm -fa -t 0 >/dev/null 2>&1
    "${PD_ROOT[@]}" system reset -f >/dev/null 2>&1
    pkill -KILL -u "$BUSER" 2>/dev/null
    for mp in $(findmnt -rn -o TARGET | grep "^$WORK/" | sort -r); do
        umount "$mp" 2>/dev/null || umount -l "$mp" 2>/dev/null
    done
    rm -rf --one-file-system "$WORK" "$BHOME/.local/share/podman-rs"
    [ -z "${FUSE_MODE:-}" ] || chmod "$FUSE_MODE" /dev/fuse
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"
if awk -v l="${LOAD_BEFORE%% *}" 'BEGIN { exit !(l > 0.5) }'; then
    log "warning: load average is $LOAD_BEFORE; other work on the machine will skew the timings"
fi

# ------------------------------------------------------------------ images
log "building the busybox image (and a ${BIG_MIB} MiB one) as tarballs"
busybox_rootfs "$WORK/small"
tar -C "$WORK/small" -cf "$WORK/small.tar" .
cp -a "$WORK/small" "$WORK/big"
mkdir -p "$WORK/big/data/many"
# A few big files and a few thousand small ones: ~BIG_MIB MiB in all.
big_each=$(( (BIG_MIB - 20) / 4 ))
for i in 1 2 3 4; do
    head -c "$((big_each * 1024 * 1024))" /dev/urandom >"$WORK/big/data/big$i"
done
python3 - "$WORK/big/data/many" <<'PY'
import os, sys
d = sys.argv[1]
for i in range(2000):
    with open(os.path.join(d, f"f{i}"), "wb") as f:
        f.write(os.urandom(10 * 1024))
PY
tar -C "$WORK/big" -cf "$WORK/big.tar" .
chmod 0644 "$WORK/small.tar" "$WORK/big.tar"

import_all() {
    "${PR_ROOT[@]}" import -q "$WORK/small.tar" localhost/bench-small >/dev/null
    "${PD_ROOT[@]}" import -q "$WORK/small.tar" localhost/bench-small >/dev/null
    as "$BUSER" "${PR_USER[@]}" import -q "$WORK/small.tar" localhost/bench-small >/dev/null
    as "$BUSER" "${PD_USER[@]}" import -q "$WORK/small.tar" localhost/bench-small >/dev/null
}
import_all

for who in root "$BUSER"; do
    if [ "$who" = root ]; then pr=("${PR_ROOT[@]}"); pd=("${PD_ROOT[@]}"); else pr=("${PR_USER[@]}"); pd=("${PD_USER[@]}"); fi
    out="$(as "$who" "${pr[@]}" run --rm --network none localhost/bench-small echo ok 2>&1)" ||
        die "podman-rs as $who: $out"
    out="$(as "$who" "${pd[@]}" run --rm "${PD_RUN[@]}" localhost/bench-small echo ok 2>&1)" ||
        die "podman as $who: $out"
done

# ------------------------------------------------- part 1: run --rm true
q() { printf '%q ' "$@"; }
wrap() { local u="$1"; shift; q runuser -u "$u" -- env -i HOME="$( [ "$u" = root ] && echo /root || echo "$BHOME")" USER="$u" LOGNAME="$u" PATH=/usr/local/bin:/usr/bin:/bin XDG_RUNTIME_DIR="$( [ "$u" = root ] && echo "$WORK/xdg-root" || echo "$XDG")" "$@"; }
log "part 1: run --rm true, root vs rootless, podman-rs vs podman ($RUNS runs each)"
hyperfine -N --warmup "$WARMUP" --runs "$RUNS" --export-json "$WORK/p1.json" \
    -n "podman-rs root" "$(wrap root "${PR_ROOT[@]}" run --rm --network none localhost/bench-small true)" \
    -n "podman-rs rootless" "$(wrap "$BUSER" "${PR_USER[@]}" run --rm --network none localhost/bench-small true)" \
    -n "podman root" "$(wrap root "${PD_ROOT[@]}" run --rm "${PD_RUN[@]}" localhost/bench-small true)" \
    -n "podman rootless" "$(wrap "$BUSER" "${PD_USER[@]}" run --rm "${PD_RUN[@]}" localhost/bench-small true)" \
    >/dev/null
p1() { jq -r --arg n "$1" '.results[] | select(.command == $n) | .median * 1000' "$WORK/p1.json"; }
PRR="$(p1 "podman-rs root")"; PRU="$(p1 "podman-rs rootless")"
PDR="$(p1 "podman root")"; PDU="$(p1 "podman rootless")"

# --------------------------------------------- part 2: first keep-id run
KEEPID=""
if as "$BUSER" "$BIN" run --help 2>/dev/null | grep -q -- '--userns'; then
    log "part 2: first run --userns=keep-id of a ${BIG_MIB} MiB image vs a plain run ($KEEPID_ROUNDS rounds)"
    ms() { local s e; s="${EPOCHREALTIME/[.,]/}"; "$@" >/dev/null 2>&1 || return 1; e="${EPOCHREALTIME/[.,]/}"; echo $(( (10#$e - 10#$s) / 1000 )); }
    # One image per round (a marker file makes each layer new), all imported
    # before anything is measured or deleted: on a filesystem that has just
    # freed many inodes, ext4 without a journal (this VM's) scans past each
    # recently freed inode for every new one, which would time the deletion
    # rather than the copy. That case is measured once on its own below.
    # Two sets: one run with /dev/fuse usable (fuse-overlayfs idmaps the
    # layers, nothing is copied; /dev/fuse is 0666 on a standard Debian
    # install), one without (the layers are copied with the new owners).
    FUSE_MODE="$(stat -c %a /dev/fuse)"
    mkdir -p "$WORK/marker"
    for set in fuse copy; do
        for r in $(seq 1 "$KEEPID_ROUNDS"); do
            cp "$WORK/big.tar" "$WORK/big-$set-$r.tar"
            echo "$set $r" >"$WORK/marker/round"
            tar -C "$WORK/marker" -rf "$WORK/big-$set-$r.tar" ./round
            chmod 0644 "$WORK/big-$set-$r.tar"
            as "$BUSER" "${PR_USER[@]}" import -q "$WORK/big-$set-$r.tar" "localhost/bench-big-$set-$r" >/dev/null
        done
    done
    for r in $(seq 1 "$KEEPID_ROUNDS"); do
        as "$BUSER" "${PD_USER[@]}" import -q "$WORK/big-copy-$r.tar" "localhost/bench-big-copy-$r" >/dev/null
    done
    declare -A plain keep
    pdkeep=()
    for set in fuse copy; do
        if [ "$set" = fuse ]; then chmod 0666 /dev/fuse; else chmod 0600 /dev/fuse; fi
        plain[$set]=""; keep[$set]=""
        for r in $(seq 1 "$KEEPID_ROUNDS"); do
            img="localhost/bench-big-$set-$r"
            as "$BUSER" "${PR_USER[@]}" run --rm --network none "$img" true >/dev/null
            p="$(ms as "$BUSER" "${PR_USER[@]}" run --rm --network none "$img" true)"
            k="$(ms as "$BUSER" "${PR_USER[@]}" run --rm --network none --userns=keep-id "$img" true)" ||
                die "podman-rs run --userns=keep-id failed ($set)"
            plain[$set]+="$p "; keep[$set]+="$k "
            line="round $r ($set): plain $p ms, keep-id $k ms"
            if [ "$set" = copy ]; then
                pdkeep+=("$(ms as "$BUSER" "${PD_USER[@]}" run --rm "${PD_RUN[@]}" --userns=keep-id "$img" true)")
                line="$line, podman keep-id ${pdkeep[-1]} ms"
            fi
            log "$line"
        done
    done
    # Right after deleting an image and its copy (rmi, import, keep-id).
    img="localhost/bench-big-copy-1"
    as "$BUSER" "${PR_USER[@]}" rmi -f "$img" >/dev/null
    as "$BUSER" "${PR_USER[@]}" import -q "$WORK/big-copy-1.tar" "$img" >/dev/null
    AFTER_RMI="$(ms as "$BUSER" "${PR_USER[@]}" run --rm --network none --userns=keep-id "$img" true)"
    as "$BUSER" "${PD_USER[@]}" rmi -f "$img" >/dev/null
    as "$BUSER" "${PD_USER[@]}" import -q "$WORK/big-copy-1.tar" "$img" >/dev/null
    PD_AFTER_RMI="$(ms as "$BUSER" "${PD_USER[@]}" run --rm "${PD_RUN[@]}" --userns=keep-id "$img" true)"
    chmod "$FUSE_MODE" /dev/fuse
    log "right after rmi + import (copy): keep-id ${AFTER_RMI} ms, podman keep-id ${PD_AFTER_RMI} ms"
    PDKEEP="$(printf '%s\n' "${pdkeep[@]}" | median)"
    for set in fuse copy; do
        P="$(printf '%s\n' ${plain[$set]} | median)"
        K="$(printf '%s\n' ${keep[$set]} | median)"
        how="fuse-overlayfs idmapping, nothing copied"
        [ "$set" = fuse ] || how="no usable /dev/fuse: layers copied with the new owners"
        KEEPID="$KEEPID$(printf '| first keep-id run, %s MiB image, %s | %s ms | plain run %s ms | extra %s ms (goal <= 200) | podman first keep-id run %s ms |' \
            "$BIG_MIB" "$how" "$K" "$P" "$((K - P))" "$PDKEEP")"$'\n'
    done
    KEEPID="$KEEPID$(printf '| same (copy), right after rmi of that image (ext4 without a journal rescans recently freed inodes) | %s ms | | | podman %s ms |' \
        "$AFTER_RMI" "$PD_AFTER_RMI")"
else
    log "part 2 skipped: this podman-rs has no --userns"
fi

LOAD_AFTER="$(cut -d' ' -f1-3 /proc/loadavg)"
mkdir -p "$RESULTS_DIR"
OUT="$RESULTS_DIR/rootless-$STAMP.txt"
{
    echo "# rootless benchmark $STAMP, podman-rs $(podman_rs_source), $(podman --version)"
    echo "# load before: $LOAD_BEFORE, after: $LOAD_AFTER; $RUNS runs, medians"
    echo
    echo "| run --rm true | root | rootless | rootless/root |"
    echo "|---|---|---|---|"
    awk -v a="$PRR" -v b="$PRU" 'BEGIN { printf "| podman-rs | %.1f ms | %.1f ms | %.2f |\n", a, b, b / a }'
    awk -v a="$PDR" -v b="$PDU" 'BEGIN { printf "| podman | %.1f ms | %.1f ms | %.2f |\n", a, b, b / a }'
    awk -v a="$PDR" -v b="$PRR" -v c="$PDU" -v d="$PRU" 'BEGIN { printf "| podman/podman-rs | %.2f | %.2f | |\n", a / b, c / d }'
    [ -z "$KEEPID" ] || { echo; echo "$KEEPID"; }
} | tee "$OUT"
log "results: $OUT"
