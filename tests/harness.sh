#!/usr/bin/env bash
# Runs one shell test in a fresh temporary directory, removed afterwards.
# The test sources tests/lib.sh for its helpers. Exit 77 means skipped.
set -u
test_file=$1
TMP=$(mktemp -d /tmp/drudge-test.XXXXXX)
export TMP
cd "$TMP" || exit 1
bash "$test_file"
rc=$?
cd / && rm -rf "$TMP"
exit $rc
