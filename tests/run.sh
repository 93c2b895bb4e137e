#!/usr/bin/env bash
# tests/run.sh: the one command that sets up a machine and runs every ringcast test.
#
# On a fresh Debian 12 machine, as root: installs the Debian packages that are missing (and Node's
# ws client for the integration tests, with npm ci from its lock file), builds wolfSSL from
# Debian's source with its x86-64 assembly (tools/wolfssl-build.sh, into $RC_BUILD_DIR/wolfssl; a
# few minutes the first time, nothing after), which every build below links, then
#   0. checks that every C file is formatted (tools/format.sh --check, clang-format 14);
#   1. Release build (gcc, -O2 -g, warnings are errors): unit tests, then the integration tests
#      (tests/integration: the real server over loopback with real clients), one at a time;
#   2. Debug build (gcc, -O0): compiled, so it keeps building;
#   3. Sanitizer build (clang, ASan + UBSan, warnings are errors): the unit tests again, the
#      integration tests against the sanitized server (RC_SLOW=1: it is ~3x slower, the tests
#      scale their waits and loads), then every libFuzzer target for RC_FUZZ_SECONDS (default 45)
#      seconds;
#   4. ThreadSanitizer build (clang, -fsanitize=thread, warnings are errors): the multi-threaded
#      unit tests (ctest label `concurrency`: mailboxes, the pool's remote free) again, and the
#      server itself under ThreadSanitizer with several workers (integration/workers_tsan: bursts,
#      order, hand-offs, SIGTERM); any ThreadSanitizer report fails them.
# Exits non-zero at the first failure. .ci/run calls exactly this.
#
# Environment: RC_FUZZ_SECONDS (seconds per fuzz target), RC_JOBS (build parallelism, default nproc),
# RC_BUILD_DIR (default ./build).
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$top"
build=${RC_BUILD_DIR:-$top/build}
jobs=${RC_JOBS:-$(nproc)}
fuzz_seconds=${RC_FUZZ_SECONDS:-45}

step() { printf '\n==> %s\n' "$*"; }

# Every ctest run goes through run_ctest, which adds its counts to the closing summary line.
passed=0
failed=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT
run_ctest() { # run_ctest ctest-args...
	local rc=0
	ctest "$@" 2>&1 | tee "$log" || rc=$?
	local line total fails
	line=$(grep -E 'tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -n 1 || true)
	total=$(sed -nE 's/.* out of ([0-9]+).*/\1/p' <<<"$line")
	fails=$(sed -nE 's/.*passed, ([0-9]+) tests? failed.*/\1/p' <<<"$line")
	passed=$((passed + ${total:-0} - ${fails:-0}))
	failed=$((failed + ${fails:-0}))
	if [ "$rc" -ne 0 ] || [ -z "$line" ]; then
		echo "ringcast: $passed passed, $((failed > 0 ? failed : 1)) failed"
		exit 1
	fi
}

# --- Debian packages -------------------------------------------------------------------------
# Node and npm may come from elsewhere than Debian: Debian's only when the commands are missing.
. "$top/tools/apt-need.sh"
apt_need tests/run.sh build-essential cmake pkg-config clang clang-format libclang-rt-14-dev curl \
	liburing-dev libwolfssl-dev libcriterion-dev python3 python3-websockets python3-yaml python3-jwt python3-cryptography \
	--cmd node nodejs --cmd npm npm --cmd openssl openssl --cmd chromium chromium \
	--cmd promtool prometheus --cmd systemd-socket-activate systemd

# A leak or any undefined behaviour fails the run, with a stack to read.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# A data race kills the test at once (and ctest also fails on the report's text).
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}

configure_build() { # configure_build DIR cmake-args...
	local dir=$1; shift
	cmake -S "$top" -B "$dir" -DRC_WERROR=ON -DRC_WOLFSSL=own -DRC_WOLFSSL_DIR="$build/wolfssl" \
		"$@" >/dev/null
	cmake --build "$dir" -j "$jobs"
}

step "format: every C file as .clang-format says"
if bash "$top/tools/format.sh" --check; then
	passed=$((passed + 1))
else
	echo "ringcast: $passed passed, 1 failed"
	exit 1
fi

# The integration tests' Node client (npm ws, pinned by package-lock.json; node_modules is not
# committed).
step "integration: npm ci (Node ws client)"
(cd "$top/tests/integration/node" && npm ci --no-audit --no-fund --loglevel=error)

# Debian's libwolfssl has no AES-NI and none of wolfSSL's x86-64 assembly: TLS would be measured
# and tested at a fraction of its speed (docs/benchmarks.md, "TLS crypto").
step "wolfSSL with assembly (tools/wolfssl-build.sh)"
RC_BUILD_DIR="$build" RC_JOBS="$jobs" bash "$top/tools/wolfssl-build.sh"

step "release build (gcc -O2 -g)"
configure_build "$build/release" -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_COMPILER=gcc
step "release: unit tests"
run_ctest --test-dir "$build/release" --output-on-failure -j "$jobs" -LE integration
step "release: integration tests"
# One at a time (they measure deadlines and rates on a two-core machine).
run_ctest --test-dir "$build/release" --output-on-failure -L integration

step "debug build (gcc -O0)"
configure_build "$build/debug" -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_COMPILER=gcc

step "sanitizer build (clang, ASan + UBSan)"
configure_build "$build/asan" -DCMAKE_BUILD_TYPE=Asan -DCMAKE_C_COMPILER=clang \
	-DRC_FUZZ=ON -DRC_FUZZ_SECONDS="$fuzz_seconds"
step "sanitizer: unit tests"
run_ctest --test-dir "$build/asan" --output-on-failure -j "$jobs" -L unit
step "sanitizer: integration tests"
RC_SLOW=1 run_ctest --test-dir "$build/asan" --output-on-failure -L integration
step "sanitizer: fuzz targets, ${fuzz_seconds}s each"
# One at a time: each fuzzer wants a whole core, and the machine has two.
run_ctest --test-dir "$build/asan" --output-on-failure -L fuzz

step "thread sanitizer build (clang, TSan)"
configure_build "$build/tsan" -DCMAKE_BUILD_TYPE=Tsan -DCMAKE_C_COMPILER=clang
step "thread sanitizer: concurrency tests, and the server with several workers"
run_ctest --test-dir "$build/tsan" --output-on-failure -j "$jobs" -L concurrency

echo
echo "ringcast: $passed passed, $failed failed"
