#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# squib-snap demo / verify / merge / restore end to end on a small region.
set -eu
BIN="$SQ_BUILD_DIR/squib-snap"
T=$(mktemp -d "$SQ_TEST_TMP_DIR/cli.XXXXXX")
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

"$BIN" demo --size 32M --rounds 2 --round-ms 50 --dir "$T/d" --json > "$T/demo.json"
grep -q '"verified":true' "$T/demo.json" || fail "demo did not verify: $(cat "$T/demo.json")"
n=$(grep -o '"name":"snap-' "$T/demo.json" | wc -l)
[ "$n" -eq 3 ] || fail "expected 3 snapshots, got $n"
"$BIN" demo --size 4M --rounds 1 --round-ms 10 --api-marks > "$T/table.txt"
grep -q '^snap-1 *diff' "$T/table.txt" || fail "no table: $(cat "$T/table.txt")"
grep -q '^verified: yes' "$T/table.txt" || fail "table run did not verify"

for i in 0 1 2; do
	"$BIN" verify "$T/d/snap-$i.snap" --json > "$T/v.json"
	grep -q '"ok":true' "$T/v.json" || fail "verify snap-$i: $(cat "$T/v.json")"
done

"$BIN" merge "$T/d/snap-0.mem" "$T/d/snap-1.mem" "$T/d/snap-2.mem" -o "$T/m.mem" --json > "$T/m.json"
grep -q '"pages_out"' "$T/m.json" || fail "merge: $(cat "$T/m.json")"
"$BIN" verify "$T/d/snap-2.snap" --mem "$T/m.mem" > /dev/null || fail "merged file does not verify"
if "$BIN" merge "$T/d/snap-0.mem" "$T/d/snap-2.mem" "$T/d/snap-1.mem" -o "$T/bad.mem" 2>/dev/null; then
	fail "merge accepted a chain out of order"
fi
[ ! -e "$T/bad.mem" ] || fail "a refused merge left its output"

"$BIN" restore "$T/d/snap-0.snap" "$T/d/snap-1.snap" "$T/d/snap-2.snap" -o "$T/r.img" --verify --json > "$T/r.json"
grep -q '"layers":3' "$T/r.json" || fail "restore: $(cat "$T/r.json")"
cmp "$T/r.img" "$T/m.mem" || fail "restored image differs from the merged file"

# a flipped byte in a data page of the full memory file
off=$(( 4096 * 3 + 100 ))
printf 'X' | dd of="$T/d/snap-0.mem" bs=1 seek=$off conv=notrunc status=none
if "$BIN" verify "$T/d/snap-0.snap" > /dev/null 2>&1; then
	fail "verify missed a flipped byte"
fi
# truncation
truncate -s -4096 "$T/d/snap-1.mem"
if "$BIN" verify "$T/d/snap-1.snap" --json > "$T/v.json"; then
	fail "verify missed a truncation"
fi
grep -q '"ok":false' "$T/v.json" || fail "truncation: $(cat "$T/v.json")"
echo "cli: ok"
