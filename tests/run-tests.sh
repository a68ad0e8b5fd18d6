#!/bin/sh
# SPDX-License-Identifier: MIT
# Run each test binary under `timeout`, count exit 0 as passed, 77 as skipped (the test
# prints why), anything else as failed; print the totals and fail if any test failed.
# usage: tests/run-tests.sh TIMEOUT_SECONDS BINARY...
set -u
limit=$1
shift
passed=0 failed=0 skipped=0 failures=""
for t in "$@"; do
	echo "== $t"
	timeout --kill-after=10 "$limit" "$t"
	rc=$?
	case $rc in
	0) passed=$((passed + 1)) ;;
	77) skipped=$((skipped + 1)); echo "-- $t: skipped" ;;
	124|137) failed=$((failed + 1)); failures="$failures $t"; echo "-- $t: TIMED OUT after ${limit}s" ;;
	*) failed=$((failed + 1)); failures="$failures $t"; echo "-- $t: FAILED (exit $rc)" ;;
	esac
done
echo
[ -n "$failures" ] && echo "failed:$failures"
echo "binaries: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
