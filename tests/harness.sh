#!/usr/bin/env bash
# Runs one shell test in a fresh temporary directory, removed afterwards.
# The test sources tests/lib.sh for its helpers. Exit 77 means skipped.
# DRUDGE_TEST_KEEP=1 keeps the directory of a failed test (its logs, its
# database) and prints where it is.
set -u
test_file=$1
TMP=$(mktemp -d /tmp/drudge-test.XXXXXX)
export TMP
cd "$TMP" || exit 1
bash "$test_file"
rc=$?
cd /
if [ "$rc" != 0 ] && [ "$rc" != 77 ]; then
  echo "harness: $(basename "$test_file") exited $rc" >&2
  if [ -n "${DRUDGE_TEST_KEEP:-}" ]; then
    echo "harness: kept $TMP" >&2
    exit $rc
  fi
fi
rm -rf "$TMP"
exit $rc
