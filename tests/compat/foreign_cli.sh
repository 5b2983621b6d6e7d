#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# squib-snap on a chain written as the original crate writes it (4, 16 and
# 64 KiB pages; a ram size that ends in a partial page): describe, restore
# and merge without manifests (with the warning), then "squib-snap manifest"
# for each layer (at 4 KiB, or --page-size the file's page), after which
# restore --verify, merge and verify apply; usage errors and refusals exit
# 2 / 1 with a message.
set -u
BIN="$SQ_BUILD_DIR/squib-snap"
REF="$SQ_BUILD_DIR/tests/compat/compat-ref-chain"
TMP=$(mktemp -d "$SQ_TEST_TMP_DIR/foreign_cli.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
[ -x "$BIN" ] || { echo "SKIP: $BIN not built"; exit 77; }
fail=0
bad() { echo "FAIL: $*"; fail=1; }

# page size of the files, ram size, page size of the manifests
for geo in 4096:2097152:4096 16384:2097152:4096 16384:2085000:16384 65536:2110000:65536; do
	page=${geo%%:*}; rest=${geo#*:}; ram=${rest%%:*}; mpage=${rest#*:}
	D="$TMP/p$page-$ram"
	mkdir "$D"
	"$REF" "$D" "$page" 7 "$ram" || { bad "reference writer"; continue; }
	"$BIN" describe "$D/g2.snap" | grep -q "memory file:.*g2.mem ($ram bytes)" || bad "describe"
	# without manifests: restore and merge warn and are byte-exact
	"$BIN" restore "$D/g0.snap" "$D/g1.snap" "$D/g2.snap" -o "$D/r.img" 2>"$D/err" || bad "restore: $(cat "$D/err")"
	grep -q "g1.snap has no manifest:.*holes are taken as unchanged" "$D/err" || bad "restore warning: $(cat "$D/err")"
	cmp -s "$D/r.img" "$D/g2.img" || bad "restore $page is not the region"
	"$BIN" -q restore "$D/g0.mem" "$D/g1.mem" -o "$D/r1.img" 2>"$D/err" || bad "restore g1"
	[ -s "$D/err" ] && bad "-q still warned"
	cmp -s "$D/r1.img" "$D/g1.img" || bad "restore of g0+g1 is not the region"
	"$BIN" merge "$D/g0.mem" "$D/g1.mem" "$D/g2.mem" -o "$D/m.mem" 2>"$D/err" || bad "merge: $(cat "$D/err")"
	grep -q "warning" "$D/err" || bad "merge warning"
	cmp -s "$D/m.mem" "$D/g2.img" || bad "merge $page is not the region"
	# manifests, from the full image up
	"$BIN" manifest "$D/g0.snap" "$D/g0.mem" --kind full --page-size "$mpage" >"$D/out" || bad "manifest g0"
	grep -q "g0.manifest: full of .*g0.mem.* ($mpage bytes)" "$D/out" || bad "manifest output: $(cat "$D/out")"
	"$BIN" manifest "$D/g1.snap" "$D/g1.mem" --kind diff --parent "$D/g0.snap" --page-size "$mpage" 2>/dev/null >/dev/null || bad "manifest g1"
	out=$("$BIN" --json manifest "$D/g2.snap" "$D/g2.mem" --kind diff --parent "$D/g1.mem" --page-size "$mpage" 2>/dev/null) || bad "manifest g2"
	case "$out" in
	'{"manifest":'*'"kind":"diff","region_size":'"$ram"',"page_size":'"$mpage"','*'"parent":"'*) ;;
	*) bad "manifest --json: $out" ;;
	esac
	"$BIN" merge "$D/g0.mem" "$D/g1.mem" "$D/g2.mem" -o "$D/mm.mem" 2>"$D/err" || bad "merge with manifests: $(cat "$D/err")"
	cmp -s "$D/mm.mem" "$D/g2.img" || bad "merge with manifests $page is not the region"
	"$BIN" verify "$D/mm.snap" >/dev/null || bad "verify of the merge"
	"$BIN" restore --verify "$D/g0.snap" "$D/g1.snap" "$D/g2.snap" -o "$D/v.img" 2>"$D/err" || bad "restore --verify"
	[ -s "$D/err" ] && bad "warned with manifests: $(cat "$D/err")"
	cmp -s "$D/v.img" "$D/g2.img" || bad "verified restore is not the region"
	for g in 0 1 2; do
		"$BIN" verify "$D/g$g.snap" >/dev/null || bad "verify g$g"
	done
	"$BIN" restore "$D/g0.snap" "$D/g2.snap" "$D/g1.snap" -o "$D/x.img" 2>/dev/null && bad "wrong order accepted"
	# refusals
	"$BIN" manifest "$D/g0.snap" "$D/g0.mem" --kind full 2>"$D/err" && bad "replaced a manifest"
	grep -q "already exists" "$D/err" || bad "no reason for the refusal: $(cat "$D/err")"
	"$BIN" manifest "$D/g0.snap" "$D/g0.mem" --kind full --replace >/dev/null || bad "--replace"
done
"$BIN" manifest a.snap a.mem --kind diff 2>/dev/null; [ $? -eq 2 ] || bad "diff without --parent: not a usage error"
"$BIN" manifest a.snap a.mem 2>/dev/null; [ $? -eq 2 ] || bad "no --kind: not a usage error"
for ps in 3000 12288 2048 131072 0 x; do
	"$BIN" manifest a.snap a.mem --kind full --page-size $ps 2>"$TMP/err"; [ $? -eq 2 ] || bad "--page-size $ps: not a usage error"
	grep -q "page-size" "$TMP/err" || bad "--page-size $ps: no reason: $(cat "$TMP/err")"
done
"$BIN" manifest a.snap "$TMP/missing.mem" --kind full 2>/dev/null; [ $? -eq 1 ] || bad "missing file: not exit 1"
"$BIN" --help | grep -q "^  manifest " || bad "manifest not in --help"
exit $fail
