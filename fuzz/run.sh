#!/bin/sh
# fuzz/run.sh [SECONDS [HARNESS...]] - fuzz for a bounded time.
#
# Builds the libFuzzer harnesses with clang and ASan/UBSan in build-fuzz/
# (meson option fuzz) and runs each (default: all of them) for SECONDS
# (default 60), one process each, in turn.  New inputs go to
# build-fuzz/work/<harness>/, never to the checked-in corpus; a crash, a
# leak, an out-of-memory or a timeout leaves its input in
# build-fuzz/artifacts/ and makes the script exit 1 after the others ran.
# Reproduce with build-fuzz/fuzz/fuzz_<harness> ARTIFACT; add the artifact
# to fuzz/corpus/<harness>/ with the fix.
set -eu
cd "$(dirname "$0")/.."
secs=${1:-60}
[ $# -gt 0 ] && shift
harnesses=${*:-pipeline wkb}

command -v clang >/dev/null || { echo "fuzz/run.sh: clang is missing (scripts/deps)" >&2; exit 1; }
[ -f build-fuzz/build.ninja ] ||
	CC=clang meson setup build-fuzz -Dfuzz=true -Dtests=false -Db_sanitize=address,undefined \
		-Db_lundef=false -Dbuildtype=debugoptimized >/dev/null
meson compile -C build-fuzz >/dev/null

ASAN_OPTIONS=detect_leaks=1
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
LSAN_OPTIONS=suppressions=$PWD/tests/lsan.supp:print_suppressions=0
export ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS

status=0
for h in $harnesses; do
	work=build-fuzz/work/$h
	log=build-fuzz/fuzz-$h.log
	dict=""
	[ -f "fuzz/$h.dict" ] && dict="-dict=fuzz/$h.dict"
	mkdir -p "$work" build-fuzz/artifacts
	# -timeout: one input may take 10 s (a run under ASan takes
	# microseconds); -rss_limit_mb also caps a single malloc.
	if build-fuzz/fuzz/fuzz_"$h" -max_total_time="$secs" -timeout=10 -rss_limit_mb=1024 \
		-print_final_stats=1 -artifact_prefix=build-fuzz/artifacts/"$h"- ${dict:+"$dict"} \
		"$work" fuzz/corpus/"$h" </dev/null >"$log" 2>&1; then
		printf 'fuzz_%s: %s\n' "$h" "$(grep -E '^stat::number_of_executed_units' "$log" |
			sed 's/.*: *//') runs in ${secs} s, no finding"
	else
		status=1
		printf 'fuzz_%s: FINDING (log: %s)\n' "$h" "$log" >&2
		grep -E 'ERROR|SUMMARY|Test unit written|fuzz_[a-z]*:' "$log" | head -20 >&2
	fi
done
exit $status
