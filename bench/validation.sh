#!/usr/bin/env bash
# The OCI runtime-tools validation suite as the external yardstick for the
# podman-rs runtime, next to crun and runc.
#
#   sudo bench/validation.sh                 # all 58 test files, 3 runtimes
#   RUNTIMES="podman-rs crun" sudo bench/validation.sh
#   TESTS="create state kill" sudo bench/validation.sh
#
# What it does:
#   1. makes sure a runtime-tools work tree is at $RUNTIME_TOOLS_DIR
#      (default /var/cache/podman-rs/runtime-tools; cloned from
#      $RUNTIME_TOOLS_SRC when missing) and checked out at $RUNTIME_TOOLS_REF.
#      Its code is never copied into this repository.
#   2. builds, when out of date, what its Makefile's
#      `make runtimetest validation-executables` builds: the static
#      `runtimetest` and one `validation/<name>/<name>.t` per test file, with the
#      vendored Go dependencies only (GOFLAGS=-mod=vendor, GOPROXY=off), using
#      Debian's golang-go.
#   3. runs every test binary from the runtime-tools directory (the tests read
#      ./rootfs-amd64.tar.gz and ./runtimetest from there) once per runtime,
#      one runtime after another, each test under `timeout $TEST_TIMEOUT`.
#      RUNTIME=<command> selects the runtime, which must speak runc's command
#      line: for podman-rs that is a `podman-rs-runtime` symlink to the binary
#      ($PODMAN_RS_BIN, default the release build).
#   4. prints, per runtime, test files passed/total and TAP checks ok/total,
#      and the test files that fail for podman-rs but pass for crun; writes the
#      TAP/stderr of every test under bench/results/validation-<date>/ and a
#      summary to bench/results/validation-<date>.json.
#
# A test file passes when its binary exits 0 and prints no `not ok` and at
# least one `ok` that is not a `# SKIP`. Checks are the top-level TAP test
# lines (not the indented output of the inner runtimetest): ok/total counts the
# non-skipped `ok` lines over all lines (or the plan's N, when the binary died
# before printing them all). With runtime-tools 260e151 and Debian 12's crun
# 1.8.1 this gives crun 36/58 files and 3578/4058 checks. Nine files report
# without any test line (the 7 hook tests print the empty plan `1..0` and a
# YAML "error" diagnostic when their check fails; process_capabilities_fail and
# process_rlimits_fail just exit 0 when the runtime rightly refused the
# config): they pass for nobody, and the "quiet" column counts those of them
# that exited 0 with no error diagnostic, i.e. whose check held.
#
# Needs root (the tests create real containers). After each test, containers
# of the suite (bundle in $TMPDIR/ocitest*) still listed are force-deleted.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

RUNTIME_TOOLS_DIR="${RUNTIME_TOOLS_DIR:-/var/cache/podman-rs/runtime-tools}"
RUNTIME_TOOLS_SRC="${RUNTIME_TOOLS_SRC:-https://github.com/opencontainers/runtime-tools.git}"
# The commit the figures in docs/validation.md were taken at: 260e151 (merge
# of PR #772, 2025-03-03), the newest runtime-tools that
#  - builds with Debian 12's Go 1.19 (the next merge, #777, moves to
#    moby/sys/capability, which needs Go 1.21's standard "slices" package), and
#  - writes configs with ociVersion 1.1.0 (runtime-spec v1.1.0). From b521900
#    (runtime-spec v1.3.0) on, Debian 12's crun 1.8.1 refuses every config of
#    the suite with "unknown version specified" (it takes 1.0.x and 1.1.x only),
#    so crun would pass almost nothing and stop being a yardstick.
RUNTIME_TOOLS_REF="${RUNTIME_TOOLS_REF:-260e151b8552afa2678ef6d41820ea0f31cd8be1}"
TEST_TIMEOUT="${TEST_TIMEOUT:-120}"
RUNTIMES="${RUNTIMES:-podman-rs crun runc}"
TESTS="${TESTS:-}"
STAMP="${STAMP:-$(date +%Y-%m-%d)}"
RESULTS_DIR="${RESULTS_DIR:-$BENCH_DIR/results}"
OUT="$RESULTS_DIR/validation-$STAMP"

is_root || die "the validation tests create real containers: run as root"

ensure_debs git tar jq coreutils util-linux
case " $RUNTIMES " in *" crun "*) ensure_debs crun ;; esac
case " $RUNTIMES " in *" runc "*) ensure_debs runc ;; esac
ensure_cgroup_v1_hybrid_clean

# ------------------------------------------------------------- runtime-tools
if [ ! -f "$RUNTIME_TOOLS_DIR/validation/util/test.go" ]; then
    log "cloning runtime-tools from $RUNTIME_TOOLS_SRC into $RUNTIME_TOOLS_DIR"
    git clone -q "$RUNTIME_TOOLS_SRC" "$RUNTIME_TOOLS_DIR"
fi
cd "$RUNTIME_TOOLS_DIR"
if [ -n "$RUNTIME_TOOLS_REF" ] &&
   [ "$(git rev-parse HEAD)" != "$(git rev-parse --verify -q "$RUNTIME_TOOLS_REF^{commit}" || echo none)" ]; then
    [ -z "$(git status --porcelain --untracked-files=no)" ] ||
        die "$RUNTIME_TOOLS_DIR has local changes; not checking out $RUNTIME_TOOLS_REF"
    log "checking out runtime-tools $RUNTIME_TOOLS_REF"
    git -c advice.detachedHead=false checkout -q "$RUNTIME_TOOLS_REF"
    rm -f runtimetest validation/*/*.t   # built from another commit
fi
log "runtime-tools at $(git rev-parse --short HEAD) in $RUNTIME_TOOLS_DIR"

# ------------------------------------------------------------------------ Go
# The Go that runtime-tools' go.mod asks for. At the default commit that is
# 1.19, Debian 12's golang-go. For a newer commit (go 1.21 since it switched to
# moby/sys/capability, which imports the standard "slices" package) a Go from
# Debian's bookworm-backports is installed, adding that suite to apt's sources.
GO_NEED="$(awk '$1 == "go" { print $2; exit }' go.mod)"
GO_NEED_MINOR="$(echo "${GO_NEED:-1.0}" | cut -d. -f2)"
go_ok() { # go_ok GO : GO runs and is at least 1.$GO_NEED_MINOR
    local v minor
    v="$("$1" env GOVERSION 2>/dev/null)" || return 1
    v="${v#go}"
    [ "${v%%.*}" -eq 1 ] || return 1
    minor="$(echo "$v" | cut -d. -f2)"
    [ "${minor%%[!0-9]*}" -ge "$GO_NEED_MINOR" ]
}
find_go() {
    local g
    for g in "$(command -v go || true)" $(ls -d /usr/lib/go-1.*/bin/go 2>/dev/null | sort -t. -k2,2nr); do
        [ -n "$g" ] && [ -x "$g" ] && go_ok "$g" && { echo "$g"; return 0; }
    done
    return 1
}
newest_go_minor() { # newest golang-1.N-go apt knows of, as N
    apt-cache search --names-only '^golang-1\.[0-9]+-go$' | awk '{ print $1 }' |
        sed 's/^golang-1\.\([0-9]*\)-go$/\1/' | sort -n | tail -1
}
install_backports_go() {
    local minor
    apt_update_once
    minor="$(newest_go_minor)"
    if [ -z "$minor" ] || [ "$minor" -lt "$GO_NEED_MINOR" ]; then
        grep -qs 'VERSION_CODENAME=bookworm' /etc/os-release || die "no Debian package of Go >= $GO_NEED"
        if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
            log "adding Debian bookworm-backports to apt's sources (for Go >= $GO_NEED)"
            cat >/etc/apt/sources.list.d/bookworm-backports.sources <<'SOURCES'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
        fi
        DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
        minor="$(newest_go_minor)"
    fi
    { [ -n "$minor" ] && [ "$minor" -ge "$GO_NEED_MINOR" ]; } || die "no Debian package of Go >= $GO_NEED"
    log "installing golang-1.$minor-go"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "golang-1.$minor-go" >/dev/null
}

GO="$(find_go || true)"
if [ -z "$GO" ]; then
    ensure_debs golang-go
    GO="$(find_go || true)"
fi
if [ -z "$GO" ]; then
    install_backports_go
    GO="$(find_go)" || die "Go >= $GO_NEED still not found"
fi
# Vendored dependencies only: there is no Go module proxy to reach.
export GOFLAGS=-mod=vendor GOPROXY=off GOTOOLCHAIN=local GO111MODULE=on
log "using $("$GO" version) (go.mod asks for go $GO_NEED)"

# Same as the Makefile's `runtimetest` and `validation-executables` targets.
if [ ! -x runtimetest ] || [ -n "$(find cmd/runtimetest validation/util -name '*.go' -newer runtimetest | head -1)" ]; then
    log "building runtimetest"
    "$GO" build -tags "netgo osusergo" -ldflags "-extldflags -static" -o runtimetest ./cmd/runtimetest
fi
mapfile -t ALL_TESTS < <(find validation -mindepth 2 -maxdepth 2 -name '*.go' -not -path 'validation/util/*' |
                        sed 's#^validation/\([^/]*\)/\1\.go$#\1#;t;d' | sort)
[ "${#ALL_TESTS[@]}" -gt 0 ] || die "no validation/*/*.go test files found"
if [ -n "$TESTS" ]; then read -r -a SEL <<<"$TESTS"; else SEL=("${ALL_TESTS[@]}"); fi
for t in "${SEL[@]}"; do
    src="validation/$t/$t.go" bin="validation/$t/$t.t"
    [ -f "$src" ] || die "no such test: $t"
    if [ ! -x "$bin" ] || [ "$src" -nt "$bin" ] || [ -n "$(find validation/util -name '*.go' -newer "$bin" | head -1)" ]; then
        log "building $bin"
        "$GO" build -o "$bin" "$src"
    fi
done

# ------------------------------------------------------------------ runtimes
TMP="$(mktemp -d /tmp/podman-rs-validation.XXXXXX)"
trap 'rm -rf "$TMP"' EXIT
runtime_cmd() { # the RUNTIME= value for a runtime name
    case "$1" in
        podman-rs)
            local bin
            bin="$(podman_rs_bin)"
            mkdir -p "$TMP/bin"
            ln -sf "$bin" "$TMP/bin/podman-rs-runtime"
            echo "$TMP/bin/podman-rs-runtime" ;;
        *) command -v "$1" || die "runtime $1 not found" ;;
    esac
}

# suite_ids CMD : ids of the containers the suite made (bundles are
# $TMPDIR/ocitest*) that are still in the runtime's default root. Containers of
# anyone else in that root are never touched.
suite_ids() {
    "$1" list 2>/dev/null |
        awk -v pfx="${TMPDIR:-/tmp}/ocitest" 'NR > 1 && index($4, pfx) == 1 { print $1 }'
}

# Bundles of the suite are $TMPDIR/ocitest*; several tests leave theirs
# behind, and a container that shares the host's mount namespace (the tests
# of namespace inheritance) leaves its /proc, /dev, /sys... mounted there.
# bundle_dirs: the suite's bundle directories now present.
bundle_dirs() { find "${TMPDIR:-/tmp}" -maxdepth 1 -name 'ocitest*' -type d 2>/dev/null | sort; }
# mounts_under DIR... : mount points (deepest first) at or below the DIRs
mounts_under() {
    awk '{ print $5 }' /proc/self/mountinfo | while read -r m; do
        for d in "$@"; do case "$m" in "$d"|"$d"/*) echo "$m" ;; esac; done
    done | awk '{ print length($0) "\t" $0 }' | sort -rn | cut -f2- | uniq
}
# clean_bundles BEFORE_LIST : unmount and remove the bundle dirs not in it;
# prints how many mounts were left on the host.
clean_bundles() {
    local new m n=0
    mapfile -t new < <(comm -13 <(echo "$1") <(bundle_dirs))
    [ "${#new[@]}" -gt 0 ] || { echo 0; return; }
    while read -r m; do
        [ -n "$m" ] || continue
        n=$((n + 1))
        umount -l "$m" 2>/dev/null || true
    done < <(mounts_under "${new[@]}")
    for d in "${new[@]}"; do
        # Only when nothing is mounted below any more (never into /proc, /sys).
        [ -z "$(mounts_under "$d")" ] && rm -rf --one-file-system "$d"
    done
    echo "$n"
}

# tap_counts FILE -> "plan ok skipped notok errors"
#   plan: N of the `1..N` line (-1 if none); ok: top-level `ok` lines (skips
#   included); skipped: those marked `# SKIP`; notok: `not ok` lines (TODO ones
#   count as ok); errors: `"error":` lines in the YAML diagnostics.
tap_counts() {
    awk '
        /^1\.\.[0-9]+/ && plan == "" { sub(/^1\.\./, ""); plan = $0 + 0 }
        /^not ok/ { if ($0 ~ /# [Tt][Oo][Dd][Oo]/) ok++; else nok++; next }
        /^ok/ { ok++; if ($0 ~ /# [Ss][Kk][Ii][Pp]/) skip++ }
        /^ +"error": "[^"]/ { err++ }
        END { printf "%d %d %d %d %d\n", (plan == "" ? -1 : plan), ok, skip, nok, err }
    ' "$1"
}

mkdir -p "$OUT"
SUMMARY="$RESULTS_DIR/validation-$STAMP.json"
echo '{}' >"$TMP/summary.json"

for rt in $RUNTIMES; do
    cmd="$(runtime_cmd "$rt")"
    rm -rf "${OUT:?}/$rt"
    mkdir -p "$OUT/$rt"
    files_ok=0 files_quiet=0 files=0 checks_ok=0 checks=0 skipped=0
    before="$(suite_ids "$cmd" | sort)"
    log "running ${#SEL[@]} test files with RUNTIME=$cmd (timeout ${TEST_TIMEOUT}s each)"
    : >"$TMP/$rt.jsonl"
    for t in "${SEL[@]}"; do
        bundles_before="$(bundle_dirs)"
        start=$(date +%s.%N)
        set +e
        RUNTIME="$cmd" timeout -k 10 "$TEST_TIMEOUT" "./validation/$t/$t.t" \
            >"$OUT/$rt/$t.tap" 2>"$OUT/$rt/$t.err" </dev/null
        rc=$?
        set -e
        secs=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')
        read -r plan ok skip nok errs < <(tap_counts "$OUT/$rt/$t.tap")
        # A check is a top-level TAP test line; it counts as ok when it is `ok`
        # and not skipped. Planned lines never printed count as failed.
        good=$((ok - skip))
        total=$((ok + nok))
        [ "$plan" -gt "$total" ] && total=$plan
        # A file passes when it exits 0, has no `not ok` and at least one
        # non-skipped `ok`. Some files report without any test line: the 7 hook
        # tests (prestart, poststart, poststop, their *_fail, hooks) always
        # print the empty plan `1..0` plus a YAML "error" diagnostic when their
        # check failed, and process_capabilities_fail / process_rlimits_fail
        # print nothing and exit 0 when the runtime rightly refused the config.
        # They never count as passed; "quiet" marks those that exited 0 with no
        # test line and no error diagnostic, i.e. whose check held.
        pass=false
        [ "$rc" -eq 0 ] && [ "$nok" -eq 0 ] && [ "$good" -gt 0 ] && pass=true
        quiet=false
        [ "$rc" -eq 0 ] && [ "$ok" -eq 0 ] && [ "$nok" -eq 0 ] && [ "$errs" -eq 0 ] && quiet=true
        files=$((files + 1)); checks=$((checks + total))
        checks_ok=$((checks_ok + good)); skipped=$((skipped + skip))
        $pass && files_ok=$((files_ok + 1))
        $quiet && files_quiet=$((files_quiet + 1))
        note=""
        if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then note=" (timed out)"; fi
        if [ "$ok" -eq 0 ] && [ "$nok" -eq 0 ] && [ "$rc" -eq 0 ]; then
            note=" (no test line: $($quiet && echo 'quiet, its check held' || echo 'error diagnostic'))"
        fi
        printf '  %-10s %-32s %-4s %4d/%-4d skip %-3d exit %-3d %6ss%s\n' "$rt" "$t" \
            "$($pass && echo PASS || echo FAIL)" "$good" "$total" "$skip" "$rc" "$secs" "$note" >&2
        jq -cn --arg t "$t" --argjson pass "$pass" --argjson quiet "$quiet" --argjson rc "$rc" \
            --argjson ok "$good" --argjson skip "$skip" --argjson nok "$nok" --argjson total "$total" \
            --argjson plan "$plan" --argjson secs "$secs" \
            '{test: $t, pass: $pass, exit: $rc, ok: $ok, skipped: $skip, not_ok: $nok, checks: $total,
              plan: $plan, quiet: $quiet, seconds: $secs}' >>"$TMP/$rt.jsonl"
        # Delete whatever this test left behind (a failed test may skip its
        # own clean-up): containers, then bundles and the mounts left in them.
        for id in $(suite_ids "$cmd"); do
            "$cmd" delete --force "$id" >/dev/null 2>&1 || true
        done
        leaked="$(clean_bundles "$bundles_before")"
        [ "$leaked" -eq 0 ] || log "  $t left $leaked mounts on the host (unmounted)"
        jq -c --argjson m "$leaked" '.leaked_host_mounts = $m' <<<"$(tail -1 "$TMP/$rt.jsonl")" >"$TMP/last.json"
        sed -i '$d' "$TMP/$rt.jsonl" && cat "$TMP/last.json" >>"$TMP/$rt.jsonl"
    done
    left="$(comm -13 <(echo "$before") <(suite_ids "$cmd" | sort) | tr '\n' ' ')"
    [ -z "$left" ] || log "warning: $rt could not delete these containers of the suite: $left"
    jq --arg rt "$rt" --arg cmd "$cmd" --slurpfile tests "$TMP/$rt.jsonl" \
        --argjson fo "$files_ok" --argjson f "$files" --argjson co "$checks_ok" --argjson c "$checks" \
        --argjson sk "$skipped" --argjson fq "$files_quiet" --arg left "$left" \
        '.[$rt] = {runtime_command: $cmd, files_passed: $fo, files: $f, checks_ok: $co, checks: $c,
                   checks_skipped: $sk, files_quiet: $fq, undeletable_containers: ($left | split(" ") | map(select(. != ""))),
                   tests: $tests}' \
        "$TMP/summary.json" >"$TMP/summary.json.new"
    mv "$TMP/summary.json.new" "$TMP/summary.json"
done

PRS_BIN="$(podman_rs_bin 2>/dev/null || echo none)"
jq --arg date "$STAMP" --arg rev "$(git rev-parse HEAD 2>/dev/null || echo unknown)" \
   --arg host "$(uname -r)" --arg go "$("$GO" env GOVERSION)" \
   --arg prs "$PRS_BIN" --arg prs_built "$(date -r "$PRS_BIN" -Iseconds 2>/dev/null || echo unknown)" \
   --arg prs_tree "$(podman_rs_source)" \
   --arg crun "$(crun --version 2>/dev/null | head -1 || true)" --arg runc "$(runc --version 2>/dev/null | head -1 || true)" \
   '{date: $date, runtime_tools_commit: $rev, kernel: $host, go: $go,
     podman_rs: {binary: $prs, built: $prs_built, source_tree: $prs_tree}, crun: $crun, runc: $runc,
     runtimes: .}' \
   "$TMP/summary.json" >"$SUMMARY"

echo
echo "OCI runtime-tools validation ($(git rev-parse --short HEAD 2>/dev/null || echo '?'), $STAMP)"
printf '%-10s %13s %15s %9s %7s\n' runtime "files passed" "TAP checks ok" "skipped" "quiet"
for rt in $RUNTIMES; do
    jq -r --arg rt "$rt" '.runtimes[$rt] |
        [$rt, "\(.files_passed)/\(.files)", "\(.checks_ok)/\(.checks)", .checks_skipped, .files_quiet] | @tsv' "$SUMMARY" |
        awk -F'\t' '{ printf "%-10s %13s %15s %9s %7s\n", $1, $2, $3, $4, $5 }'
done
if jq -e '.runtimes["podman-rs"] and .runtimes.crun' "$SUMMARY" >/dev/null; then
    echo
    echo "fail for podman-rs, pass for crun:"
    jq -r '(.runtimes.crun.tests | map(select(.pass)) | map(.test)) as $c |
           .runtimes["podman-rs"].tests | map(select(.pass | not) | .test) |
           map(select(. as $t | $c | index($t))) | if length == 0 then "  (none)" else .[] | "  \(.)" end' "$SUMMARY"
    echo "quiet for crun (no test line, check held), not for podman-rs:"
    jq -r '(.runtimes.crun.tests | map(select(.quiet)) | map(.test)) as $c |
           .runtimes["podman-rs"].tests | map(select(.quiet | not) | .test) |
           map(select(. as $t | $c | index($t))) | if length == 0 then "  (none)" else .[] | "  \(.)" end' "$SUMMARY"
fi
echo
echo "summary: $SUMMARY; TAP and stderr per test: $OUT/"
