#!/usr/bin/env bash
# Container start-up benchmark: `podman-rs runtime run` vs `crun run` vs
# `runc run` on one busybox bundle, measured by hyperfine in a single run,
# plus the peak RSS of each runtime. See bench/README.md.
#
#   sudo bench/runtime.sh
#   PODMAN_RS_BIN=/path/to/podman-rs RUNS=50 sudo bench/runtime.sh
#
# Environment:
#   PODMAN_RS_BIN  podman-rs binary (default: the release build,
#                  /var/cache/podman-rs/target/release/podman-rs)
#   RUNS           hyperfine timing runs per runtime (default 30)
#   WARMUP         hyperfine warm-up runs per runtime (default 3)
#   RSS_RUNS       runs of /usr/bin/time -f %M per runtime (default 10)
#   RESULTS_DIR    where runtime-<date>.json goes (default bench/results)
#   PODMAN_RS_SOURCE  label of what the binary was built from (default: this
#                  checkout's `git describe --dirty`)
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

RUNS="${RUNS:-30}"
WARMUP="${WARMUP:-3}"
RSS_RUNS="${RSS_RUNS:-10}"
RESULTS_DIR="${RESULTS_DIR:-$BENCH_DIR/results}"
STAMP="$(date +%Y-%m-%d)"

is_root || die "creating containers with crun/runc/podman-rs needs root"
ensure_debs hyperfine crun runc busybox-static time jq util-linux bsdextrautils
ensure_cgroup_v1_hybrid_clean

PODMAN_RS="$(podman_rs_bin)"
CRUN="$(command -v crun)"
RUNC="$(command -v runc)"
GNU_TIME=/usr/bin/time
BUSYBOX=/bin/busybox
file -L "$BUSYBOX" 2>/dev/null | grep -q 'statically linked' ||
    ldd "$BUSYBOX" 2>&1 | grep -q 'not a dynamic executable' ||
    die "$BUSYBOX is not a static binary (install busybox-static)"

WORK="$(mktemp -d /tmp/podman-rs-bench.XXXXXX)"
BUNDLE="$WORK/bundle"
COUNTER="$WORK/counter"
declare -A ROOT=([podman-rs]="$WORK/root-podman-rs" [crun]="$WORK/root-crun" [runc]="$WORK/root-runc")
declare -A CMD=([podman-rs]="$PODMAN_RS runtime --root ${ROOT[podman-rs]}"
                [crun]="$CRUN --root ${ROOT[crun]}"
                [runc]="$RUNC --root ${ROOT[runc]}")
RUNTIMES=(podman-rs crun runc)

# Every container is created with `run`, which deletes it once its process
# exits; on any exit, still force-delete whatever a failed run may have left
# in the private roots, then drop the temp dir.
cleanup() {
    local rt id
    for rt in "${RUNTIMES[@]}"; do
        [ -d "${ROOT[$rt]}" ] || continue
        for id in $(${CMD[$rt]} list -q 2>/dev/null || true); do
            ${CMD[$rt]} delete --force "$id" >/dev/null 2>&1 || true
        done
    done
    rm -rf "$WORK"
}
trap cleanup EXIT

# ------------------------------------------------------------------ bundle
log "building the busybox bundle in $BUNDLE"
mkdir -p "$BUNDLE/rootfs"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,etc,root}
cp "$BUSYBOX" "$BUNDLE/rootfs/bin/busybox"
while read -r applet; do
    [ "$applet" = bin/busybox ] && continue
    mkdir -p "$BUNDLE/rootfs/$(dirname "$applet")"
    ln -sf /bin/busybox "$BUNDLE/rootfs/$applet"
done < <("$BUSYBOX" --list-full)
[ -e "$BUNDLE/rootfs/bin/true" ] || ln -sf /bin/busybox "$BUNDLE/rootfs/bin/true"

# config.json: podman-rs's default spec, not a terminal, running /bin/true.
# No rlimit may exceed the caller's hard limit: root here has no
# CAP_SYS_RESOURCE (and a nofile hard limit of 20000), so raising one fails
# the container's start with EPERM in every runtime.
"$PODMAN_RS" runtime spec --bundle "$BUNDLE"
hard_limits="$(prlimit --pid $$ --raw --noheadings -o RESOURCE,HARD |
    awk '{ v = ($2 == "unlimited" || $2 == "-1") ? "null" : $2; printf "%s\"RLIMIT_%s\": %s", (NR > 1 ? ", " : ""), $1, v }')"
jq --argjson hard "{$hard_limits}" '
    .process.terminal = false
    | .process.args = ["/bin/true"]
    | if .process.rlimits then
        .process.rlimits |= map(
            ($hard[.type] // null) as $h
            | if $h == null then . else .hard = ([.hard, $h] | min) | .soft = ([.soft, .hard] | min) end)
      else . end
' "$BUNDLE/config.json" >"$BUNDLE/config.json.new"
mv "$BUNDLE/config.json.new" "$BUNDLE/config.json"

# Smoke test: each runtime runs the bundle once and leaves nothing behind.
for rt in "${RUNTIMES[@]}"; do
    mkdir -p "${ROOT[$rt]}"
    ${CMD[$rt]} run --bundle "$BUNDLE" "smoke-$rt" </dev/null ||
        die "$rt could not run the bundle: ${CMD[$rt]} run --bundle $BUNDLE smoke-$rt"
done

# ------------------------------------------------------------- hyperfine
# Two cores: anything else running (a cargo build...) shows up directly in the
# timings. The load averages before and after go into the JSON; a warning is
# printed when the machine was busy.
LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"
if awk -v l="${LOAD_BEFORE%% *}" 'BEGIN { exit !(l > 0.5) }'; then
    log "warning: load average is $LOAD_BEFORE; other work on the machine will skew the timings"
fi
# Unique container ids: --prepare (run before every warm-up and timing run)
# bumps a counter file, and each command reads it with the shell builtin
# `read` and execs the runtime, so the timed part is one exec of the runtime
# (hyperfine subtracts the `sh -c` start-up it measures itself).
echo 0 >"$COUNTER"
PREPARE="read i < $COUNTER; echo \$((i + 1)) > $COUNTER"
hf_args=()
for rt in "${RUNTIMES[@]}"; do
    hf_args+=(-n "$rt" "read i < $COUNTER; exec ${CMD[$rt]} run --bundle $BUNDLE bench-$rt-\$i </dev/null")
done
mkdir -p "$RESULTS_DIR"
HF_JSON="$WORK/hyperfine.json"
log "hyperfine: $WARMUP warm-up + $RUNS runs per runtime"
hyperfine --style basic --warmup "$WARMUP" --runs "$RUNS" --prepare "$PREPARE" \
    --export-json "$HF_JSON" "${hf_args[@]}" >&2

# run deletes the container after its process exits: check that none is left.
for rt in "${RUNTIMES[@]}"; do
    left="$(${CMD[$rt]} list -q 2>/dev/null | wc -l)"
    [ "$left" -eq 0 ] || die "$rt left $left containers in ${ROOT[$rt]} after the benchmark"
done

LOAD_AFTER="$(cut -d' ' -f1-3 /proc/loadavg)"

# --------------------------------------------------------------- peak RSS
# GNU time's %M is the peak resident set size, in KiB, of the runtime
# process (for runc and crun, the largest of the runtime process and the
# helper children it waited for); median of RSS_RUNS runs.
log "peak RSS: $RSS_RUNS runs per runtime"
declare -A RSS
for rt in "${RUNTIMES[@]}"; do
    samples=()
    for n in $(seq 1 "$RSS_RUNS"); do
        kb="$($GNU_TIME -f %M -o /dev/stdout ${CMD[$rt]} run --bundle "$BUNDLE" "rss-$rt-$n" </dev/null 2>/dev/null | tail -1)"
        [[ "$kb" =~ ^[0-9]+$ ]] || die "$rt: could not read its peak RSS (got '$kb')"
        samples+=("$kb")
    done
    RSS[$rt]="$(printf '%s\n' "${samples[@]}" | sort -n |
        awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }')"
    left="$(${CMD[$rt]} list -q 2>/dev/null | wc -l)"
    [ "$left" -eq 0 ] || die "$rt left $left containers after the RSS runs"
done

# ---------------------------------------------------------------- results
version() { "$@" 2>/dev/null | head -1 || echo unknown; }
OUT_JSON="$RESULTS_DIR/runtime-$STAMP.json"
jq --arg date "$(date -Iseconds)" --arg kernel "$(uname -r)" \
   --arg podman_rs "$PODMAN_RS" --arg podman_rs_version "$(version "$PODMAN_RS" --version)" \
   --arg crun_version "$(version "$CRUN" --version)" --arg runc_version "$(version "$RUNC" --version)" \
   --arg commit "$(podman_rs_source)" \
   --arg built "$(date -r "$PODMAN_RS" -Iseconds)" \
   --arg load_before "$LOAD_BEFORE" --arg load_after "$LOAD_AFTER" \
   --argjson runs "$RUNS" --argjson warmup "$WARMUP" --argjson rss_runs "$RSS_RUNS" \
   --argjson rss_pr "${RSS[podman-rs]}" --argjson rss_crun "${RSS[crun]}" --argjson rss_runc "${RSS[runc]}" '
    (.results | map({(.command): .}) | add) as $r
    | {
        date: $date, kernel: $kernel, podman_rs_source_tree: $commit,
        binaries: {"podman-rs": $podman_rs, "podman-rs_version": $podman_rs_version, "podman-rs_built": $built,
                   crun: $crun_version, runc: $runc_version},
        runs: $runs, warmup: $warmup, rss_runs: $rss_runs,
        loadavg_before: $load_before, loadavg_after: $load_after,
        median_s: {"podman-rs": $r["podman-rs"].median, crun: $r.crun.median, runc: $r.runc.median},
        mean_s: {"podman-rs": $r["podman-rs"].mean, crun: $r.crun.mean, runc: $r.runc.mean},
        stddev_s: {"podman-rs": $r["podman-rs"].stddev, crun: $r.crun.stddev, runc: $r.runc.stddev},
        ratio_median: {"podman-rs/crun": ($r["podman-rs"].median / $r.crun.median),
                       "podman-rs/runc": ($r["podman-rs"].median / $r.runc.median)},
        peak_rss_kib_median: {"podman-rs": $rss_pr, crun: $rss_crun, runc: $rss_runc},
        hyperfine: .
      }' "$HF_JSON" >"$OUT_JSON"

echo
echo "runtime run of /bin/true in a busybox bundle ($RUNS runs, $WARMUP warm-up; peak RSS: median of $RSS_RUNS)"
jq -r '
    def ms: . * 1000 | . * 100 | round / 100 | tostring;
    ["runtime", "median ms", "mean ms", "stddev ms", "peak RSS KiB"],
    (["podman-rs", "crun", "runc"][] as $k
     | [$k, (.median_s[$k] | ms), (.mean_s[$k] | ms), (.stddev_s[$k] | ms), (.peak_rss_kib_median[$k] | tostring)])
    | @tsv' "$OUT_JSON" | column -t -s $'\t'
jq -r '"ratio of medians: podman-rs/crun = \(.ratio_median["podman-rs/crun"] * 1000 | round / 1000)   podman-rs/runc = \(.ratio_median["podman-rs/runc"] * 1000 | round / 1000)"' "$OUT_JSON"
jq -r 'if .ratio_median["podman-rs/crun"] <= 1 then "goal met: podman-rs median at or below crun'"'"'s" else "goal not met: podman-rs median above crun'"'"'s" end' "$OUT_JSON"
echo "load average before/after hyperfine: $LOAD_BEFORE / $LOAD_AFTER"
echo "results: $OUT_JSON"
