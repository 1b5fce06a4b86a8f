#!/usr/bin/env bash
# Fuzz every file reader (`make fuzz`): image, wav, manifest, checkpoint, lesson.
#
#   bash tests/fuzz/run.sh [TARGET...]      # FUZZ_SECONDS=600 per target by default
#
# Installs what it needs on first use: the nightly toolchain (rustup) and cargo-fuzz (crates.io).
# Seeds live in tests/fuzz/corpus/<target>; the growing corpus, crash files and logs go to
# target/fuzz/{corpus,artifacts,logs}/<target>. Exits 1 when any target found a crash.
set -uo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root" || exit 1
seconds=${FUZZ_SECONDS:-600}
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(image wav manifest checkpoint lesson)
out=target/fuzz

rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal || exit 1
cargo +nightly fuzz --version >/dev/null 2>&1 || cargo +nightly install cargo-fuzz --locked || exit 1

# Release build with debug assertions and overflow checks; no sanitizer (the crate has no unsafe
# code on these paths, and ASan would halve the executions).
build=(cargo +nightly fuzz build --fuzz-dir tests/fuzz -O -a -s none --target-dir "$out")
"${build[@]}" 2>&1 | tail -n 3
[ "${PIPESTATUS[0]}" -eq 0 ] || exit 1
bin="$out/x86_64-unknown-linux-gnu/release"

# Scratch files of the manifest, checkpoint and lesson targets live in memory.
export TMPDIR=/dev/shm
status=0
printf '%-11s %12s %10s %8s %7s\n' target executions exec/s corpus crashes
for t in "${targets[@]}"; do
    mkdir -p "$out/corpus/$t" "$out/artifacts/$t" "$out/logs"
    log="$out/logs/$t.log"
    "$bin/$t" "$out/corpus/$t" "tests/fuzz/corpus/$t" \
        -artifact_prefix="$out/artifacts/$t/" -max_total_time="$seconds" \
        -timeout=30 -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1
    runs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' || echo 0)
    rate=$(grep -oE 'stat::average_exec_per_sec: *[0-9]+' "$log" | grep -oE '[0-9]+$' || echo 0)
    crashes=$(find "$out/artifacts/$t" -type f | wc -l)
    corpus=$(find "$out/corpus/$t" -type f | wc -l)
    printf '%-11s %12s %10s %8s %7s\n' "$t" "${runs:-0}" "${rate:-0}" "$corpus" "$crashes"
    [ "$crashes" -eq 0 ] || { status=1; echo "  crash files in $out/artifacts/$t/ (log: $log)"; }
done
exit $status
