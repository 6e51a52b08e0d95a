#!/usr/bin/env bash
# Image pull benchmark: a ~200 MiB multi-layer image from a registry on
# 127.0.0.1 into empty storage, `podman-rs pull` vs `podman pull` vs
# `skopeo copy` (pure transfer into an OCI layout), one hyperfine run.
#
#   sudo bench/pull.sh
#   PODMAN_RS_BIN=/path/to/podman-rs RUNS=5 LAYERS=5 LAYER_MIB=40 sudo bench/pull.sh
#
# The image is built offline: LAYERS layers of LAYER_MIB MiB of random data
# each (incompressible, so the transfer is the full size), assembled with
# `podman build` (COPY only, nothing runs) in a private storage and pushed to
# Debian's docker-registry started on a free loopback port. Every timed run
# starts from empty storage (hyperfine --prepare removes it).
# shellcheck source-path=SCRIPTDIR source=lib.sh
set -euo pipefail
. "$(dirname "$0")/lib.sh"

ensure_debs hyperfine podman skopeo docker-registry jq
PODMAN_RS="$(podman_rs_bin)"
RUNS="${RUNS:-5}"
LAYERS="${LAYERS:-5}"
LAYER_MIB="${LAYER_MIB:-40}"
RESULTS_DIR="${RESULTS_DIR:-$BENCH_DIR/results}"

# podman refuses a runroot path longer than 50 characters: keep WORK short.
WORK="$(mktemp -d /var/tmp/prs-pull.XXXXXX)"
REG_PID=""
cleanup() {
    if [ -n "$REG_PID" ]; then kill "$REG_PID" 2>/dev/null || true; wait "$REG_PID" 2>/dev/null || true; fi
    for d in "$WORK"/pd "$WORK"/build-root; do
        [ -d "$d" ] && podman --root "$d" --runroot "$d.run" --storage-driver vfs system reset -f >/dev/null 2>&1 || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT

# ---------------------------------------------------------------- registry
PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
cat > "$WORK/registry.yml" <<YAML
version: 0.1
storage:
  filesystem:
    rootdirectory: $WORK/registry
http:
  addr: 127.0.0.1:$PORT
YAML
docker-registry serve "$WORK/registry.yml" > "$WORK/registry.log" 2>&1 &
REG_PID=$!
for _ in $(seq 1 100); do
    curl -fsS "http://127.0.0.1:$PORT/v2/" >/dev/null 2>&1 && break
    sleep 0.1
done
curl -fsS "http://127.0.0.1:$PORT/v2/" >/dev/null || die "registry did not start: $(cat "$WORK/registry.log")"
IMAGE="127.0.0.1:$PORT/bench/big:latest"

# ------------------------------------------------------------------- image
log "building a $LAYERS x $LAYER_MIB MiB image and pushing it to $IMAGE"
mkdir -p "$WORK/ctx"
{
    echo "FROM scratch"
    for i in $(seq 1 "$LAYERS"); do
        head -c "$((LAYER_MIB * 1024 * 1024))" /dev/urandom > "$WORK/ctx/layer$i.bin"
        echo "COPY layer$i.bin /data/layer$i.bin"
    done
} > "$WORK/ctx/Containerfile"
B=(podman --root "$WORK/build-root" --runroot "$WORK/br" --storage-driver vfs)
"${B[@]}" build -q -t bench/big:latest "$WORK/ctx" >/dev/null
"${B[@]}" push -q --tls-verify=false bench/big:latest "docker://$IMAGE"

# ----------------------------------------------------------------- measure
PR="$WORK/pr"
PD="$WORK/pd"
SK="$WORK/skopeo-dir"
log "hyperfine: $RUNS runs each, empty storage before every run"
hyperfine -N -r "$RUNS" -w 1 --export-json "$WORK/hyperfine.json" \
    -n podman-rs --prepare "rm -rf $PR" \
    "$PODMAN_RS --root $PR --runroot $PR.run pull -q --tls-verify=false $IMAGE" \
    -n podman --prepare "sh -c 'podman --root $PD --runroot $PD.run --storage-driver overlay system reset -f >/dev/null 2>&1; rm -rf $PD $PD.run'" \
    "podman --root $PD --runroot $PD.run --storage-driver overlay pull -q --tls-verify=false $IMAGE" \
    -n skopeo --prepare "rm -rf $SK" \
    "skopeo copy -q --src-tls-verify=false docker://$IMAGE oci:$SK:latest"

# ------------------------------------------------------------------ report
mkdir -p "$RESULTS_DIR"
OUT="$RESULTS_DIR/pull-$(date +%Y-%m-%d).json"
jq --arg src "$(podman_rs_source)" --arg layers "$LAYERS" --arg mib "$LAYER_MIB" \
   '{podman_rs_source: $src, layers: ($layers|tonumber), layer_mib: ($mib|tonumber),
     median_s: (.results | map({(.command): .median}) | add),
     hyperfine: .}' "$WORK/hyperfine.json" > "$OUT"
printf '\npull of a %d x %d MiB image from 127.0.0.1 into empty storage (%d runs)\n' "$LAYERS" "$LAYER_MIB" "$RUNS"
printf '%-10s %10s\n' tool 'median s'
jq -r '.results[] | "\(.command) \(.median)"' "$WORK/hyperfine.json" |
    while read -r name med; do printf '%-10s %10.3f\n' "$name" "$med"; done
jq -r '.results | (map({(.command): .median}) | add) as $m |
    "ratios of medians: podman-rs/podman = \($m["podman-rs"] / $m["podman"] * 1000 | round / 1000)   podman-rs/skopeo = \($m["podman-rs"] / $m["skopeo"] * 1000 | round / 1000)"' "$WORK/hyperfine.json"
echo "results: $OUT"
