#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# squib-snap on a chain whose manifests have different page sizes (the full
# layer in 64 KiB pages, the diffs in 4 and 16 KiB) and whose ram size ends
# in a partial page: merge writes the region byte-exact with 4 KiB pages
# (the chain's finest) and a manifest that verifies; restore --verify of
# the same chain is byte-exact too; a merge of a damaged coarse page fails
# with a message naming the layer and leaves no output.
set -u
BIN="$SQ_BUILD_DIR/squib-snap"
REF="$SQ_BUILD_DIR/tests/compat/compat-ref-chain"
TMP=$(mktemp -d "$SQ_TEST_TMP_DIR/mixed_cli.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
[ -x "$BIN" ] || { echo "SKIP: $BIN not built"; exit 77; }
fail=0
bad() { echo "FAIL: $*"; fail=1; }

D="$TMP/c"
mkdir "$D"
ram=2085000
"$REF" "$D" 16384 7 "$ram" || { echo "FAIL: reference writer"; exit 1; }
# A diff is described in pages no larger than it was written with (16 KiB).
"$BIN" manifest "$D/g0.snap" "$D/g0.mem" --kind full --page-size 65536 >/dev/null || bad "manifest g0"
"$BIN" manifest "$D/g1.snap" "$D/g1.mem" --kind diff --parent "$D/g0.snap" --page-size 4096 >/dev/null || bad "manifest g1"
"$BIN" manifest "$D/g2.snap" "$D/g2.mem" --kind diff --parent "$D/g1.snap" --page-size 16384 >/dev/null || bad "manifest g2"
"$BIN" merge "$D/g0.mem" "$D/g1.mem" "$D/g2.mem" -o "$D/m.mem" 2>"$D/err" || bad "merge: $(cat "$D/err")"
cmp -s "$D/m.mem" "$D/g2.img" || bad "merge of a mixed chain is not the region"
"$BIN" verify "$D/m.snap" >/dev/null || bad "verify of the merge"
"$BIN" --json info "$D/m.mem" | grep -q '"page_size":4096' || bad "merge output page size: $("$BIN" --json info "$D/m.mem")"
"$BIN" restore --verify "$D/g0.snap" "$D/g1.snap" "$D/g2.snap" -o "$D/r.img" 2>"$D/err" || bad "restore --verify: $(cat "$D/err")"
cmp -s "$D/r.img" "$D/g2.img" || bad "restore of a mixed chain is not the region"
# A damaged byte in a held 64 KiB page of the full layer.
printf 'Z' | dd of="$D/g0.mem" bs=1 seek=70000 conv=notrunc 2>/dev/null
"$BIN" merge "$D/g0.mem" "$D/g1.mem" "$D/g2.mem" -o "$D/bad.mem" 2>"$D/err"
[ $? -eq 1 ] || bad "merge of a damaged page: not exit 1"
grep -q "g0.mem: page 1 (65536 bytes) does not match its manifest CRC" "$D/err" || bad "damage message: $(cat "$D/err")"
[ -e "$D/bad.mem" ] && bad "output left after a failed merge"
[ $fail -eq 0 ] && echo "mixed page sizes: ok"
exit $fail
