#!/usr/bin/env bash
# `make test`: run the suite (the command given), then list the tests that could not run here
# (their SKIP lines, collected in the skip log), then one summary line; exits with the suite's status.
set -uo pipefail
log=${FUSIONLAB_SKIP_LOG:-target/test-skips.txt}
out=target/test-output.txt
mkdir -p target "$(dirname "$log")"
rm -f "$log"
"$@" 2>&1 | tee "$out"
status=${PIPESTATUS[0]}
if [ -s "$log" ]; then
    echo "Skipped tests (resource missing):"
    cat "$log"
fi
passed=$(awk '/^test result:/ {n += $4} END {print n + 0}' "$out")
failed=$(awk '/^test result:/ {n += $6} END {print n + 0}' "$out")
skipped=0
[ -s "$log" ] && skipped=$(wc -l <"$log")
echo "$passed passed, $failed failed, $skipped skipped"
exit "$status"
