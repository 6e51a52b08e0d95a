#!/usr/bin/env bash
# Container engine benchmark (issue 4): podman-rs side by side with Podman
# 4.3.1 (crun), and with bare `crun run` as the floor, in one run:
#
#   1. 16 concurrent `run --rm IMAGE sleep 1`: median wall time per run and
#      total wall time                          goal: podman-rs median <= 1.2 s
#   2. `run --rm IMAGE true`, hyperfine medians  goals: podman/podman-rs >= 5,
#      plus `crun run` of a bundle with the same      podman-rs/crun <= 1.5
#      rootfs and podman-rs's own config.json
#   3. `ps -a` with 1000 created containers      goal: podman-rs < 20 ms
#   4. peak RSS of the CLIs (GNU time %M), and of podman-rs's container
#      monitor and Podman's conmon (VmHWM while a `sleep` container runs)
#
#   sudo bench/containers.sh
#   PODMAN_RS_BIN=/path/to/podman-rs RUNS=30 PS_N=500 sudo bench/containers.sh
#
# The image is a busybox rootfs built offline (`podman build` FROM scratch,
# COPY only) and pushed to Debian's docker-registry on a free loopback port;
# both engines pull it from there into private stores in a temp directory
# (Podman: --root/--runroot there, cgroupfs, file events), so the user's
# Podman store is never touched. Everything (containers, stores, registry)
# is removed on exit, failed or not.
#
# Environment:
#   PODMAN_RS_BIN     podman-rs binary (default: the release build, see lib.sh)
#   PAR_N             concurrent runs in part 1 (default 16)
#   RUNS, WARMUP      hyperfine runs / warm-up runs in parts 2 and 3 (20 / 2)
#   PS_N              containers created for part 3 (default 1000)
#   PS_JOBS           parallel `create` processes while setting up part 3 (4)
#   PODMAN_PS_BUDGET  seconds Podman's `create`s may take in part 3 (180); when
#                     the projection says N would take longer, Podman gets a
#                     smaller N (printed in the results)
#   RSS_RUNS          /usr/bin/time runs per CLI, median taken (default 5)
#   RESULTS_DIR       where containers-<date>.txt goes (default bench/results)
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PAR_N="${PAR_N:-16}"
RUNS="${RUNS:-20}"
WARMUP="${WARMUP:-2}"
PS_N="${PS_N:-1000}"
PS_JOBS="${PS_JOBS:-4}"
PODMAN_PS_BUDGET="${PODMAN_PS_BUDGET:-180}"
RSS_RUNS="${RSS_RUNS:-5}"
RESULTS_DIR="${RESULTS_DIR:-$BENCH_DIR/results}"
STAMP="$(date +%Y-%m-%d)"

is_root || die "running containers with podman-rs, podman and crun needs root"
ensure_debs hyperfine podman crun docker-registry busybox-static time jq curl python3 util-linux file
ensure_cgroup_v1_hybrid_clean

PODMAN_RS="$(podman_rs_bin)"
CRUN="$(command -v crun)"
GNU_TIME=/usr/bin/time

# podman refuses a runroot path longer than 50 characters: keep WORK short.
WORK="$(mktemp -d /var/tmp/prs-ctr.XXXXXX)"
BUNDLE="$WORK/bundle"
CRUN_ROOT="$WORK/crun"
PR=("$PODMAN_RS" --root "$WORK/pr" --runroot "$WORK/prr")
PD=(podman --root "$WORK/pd" --runroot "$WORK/pdr" --storage-driver overlay
    --cgroup-manager cgroupfs --events-backend file)
BUILD=(podman --root "$WORK/br" --runroot "$WORK/brr" --storage-driver vfs
       --cgroup-manager cgroupfs --events-backend file)
# Root's hard nofile/nproc limits here are below Podman's defaults (1048576),
# which would fail every start. --network none: a network namespace with only
# loopback, what podman-rs gives a container by default (no bridge yet), so
# both engines do the same work and the host's podman0 bridge is not touched.
PD_RUN=(--network none --ulimit nofile=1024:1024 --ulimit nproc=1024:1024)
REG_PID=""
BG_PIDS=()

cleanup() {
    local rc=$? p mp
    set +e
    trap - EXIT INT TERM
    for p in "${BG_PIDS[@]}"; do kill "$p" 2>/dev/null; done
    for p in "${BG_PIDS[@]}"; do wait "$p" 2>/dev/null; done
    # Processes of this run that are still alive (a hung CLI or monitor
    # ignores SIGTERM): every one names WORK on its command line.
    for p in $(pgrep -f -- "$WORK/"); do
        [ "$p" = "$REG_PID" ] || kill -KILL "$p" 2>/dev/null
    done
    if [ -d "$WORK/pr" ]; then
        "${PR[@]}" rm -fa -t 0 >/dev/null 2>&1 ||
            log "warning: podman-rs rm -fa failed; removing its store by hand"
    fi
    if [ -d "$WORK/pd" ]; then
        "${PD[@]}" rm -fa -t 0 >/dev/null 2>&1
        "${PD[@]}" system reset -f >/dev/null 2>&1
    fi
    [ -d "$WORK/br" ] && "${BUILD[@]}" system reset -f >/dev/null 2>&1
    [ -d "$CRUN_ROOT" ] && "$CRUN" --root "$CRUN_ROOT" delete -f bench-crun >/dev/null 2>&1
    if [ -n "$REG_PID" ]; then kill "$REG_PID" 2>/dev/null; wait "$REG_PID" 2>/dev/null; fi
    # Whatever is still mounted under WORK (podman-rs's netns bind mount,
    # a container rootfs a failure left behind), innermost first.
    for mp in $(findmnt -rn -o TARGET | grep "^$WORK/" | sort -r); do
        umount "$mp" 2>/dev/null || umount -l "$mp" 2>/dev/null
    done
    rm -rf --one-file-system "$WORK"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A run that hangs must not hang the benchmark: every timed command runs
# under a deadline. hung DESC : dies naming what hung and the processes of
# this run still alive (the cleanup kills them).
CMD_TIMEOUT="${CMD_TIMEOUT:-60}"
HF_TIMEOUT="${HF_TIMEOUT:-300}"
hung() {
    log "still running:"
    pgrep -a -f -- "$WORK/" | grep -v "docker-registry" | cut -c1-300 >&2 || true
    die "HUNG: $*"
}

# now_us : wall clock in microseconds, without a fork.
now_us() { local t="${EPOCHREALTIME/[.,]/}"; echo "$((10#$t))"; }

LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"
if awk -v l="${LOAD_BEFORE%% *}" 'BEGIN { exit !(l > 0.5) }'; then
    log "warning: load average is $LOAD_BEFORE; other work on the machine will skew the timings"
fi

# ------------------------------------------------------------------- image
start_registry "$WORK/registry"
IMAGE="$REG_ADDR/bench/busybox:latest"
log "building a busybox image and pushing it to $IMAGE"
busybox_rootfs "$WORK/ctx/rootfs"
printf 'FROM scratch\nCOPY rootfs/ /\nCMD ["sh"]\n' >"$WORK/ctx/Containerfile"
"${BUILD[@]}" build -q -t bench/busybox:latest "$WORK/ctx" >/dev/null
"${BUILD[@]}" push -q --tls-verify=false bench/busybox:latest "docker://$IMAGE"
"${PR[@]}" pull -q --tls-verify=false "$IMAGE" >/dev/null ||
    die "podman-rs could not pull: ${PR[*]} pull -q --tls-verify=false $IMAGE"
"${PD[@]}" pull -q --tls-verify=false "$IMAGE" >/dev/null

# Smoke test: both engines run the image once and keep nothing.
out="$("${PR[@]}" run --rm "$IMAGE" echo ok 2>&1)" ||
    die "podman-rs: ${PR[*]} run --rm $IMAGE echo ok: $out"
[ "$out" = ok ] || die "podman-rs: run --rm $IMAGE echo ok printed '$out'"
out="$("${PD[@]}" run --rm "${PD_RUN[@]}" "$IMAGE" echo ok 2>&1)" ||
    die "podman: run --rm $IMAGE echo ok: $out"

# ------------------------------------- monitor RSS and the crun bundle
# One detached `sleep` container per engine. While it runs: podman-rs's
# config.json is copied for the crun bundle, and the monitor's (podman-rs) or
# conmon's (Podman) VmHWM is read every 0.1 s until the process is gone; the
# last value read is its peak RSS.
# private_kib PID : the process's dirty private memory (KiB, Private_Dirty of
# smaps_rollup: heap, stacks, written data), what one more container costs;
# VmHWM also counts the clean pages of the binary and libraries, shared by
# every instance (12 MiB of podman-rs's 13 MiB).
private_kib() {
    awk '/^Private_Dirty:/ { kb += $2 } END { print kb + 0 }' "/proc/$1/smaps_rollup" 2>/dev/null || echo NA
}
# vmhwm_until_exit PID : prints the last VmHWM (KiB) of PID.
vmhwm_until_exit() {
    local pid="$1" kb="" v n
    for n in $(seq 1 150); do   # at most 15 s
        v="$(awk '/^VmHWM:/ { print $2 }' "/proc/$pid/status" 2>/dev/null)" || break
        [ -n "$v" ] || break
        kb="$v"
        sleep 0.1
    done
    echo "${kb:-NA}"
}
log "monitor/conmon peak RSS (a detached sleep 2 container each)"
id="$("${PR[@]}" run -d "$IMAGE" sleep 2)" || die "podman-rs: ${PR[*]} run -d $IMAGE sleep 2 failed"
inspect="$("${PR[@]}" inspect "$id")"
ctr_pid="$(jq -r '.[0].State.Pid' <<<"$inspect")"
cfg="$(jq -r '.[0].OCIConfigPath' <<<"$inspect")"
[ -n "$ctr_pid" ] && [ "$ctr_pid" != 0 ] || die "podman-rs: inspect $id shows no running pid"
MON_PID="$(awk '{ print $4 }' "/proc/$ctr_pid/stat")"
grep -qa container-monitor "/proc/$MON_PID/cmdline" ||
    log "warning: the parent of the container process ($MON_PID) is not a podman-rs container-monitor"
mkdir -p "$BUNDLE/files"
cp "$cfg" "$BUNDLE/config.json"
# The per-container files bind-mounted into the container (hosts,
# resolv.conf, hostname, .containerenv) get copies in the bundle.
for src in $(jq -r --arg w "$WORK/" '.mounts[].source | select(startswith($w))' "$BUNDLE/config.json"); do
    cp "$src" "$BUNDLE/files/"
done
PRIV_MONITOR="$(private_kib "$MON_PID")"
RSS_MONITOR="$(vmhwm_until_exit "$MON_PID")"
"${PR[@]}" wait "$id" >/dev/null 2>&1 || true
"${PR[@]}" rm -f "$id" >/dev/null

id="$("${PD[@]}" run -d "${PD_RUN[@]}" "$IMAGE" sleep 2)"
CONMON_PID="$("${PD[@]}" inspect --format '{{.State.ConmonPid}}' "$id")"
PRIV_CONMON="$(private_kib "$CONMON_PID")"
RSS_CONMON="$(vmhwm_until_exit "$CONMON_PID")"
"${PD[@]}" rm -f -t 0 "$id" >/dev/null

# The crun bundle: podman-rs's config.json for that container, with the
# busybox rootfs the image was built from (a plain directory: no overlay
# mount), the copied files, a new network namespace instead of podman-rs's
# persistent one, crun's default cgroup, and /bin/true.
cp -a "$WORK/ctx/rootfs" "$BUNDLE/rootfs"
jq --arg w "$WORK/" --arg files "$BUNDLE/files/" '
    .root = {path: "rootfs", readonly: false}
    | .process.args = ["/bin/true"]
    | .process.terminal = false
    | .mounts |= map(if (.source | startswith($w)) then .source = $files + (.source | split("/") | last) else . end)
    | .linux.namespaces |= map(del(.path))
    | del(.linux.cgroupsPath)
' "$BUNDLE/config.json" >"$BUNDLE/config.json.new"
mv "$BUNDLE/config.json.new" "$BUNDLE/config.json"
mkdir -p "$CRUN_ROOT"
"$CRUN" --root "$CRUN_ROOT" run --bundle "$BUNDLE" bench-crun </dev/null ||
    die "crun could not run the bundle: $CRUN --root $CRUN_ROOT run --bundle $BUNDLE bench-crun"

# ------------------------------------------------ 1. parallel scaling
# par_round NAME CMD... : PAR_N concurrent runs of CMD, each timed on its own
# ("ms exit-status" in WORK/par-NAME/I.t, stderr in I.err); sets PAR_WALL to
# the round's wall time in ms.
par_round() {
    local name="$1" dir="$WORK/par-$1" t0 i p
    shift
    mkdir -p "$dir"
    BG_PIDS=()
    t0="$(now_us)"
    for i in $(seq 1 "$PAR_N"); do
        (
            s="$(now_us)"
            if timeout -s KILL "$CMD_TIMEOUT" "$@" </dev/null >/dev/null 2>"$dir/$i.err"; then rc=0; else rc=$?; fi
            e="$(now_us)"
            echo "$(((e - s) / 1000)) $rc" >"$dir/$i.t"
        ) &
        BG_PIDS+=($!)
    done
    for p in "${BG_PIDS[@]}"; do wait "$p" || true; done
    PAR_WALL=$((($(now_us) - t0) / 1000))
    BG_PIDS=()
}
# par_failures NAME : how many runs of the round failed (the first error is logged).
par_failures() {
    local dir="$WORK/par-$1" f n=0 rc
    for f in "$dir"/*.t; do
        rc="$(cut -d' ' -f2 "$f")"
        if [ "$rc" != 0 ]; then
            n=$((n + 1))
            [ "$rc" = 137 ] && log "$1: a parallel run was killed after $CMD_TIMEOUT s (hung)"
            [ "$n" -eq 1 ] && log "$1: a parallel run failed (exit $rc): $(head -c 400 "${f%.t}.err")"
        fi
    done
    echo "$n"
}
par_median() { cut -d' ' -f1 "$WORK/par-$1"/*.t | median; }
par_max() { cut -d' ' -f1 "$WORK/par-$1"/*.t | sort -n | tail -1; }

log "1. $PAR_N concurrent run --rm $IMAGE sleep 1: podman-rs"
par_round podman-rs "${PR[@]}" run --rm "$IMAGE" sleep 1
PAR_WALL_PR="$PAR_WALL"
log "1. $PAR_N concurrent run --rm $IMAGE sleep 1: podman"
par_round podman "${PD[@]}" run --rm "${PD_RUN[@]}" "$IMAGE" sleep 1
PAR_WALL_PD="$PAR_WALL"
PAR_FAIL_PR="$(par_failures podman-rs)"
PAR_FAIL_PD="$(par_failures podman)"
PAR_MED_PR="$(par_median podman-rs)"
PAR_MED_PD="$(par_median podman)"
PAR_MAX_PR="$(par_max podman-rs)"
PAR_MAX_PD="$(par_max podman)"
left_pr="$("${PR[@]}" ps -aq | wc -l)"
left_pd="$("${PD[@]}" ps -aq | wc -l)"
[ "$left_pr" -eq 0 ] || log "podman-rs: $left_pr containers left after the parallel run --rm round"
[ "$left_pd" -eq 0 ] || log "podman: $left_pd containers left after the parallel run --rm round"

# --------------------------------------------------- 2. run --rm true
log "2. hyperfine: run --rm $IMAGE true ($WARMUP warm-up + $RUNS runs each)"
HF_RUN="$WORK/hf-run.json"
timeout -s KILL "$HF_TIMEOUT" hyperfine -N --style basic --warmup "$WARMUP" --runs "$RUNS" --export-json "$HF_RUN" \
    -n podman-rs "${PR[*]} run --rm $IMAGE true" \
    -n podman "${PD[*]} run --rm ${PD_RUN[*]} $IMAGE true" \
    -n crun "$CRUN --root $CRUN_ROOT run --bundle $BUNDLE bench-crun" >&2 ||
    { [ $? -eq 137 ] && hung "hyperfine of run --rm $IMAGE true did not finish in $HF_TIMEOUT s"; die "hyperfine of run --rm $IMAGE true failed"; }
hf_median() { jq -r --arg n "$2" '.results[] | select(.command == $n) | .median' "$1"; }
RUN_PR="$(hf_median "$HF_RUN" podman-rs)"
RUN_PD="$(hf_median "$HF_RUN" podman)"
RUN_CRUN="$(hf_median "$HF_RUN" crun)"

# ------------------------------------------------------- 4. CLI peak RSS
# (before part 3, so that the stores hold no other container)
# rss_median CMD... : median over RSS_RUNS runs of GNU time's %M (KiB).
rss_median() {
    local n kb
    for n in $(seq 1 "$RSS_RUNS"); do
        kb="$($GNU_TIME -f %M -o /dev/stdout timeout -s KILL "$CMD_TIMEOUT" "$@" </dev/null 2>/dev/null | tail -1)"
        [[ "$kb" =~ ^[0-9]+$ ]] || die "no peak RSS for: $* (got '$kb')"
        echo "$kb"
    done | median
}
log "4. peak RSS of run --rm $IMAGE true ($RSS_RUNS runs each)"
RSS_RUN_PR="$(rss_median "${PR[@]}" run --rm "$IMAGE" true)"
RSS_RUN_PD="$(rss_median "${PD[@]}" run --rm "${PD_RUN[@]}" "$IMAGE" true)"
RSS_RUN_CRUN="$(rss_median "$CRUN" --root "$CRUN_ROOT" run --bundle "$BUNDLE" bench-crun)"

# ----------------------------------------------------------- 3. ps -a
# create_n NAME BUDGET CMD... : create PS_N containers with CMD (PS_JOBS
# processes at a time, in chunks of 100). After each chunk, when finishing
# would exceed BUDGET seconds, stop there. Sets CREATED (how many) and
# CREATE_S (seconds taken).
create_n() {
    local name="$1" budget="$2" done_n=0 chunk t0 el=0
    shift 2
    t0="$(now_us)"
    while [ "$done_n" -lt "$PS_N" ]; do
        chunk=$((PS_N - done_n < 100 ? PS_N - done_n : 100))
        seq 1 "$chunk" | xargs -P "$PS_JOBS" -I{} timeout -s KILL "$CMD_TIMEOUT" "$@" >/dev/null 2>"$WORK/create-$name.err" ||
            die "$name: creating containers failed: $* ($(head -c 400 "$WORK/create-$name.err"))"
        done_n=$((done_n + chunk))
        el=$(($(now_us) - t0))
        if [ "$done_n" -lt "$PS_N" ] && [ $((el * PS_N / done_n)) -gt $((budget * 1000000)) ]; then
            log "$name: $done_n containers took $((el / 1000)) ms; $PS_N would take about $((el * PS_N / done_n / 1000000)) s (> $budget s): stopping at $done_n"
            break
        fi
    done
    CREATED="$done_n"
    CREATE_S="$(awk -v u="$el" 'BEGIN { printf "%.1f", u / 1e6 }')"
}
log "3. creating $PS_N containers per engine ($PS_JOBS at a time)"
create_n podman-rs 100000 "${PR[@]}" create "$IMAGE" true
PS_N_PR="$CREATED" PS_SETUP_PR="$CREATE_S"
create_n podman "$PODMAN_PS_BUDGET" "${PD[@]}" create "${PD_RUN[@]}" "$IMAGE" true
PS_N_PD="$CREATED" PS_SETUP_PD="$CREATE_S"
n="$("${PR[@]}" ps -a | tail -n +2 | wc -l)"
[ "$n" -eq "$PS_N_PR" ] || die "podman-rs ps -a lists $n containers, $PS_N_PR were created"
n="$("${PD[@]}" ps -a | tail -n +2 | wc -l)"
[ "$n" -eq "$PS_N_PD" ] || die "podman ps -a lists $n containers, $PS_N_PD were created"
log "3. hyperfine: ps -a ($WARMUP warm-up + $RUNS runs each)"
HF_PS="$WORK/hf-ps.json"
timeout -s KILL "$HF_TIMEOUT" hyperfine -N --style basic --warmup "$WARMUP" --runs "$RUNS" --export-json "$HF_PS" \
    -n podman-rs "${PR[*]} ps -a" \
    -n podman "${PD[*]} ps -a" >&2 ||
    { [ $? -eq 137 ] && hung "hyperfine of ps -a did not finish in $HF_TIMEOUT s"; die "hyperfine of ps -a failed"; }
PS_PR="$(hf_median "$HF_PS" podman-rs)"
PS_PD="$(hf_median "$HF_PS" podman)"
RSS_PS_PR="$(rss_median "${PR[@]}" ps -a)"
RSS_PS_PD="$(rss_median "${PD[@]}" ps -a)"

LOAD_AFTER="$(cut -d' ' -f1-3 /proc/loadavg)"

# ---------------------------------------------------------------- report
mkdir -p "$RESULTS_DIR"
OUT="$RESULTS_DIR/containers-$STAMP.txt"
ms() { awk -v s="$1" 'BEGIN { printf "%.1f", s * 1000 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
goal() { if awk "BEGIN { exit !($1) }"; then echo met; else echo "NOT met"; fi; }
{
    echo "podman-rs container benchmark, $(date -Iseconds), $(uname -r), $(nproc) cores"
    echo "podman-rs: $PODMAN_RS ($(podman_rs_source), built $(date -r "$PODMAN_RS" -Iseconds))"
    echo "podman: $(podman --version | head -1), $("$CRUN" --version | head -1); podman runs with ${PD_RUN[*]}"
    echo "image: busybox (static) from $IMAGE; load average before/after: $LOAD_BEFORE / $LOAD_AFTER"
    echo
    echo "1. $PAR_N concurrent 'run --rm IMAGE sleep 1' (each run timed on its own)"
    printf '   %-10s %12s %12s %12s %8s\n' engine 'median ms' 'max ms' 'total ms' failed
    printf '   %-10s %12s %12s %12s %8s\n' podman-rs "$PAR_MED_PR" "$PAR_MAX_PR" "$PAR_WALL_PR" "$PAR_FAIL_PR"
    printf '   %-10s %12s %12s %12s %8s\n' podman "$PAR_MED_PD" "$PAR_MAX_PD" "$PAR_WALL_PD" "$PAR_FAIL_PD"
    echo "   podman/podman-rs: median $(ratio "$PAR_MED_PD" "$PAR_MED_PR"), total $(ratio "$PAR_WALL_PD" "$PAR_WALL_PR")"
    echo "   goal podman-rs median <= 1200 ms: $(goal "$PAR_MED_PR <= 1200 && $PAR_FAIL_PR == 0")"
    echo
    echo "2. 'run --rm IMAGE true' (hyperfine, $RUNS runs, median)"
    printf '   %-10s %12s\n' engine 'median ms'
    printf '   %-10s %12s\n' podman-rs "$(ms "$RUN_PR")" podman "$(ms "$RUN_PD")" "crun run" "$(ms "$RUN_CRUN")"
    echo "   podman/podman-rs = $(ratio "$RUN_PD" "$RUN_PR")   goal >= 5: $(goal "$RUN_PD / $RUN_PR >= 5")"
    echo "   podman-rs/crun   = $(ratio "$RUN_PR" "$RUN_CRUN")   goal <= 1.5: $(goal "$RUN_PR / $RUN_CRUN <= 1.5")"
    echo
    echo "3. 'ps -a' (hyperfine, $RUNS runs, median)"
    printf '   %-10s %12s %12s %12s\n' engine containers 'median ms' 'setup s'
    printf '   %-10s %12s %12s %12s\n' podman-rs "$PS_N_PR" "$(ms "$PS_PR")" "$PS_SETUP_PR"
    printf '   %-10s %12s %12s %12s\n' podman "$PS_N_PD" "$(ms "$PS_PD")" "$PS_SETUP_PD"
    if [ "$PS_N_PD" -lt "$PS_N_PR" ]; then
        echo "   NOTE: creating $PS_N containers with podman would have taken over ${PODMAN_PS_BUDGET} s; podman was measured with $PS_N_PD"
    fi
    echo "   podman/podman-rs = $(ratio "$PS_PD" "$PS_PR")   goal podman-rs < 20 ms: $(goal "$PS_PR < 0.020")"
    echo
    echo "4. peak RSS, KiB (CLIs: GNU time %M, median of $RSS_RUNS; monitors: VmHWM during a 'sleep 2' container)"
    printf '   %-32s %10s\n' 'podman-rs run --rm true' "$RSS_RUN_PR"
    printf '   %-32s %10s\n' 'podman run --rm true' "$RSS_RUN_PD"
    printf '   %-32s %10s\n' 'crun run' "$RSS_RUN_CRUN"
    printf '   %-32s %10s\n' "podman-rs ps -a ($PS_N_PR ctrs)" "$RSS_PS_PR"
    printf '   %-32s %10s\n' "podman ps -a ($PS_N_PD ctrs)" "$RSS_PS_PD"
    printf '   %-32s %10s   private dirty %s\n' 'podman-rs container monitor' "$RSS_MONITOR" "$PRIV_MONITOR"
    printf '   %-32s %10s   private dirty %s\n' 'podman conmon' "$RSS_CONMON" "$PRIV_CONMON"
} | tee "$OUT"
echo "results: $OUT"
