#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# -p/--progress on merge, restore, verify and migrate send:
#  - stderr a terminal (tests/cli/pty_stderr.py): a '\r'-rewritten line
#    with the command's name that reaches 100.0%, then a newline; the
#    result is still right (outputs compared byte for byte, exit 0);
#  - stderr not a terminal, or --json, or -q: no progress output at all,
#    and with --json stdout is one JSON document.
set -u
BIN="$SQ_BUILD_DIR/squib-snap"
PTY="$SQ_SOURCE_DIR/tests/cli/pty_stderr.py"
[ -x "$BIN" ] || { echo "SKIP: $BIN not built"; exit 77; }
T=$(mktemp -d "$SQ_TEST_TMP_DIR/cli_progress.XXXXXX")
RPID=
trap '[ -n "$RPID" ] && kill "$RPID" 2>/dev/null; rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

# A progress line of @label in file @err: drawn with '\r', complete, ended.
has_line() {
	python3 - "$1" "$2" <<'PY' || fail "no progress line for $1 in $2: $(od -c "$2" | head -5)"
import sys
label, data = sys.argv[1], open(sys.argv[2], "rb").read().decode()
assert "\r" + label + " " in data, "no line"
assert "100.0%" in data, "not complete"
assert data.rstrip(" ").endswith("\n"), "no final newline"
PY
}
# Nothing in @err (a file).
quiet_err() { [ ! -s "$2" ] || fail "$1 wrote on stderr: $(od -c "$2" | head -5)"; }
json1() { python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$1" || fail "$1 not JSON"; }

"$BIN" -q demo --size 16M --rounds 2 --dir "$T" --keep >/dev/null 2>&1 || fail "demo"
C0="$T/snap-0.mem" C1="$T/snap-1.mem" C2="$T/snap-2.mem"

# merge
"$PTY" "$T/out" "$T/err" -- "$BIN" merge -p "$C0" "$C1" "$C2" -o "$T/m.mem" || fail "merge -p"
has_line merge "$T/err"
grep -q "3 layers merged" "$T/out" || fail "merge stdout: $(cat "$T/out")"
"$BIN" merge --progress "$C0" "$C1" "$C2" -o "$T/m2.mem" >"$T/out" 2>"$T/err" || fail "merge"
quiet_err "merge -p without a terminal" "$T/err"
cmp "$T/m.mem" "$T/m2.mem" || fail "merge outputs differ"
"$PTY" "$T/out" "$T/err" -- "$BIN" --json merge -p "$C0" "$C1" "$C2" -o "$T/m3.mem" ||
	fail "merge --json -p"
quiet_err "merge --json -p" "$T/err"
json1 "$T/out"
"$PTY" "$T/out" "$T/err" -- "$BIN" -q merge -p "$C0" "$C1" "$C2" -o "$T/m4.mem" ||
	fail "merge -q -p"
quiet_err "merge -q -p" "$T/err"

# restore: the image equals the merged file
"$PTY" "$T/out" "$T/err" -- "$BIN" restore -p --verify "$T/snap-0.snap" "$T/snap-1.snap" \
	"$T/snap-2.snap" -o "$T/r.img" || fail "restore -p"
has_line restore "$T/err"
cmp "$T/r.img" "$T/m.mem" || fail "restored image differs from the merge"
"$BIN" restore -p "$T/snap-0.snap" -o "$T/r0.img" >"$T/out" 2>"$T/err" || fail "restore"
quiet_err "restore -p without a terminal" "$T/err"
"$PTY" "$T/out" "$T/err" -- "$BIN" --json restore -p "$T/snap-0.snap" -o "$T/r1.img" ||
	fail "restore --json -p"
quiet_err "restore --json -p" "$T/err"
json1 "$T/out"

# verify: a good pair passes, a damaged one still fails with -p
"$PTY" "$T/out" "$T/err" -- "$BIN" verify -p "$T/snap-2.snap" || fail "verify -p"
has_line verify "$T/err"
grep -q ": ok" "$T/out" || fail "verify stdout: $(cat "$T/out")"
"$BIN" verify -p "$T/snap-2.snap" >"$T/out" 2>"$T/err" || fail "verify"
quiet_err "verify -p without a terminal" "$T/err"
"$PTY" "$T/out" "$T/err" -- "$BIN" --json verify -p "$T/snap-2.snap" || fail "verify --json -p"
quiet_err "verify --json -p" "$T/err"
json1 "$T/out"
printf 'X' | dd of="$C0" bs=1 seek=4096 conv=notrunc 2>/dev/null
"$PTY" "$T/out" "$T/err" -- "$BIN" verify -p "$T/snap-0.snap"
[ $? -eq 1 ] || fail "verify -p of a damaged file did not fail"
grep -q "CRC-64 mismatch" "$T/err" || fail "verify failure text: $(cat "$T/err")"

# migrate send: a file, received whole
head -c 3000000 /dev/urandom >"$T/src"
recv() {
	rm -f "$T/port"
	"$BIN" -q migrate recv --listen 127.0.0.1:0 --port-file "$T/port" --out "$T/$1" \
		--timeout 20000 --plaintext >/dev/null 2>&1 &
	RPID=$!
	i=0
	while [ ! -s "$T/port" ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
	[ -s "$T/port" ] || fail "receiver did not start"
}
mkdir "$T/rx1" "$T/rx2"
recv rx1
"$PTY" "$T/out" "$T/err" -- "$BIN" migrate send -p --to "127.0.0.1:$(cat "$T/port")" \
	--file "$T/src" --plaintext || fail "migrate send -p"
wait "$RPID" || fail "receiver"
RPID=
has_line "migrate send round 1" "$T/err"
cmp -n 3000000 "$T/src" "$T/rx1/memory" || fail "migrated bytes differ"
recv rx2
"$BIN" migrate send -p --to "127.0.0.1:$(cat "$T/port")" --file "$T/src" --plaintext \
	>"$T/out" 2>"$T/err0" || fail "migrate send"
wait "$RPID" || fail "receiver"
RPID=
grep -v "warning: --plaintext" "$T/err0" >"$T/err" # the link's own warning
quiet_err "migrate send -p without a terminal" "$T/err"
echo "cli_progress: progress lines ok"
