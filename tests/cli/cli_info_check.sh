#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# squib-snap check and info:
#  - check [DIR] --json: one JSON document with every probe (ok, what,
#    detail), exit 0; a DIR that is not a directory: exit 1;
#  - info on a demo's full and diff memory files and on a manifest: layout,
#    sizes, extents, parent (found beside it), as text and JSON; the manifest's
#    data bytes agree with what the file stores on disk;
#  - info on a FIFO is refused at once (exit 1, no hang), a missing file is
#    exit 1 with the system's text, no FILE is exit 2.
set -u
BIN="$SQ_BUILD_DIR/squib-snap"
[ -x "$BIN" ] || { echo "SKIP: $BIN not built"; exit 77; }
T=$(mktemp -d "$SQ_TEST_TMP_DIR/cli_info.XXXXXX")
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

"$BIN" --json check "$T" >"$T/check.json" || fail "check exit $?"
python3 - "$T/check.json" <<'PY' || fail "check --json content"
import json, sys
d = json.load(open(sys.argv[1]))
keys = {"uffd_wp_async", "uffd_wp_sync", "pagemap_scan", "uffd_missing", "io_uring",
        "o_direct", "o_tmpfile", "seek_data", "membarrier", "ktls"}
assert set(d["features"]) == keys, d["features"].keys()
for k, v in d["features"].items():
    assert isinstance(v["ok"], bool) and v["what"] and isinstance(v["detail"], str), k
assert d["missing"] == sum(not v["ok"] for v in d["features"].values())
PY
"$BIN" check "$T" | grep -q "uffd_wp_async" || fail "check text"
: >"$T/plain"
"$BIN" check "$T/plain" >/dev/null 2>&1 && fail "check on a file succeeded"

"$BIN" -q demo --size 16M --rounds 1 --dir "$T" --keep >/dev/null 2>&1 || fail "demo"
"$BIN" --json info "$T/snap-0.mem" >"$T/full.json" || fail "info full"
"$BIN" --json info "$T/snap-1.manifest" >"$T/diff.json" || fail "info manifest"
python3 - "$T/full.json" "$T/diff.json" "$T" <<'PY' || fail "info --json content"
import json, sys
full, diff = (json.load(open(p)) for p in sys.argv[1:3])
t = sys.argv[3]
assert full["layout"] == "full" and diff["layout"] == "diff", (full["layout"], diff["layout"])
for d in (full, diff):
    m, disk = d["manifest_says"], d["disk"]
    assert m["page_size"] == 4096 and m["region_size"] == 16 << 20
    assert m["data_bytes"] + m["hole_bytes"] == m["region_size"]
    assert m["crc_pages"] * 4096 == m["data_bytes"]
    assert disk["size"] == m["region_size"]
    # What the manifest lists is what the file stores (a holes-reporting fs).
    if disk["holes_reported"]:
        assert disk["data_bytes"] == m["data_bytes"], (disk, m)
assert full["manifest_says"]["parent"] is None
assert diff["manifest_says"]["parent"] == full["manifest_says"]["id"]
assert diff["manifest_says"]["parent_file"] == t + "/snap-0.mem"
PY
"$BIN" info "$T/snap-1.mem" | grep -q "^layout: *diff" || fail "info text"

mkfifo "$T/fifo"
timeout 10 "$BIN" info "$T/fifo" >/dev/null 2>&1
rc=$?
[ $rc -eq 1 ] || fail "info on a FIFO: exit $rc"
out=$("$BIN" info "$T/missing.mem" 2>&1)
rc=$?
[ $rc -eq 1 ] || fail "info on a missing file: exit $rc"
echo "$out" | grep -q "No such file or directory" || fail "missing file text: $out"
"$BIN" info >/dev/null 2>&1
[ $? -eq 2 ] || fail "info without FILE is not a usage error"
echo "cli_info_check: check and info ok"
