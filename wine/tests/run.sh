#!/usr/bin/env bash
# Runs the Windows test programs of the builtin dstorage.dll under wine, in
# one fresh WINEPREFIX under /tmp (wineboot takes ~10 s, so every program
# runs in the same prefix, with a persistent wineserver).
#
#   tests/run.sh [OUT]      OUT: the Makefile's output directory (default build)
#
# The pair OUT/lib/x86_64-{windows,unix}/dstorage.{dll,so} is found through
# WINEDLLPATH; wineboot copies the dll into the prefix's system32, which is
# what makes the loader look for the builtin at all (see
# docs/wine_integration_guide.md, "The search-path trap").
#
# Without wine the suite prints "skipped: <reason>" and passes, unless
# DS_REQUIRE_ALL=1 (the build before it, wine/Makefile, needs the mingw
# toolchain and libwine-dev and fails without them). t_gpu needs a display for D3D12: the
# suite re-runs itself under xvfb-run when there is no DISPLAY. A program
# exiting 77 skipped itself; under DS_REQUIRE_ALL=1 that fails the suite.
# The shared GDeflate corpus ($DS_SHARED_DIR or <repo>/../shared) is read
# when present, and required when DS_REQUIRE_SHARED=1.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
wine_dir=$(dirname "$here")
repo=$(dirname "$wine_dir")
out=$(cd "${1:-$wine_dir/build}" && pwd)

skip() {
    if [ "${DS_REQUIRE_ALL:-0}" = 1 ]; then
        echo "wine tests: FAILED: $1 (DS_REQUIRE_ALL=1)" >&2
        exit 1
    fi
    echo "wine tests: skipped: $1"
    exit 0
}

WINE=${WINE:-$(command -v wine || true)}
[ -n "$WINE" ] || WINE=$( [ -x /usr/lib/wine/wine64 ] && echo /usr/lib/wine/wine64 || true)
[ -n "$WINE" ] || skip "wine is not installed"
WINESERVER=${WINESERVER:-$(command -v wineserver || echo /usr/lib/wine/wineserver)}
[ -x "$WINESERVER" ] || skip "wineserver is not installed"
[ -f "$out/lib/x86_64-windows/dstorage.dll" ] || { echo "no $out/lib/x86_64-windows/dstorage.dll: run make first" >&2; exit 1; }

if [ -z "${DISPLAY:-}" ] && [ -z "${DSTORAGE_TEST_NO_XVFB:-}" ]; then
    if command -v xvfb-run >/dev/null; then
        export DSTORAGE_TEST_NO_XVFB=1
        exec xvfb-run -a -s "-screen 0 640x480x24" "$0" "$out"
    fi
    echo "wine tests: no DISPLAY and no xvfb-run: t_gpu will find no D3D12 device"
fi

prefix=$(mktemp -d /tmp/dstorage-wine-test.XXXXXX)
cleanup() {
    WINEPREFIX="$prefix" "$WINESERVER" -k 2>/dev/null || true
    rm -rf "$prefix"
}
trap cleanup EXIT

export WINEPREFIX="$prefix"
export WINEDEBUG=${WINEDEBUG:--all}
export WINEDLLPATH="$out/lib"
export WINEDLLOVERRIDES="dstorage=b;mscoree,mshtml,winemenubuilder.exe="
# Windows paths of the GDeflate vectors (Wine maps / to Z:).
winpath() { printf 'Z:%s' "$1" | tr / '\\'; }
export DSTORAGE_TEST_VECTORS=$(winpath "$repo/gdeflate/tests/vectors")
shared=${DS_SHARED_DIR:-$repo/../shared}
if [ -f "$shared/gdeflate/vectors/manifest.tsv" ]; then
    export DSTORAGE_TEST_SHARED_VECTORS=$(winpath "$(cd "$shared/gdeflate/vectors" && pwd)")
elif [ "${DS_REQUIRE_SHARED:-0}" = 1 ]; then
    echo "wine tests: FAILED: DS_REQUIRE_SHARED=1 but $shared/gdeflate/vectors is missing" >&2
    exit 1
fi

start=$(date +%s)
"$WINE" wineboot --init >/dev/null 2>&1
"$WINESERVER" -w
test -f "$prefix/drive_c/windows/system32/dstorage.dll" ||
    cp "$out/lib/x86_64-windows/dstorage.dll" "$prefix/drive_c/windows/system32/"
"$WINESERVER" -p
echo "wine tests: prefix $prefix ready in $(( $(date +%s) - start )) s"

passed=0 failed=0 skipped=0
run() {
    local name=$1; shift
    local t0=$(date +%s%N) rc=0
    local label="$name $*${DSTORAGE_WINE_BACKEND:+ (backend $DSTORAGE_WINE_BACKEND)}"
    timeout 300 "$WINE" "$out/tests/$name.exe" "$@" || rc=$?
    local ms=$(( ($(date +%s%N) - t0) / 1000000 ))
    case $rc in
        0) passed=$((passed + 1)); echo "ok   $label (${ms} ms)" ;;
        77) skipped=$((skipped + 1)); echo "skip $label (${ms} ms)" ;;
        *) failed=$((failed + 1)); echo "FAIL $label (exit $rc, ${ms} ms)" ;;
    esac
}

# Negative control: with a native dstorage.dll next to the program and
# dstorage=n, the program must refuse to run (it would otherwise test the
# wrong dll and pass vacuously).
control=$(mktemp -d "$prefix/drive_c/control.XXXXXX")
cp "$out/tests/t_loader.exe" "$out/tests/native/dstorage.dll" "$control/"
rc=0
WINEDLLOVERRIDES="dstorage=n" timeout 60 "$WINE" "$control/t_loader.exe" >"$control/log" 2>&1 || rc=$?
if [ "$rc" = 1 ] && grep -q "is not a Wine builtin DLL" "$control/log"; then
    passed=$((passed + 1)); echo "ok   negative control: a native dstorage.dll is refused"
else
    failed=$((failed + 1)); echo "FAIL negative control: exit $rc with a native dstorage.dll"; cat "$control/log"
fi

# t_loader first: it sets the configuration before any object exists.
run t_loader
run t_read
run t_gdeflate
run t_errors
run t_cancel
run t_custom
run t_custom builtin
run t_gpu
# The pread backend (DSTORAGE_WINE_BACKEND=pread) instead of io_uring.
DSTORAGE_WINE_BACKEND=pread run t_read
DSTORAGE_WINE_BACKEND=pread run t_errors
DSTORAGE_WINE_BACKEND=pread run t_cancel

echo "wine tests: $passed passed, $skipped skipped, $failed failed in $(( $(date +%s) - start )) s"
[ "$failed" = 0 ] || exit 1
if [ "$skipped" != 0 ] && [ "${DS_REQUIRE_ALL:-0}" = 1 ]; then
    echo "wine tests: FAILED: $skipped programs skipped under DS_REQUIRE_ALL=1" >&2
    exit 1
fi
