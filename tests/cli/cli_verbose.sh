#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# -v and -vv: for merge, restore, verify, info, describe, manifest, demo and
# migrate send, -v adds "squib-snap CMD: ..." lines on stderr (none without
# it), -vv adds more, -q silences them, and stdout is the same: text equal
# once measured times and fresh snapshot ids are masked, --json documents
# equal but for those members.
set -u
BIN="$SQ_BUILD_DIR/squib-snap"
[ -x "$BIN" ] || { echo "SKIP: $BIN not built"; exit 77; }
T=$(mktemp -d "$SQ_TEST_TMP_DIR/cli_verbose.XXXXXX")
RPID=
trap '[ -n "$RPID" ] && kill "$RPID" 2>/dev/null; rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

"$BIN" -q demo --size 8M --rounds 2 --dir "$T" --keep >/dev/null 2>&1 || fail "demo"
cp "$T/snap-1.mem" "$T/bare.mem"

# run NAME CMD ARGS...: stdout/stderr of "squib-snap [-v|-vv|-q -v] ..." in
# $T/NAME.{0,1,2,q}.{out,err} and of "--json [-v]" in $T/NAME.{j0,j1}.out.
run() {
	n=$1
	shift
	"$BIN" "$@" >"$T/$n.0.out" 2>"$T/$n.0.err" || fail "$n: exit $?"
	"$BIN" -v "$@" >"$T/$n.1.out" 2>"$T/$n.1.err" || fail "$n -v: exit $?"
	"$BIN" -vv "$@" >"$T/$n.2.out" 2>"$T/$n.2.err" || fail "$n -vv: exit $?"
	"$BIN" -q -v "$@" >"$T/$n.q.out" 2>"$T/$n.q.err" || fail "$n -q -v: exit $?"
	"$BIN" --json "$@" >"$T/$n.j0.out" 2>/dev/null || fail "$n --json: exit $?"
	"$BIN" --json -v "$@" >"$T/$n.j1.out" 2>"$T/$n.j1.err" || fail "$n --json -v: exit $?"
}
# check NAME CMD [text|json-keys]: the properties above.
check() {
	n=$1 c=$2
	[ -s "$T/$n.0.err" ] && fail "$n wrote on stderr without -v: $(cat "$T/$n.0.err")"
	[ -s "$T/$n.q.err" ] && fail "$n -q -v wrote on stderr: $(cat "$T/$n.q.err")"
	for f in 1 2 j1; do
		grep -q "^squib-snap $c: " "$T/$n.$f.err" || fail "$n ($f): no detail lines"
		if grep -v "^squib-snap $c: " "$T/$n.$f.err" | grep -q .; then
			fail "$n ($f): other lines on stderr: $(cat "$T/$n.$f.err")"
		fi
	done
	[ "$(wc -l <"$T/$n.2.err")" -ge "$(wc -l <"$T/$n.1.err")" ] || fail "$n: -vv says less"
	if [ "$3" = text ]; then
		for f in 1 2 q; do
			sed -E 's/[0-9a-f]{32}/ID/g; s/[0-9]+\.[0-9]+/N/g' "$T/$n.0.out" >"$T/a"
			sed -E 's/[0-9a-f]{32}/ID/g; s/[0-9]+\.[0-9]+/N/g' "$T/$n.$f.out" >"$T/b"
			cmp -s "$T/a" "$T/b" || fail "$n: stdout differs with ($f): $(diff "$T/a" "$T/b")"
		done
	fi
	python3 - "$T/$n.j0.out" "$T/$n.j1.out" "$3" <<'PY' || fail "$n: --json output differs with -v"
import json, sys
varies = {"seconds", "total_s", "downtime_ms", "commit_ms", "bandwidth", "dirty_rate",
          "predicted_downtime_ms", "session", "session_id", "round", "rounds", "remaining",
          "wire_bytes", "pages", "zero_pages", "throttle_pct", "converged", "state_bytes",
          "pause_ms", "write_s", "gbps", "merge_s", "restore_s", "restore_chain_s", "dir",
          "workload_writes", "pages_dirty", "pages_written", "bytes_written", "snapshots",
          "merge_bytes", "restore_bytes", "id"}
def strip(d):
    if isinstance(d, dict):
        return {k: strip(v) for k, v in d.items() if k not in varies}
    if isinstance(d, list):
        return [strip(v) for v in d]
    return d
a, b = (json.load(open(p)) for p in sys.argv[1:3])
if sys.argv[3] == "keys":
    assert sorted(a) == sorted(b), (sorted(a), sorted(b))
else:
    assert strip(a) == strip(b), (a, b)
PY
}

run merge merge "$T/snap-0.mem" "$T/snap-1.mem" "$T/snap-2.mem" -o "$T/m.mem"
check merge merge text
grep -q "layer 2: .*snap-2.mem, manifest" "$T/merge.1.err" || fail "merge -v: no layer line"
grep -q "copy threads" "$T/merge.1.err" || fail "merge -v: no options line"
run restore restore "$T/snap-0.snap" "$T/snap-1.snap" -o "$T/r.img"
check restore restore text
grep -Eq "with (O_DIRECT|buffered reads)" "$T/restore.1.err" || fail "restore -v: no IO path"
grep -q "extent pages" "$T/restore.2.err" || fail "restore -vv: no extents"
grep -q "extent pages" "$T/restore.1.err" && fail "restore -v lists extents"
run verify verify "$T/snap-2.snap"
check verify verify text
grep -q "state file .*CRC-64 good" "$T/verify.1.err" || fail "verify -v: no state file line"
run info info "$T/snap-2.mem"
check info info text
run describe describe "$T/snap-1.snap"
check describe describe text
run manifest manifest "$T/snap-1.snap" "$T/bare.mem" --kind full --replace
check manifest manifest text
run demo demo --size 4M --rounds 1
check demo demo keys
grep -Eq "writer: (io_uring|pwritev2), (O_DIRECT|buffered)" "$T/demo.1.err" ||
	fail "demo -v: no writer backend"

# migrate send (-v and --json -v; the sessions differ, so JSON keys only)
head -c 1000000 /dev/urandom >"$T/src"
# One migration of $SRC over loopback. $RX: the receiver's global options,
# $RXO its migrate recv options (word-split), its output in $T/rx.out and
# $T/rx.err; the arguments: the sender's global options, $TX its migrate send
# options; the sender's output is the function's.
migrate_once() {
	rm -f "$T/port"
	# shellcheck disable=SC2086
	"$BIN" $RX migrate recv --listen 127.0.0.1:0 --port-file "$T/port" --timeout 20000 \
		$RXO --plaintext >"$T/rx.out" 2>"$T/rx.err" &
	RPID=$!
	i=0
	while [ ! -s "$T/port" ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
	# shellcheck disable=SC2086
	"$BIN" "$@" migrate send --to "127.0.0.1:$(cat "$T/port")" --file "$SRC" $TX \
		--plaintext || fail "migrate send $* (receiver $RX)"
	wait "$RPID" || fail "receiver $RX"
	RPID=
}
SRC=$T/src RX=-q RXO= TX=
send() { migrate_once "$@"; }
send >"$T/s.0.out" 2>"$T/s.0.err"
send -v >"$T/s.1.out" 2>"$T/s.1.err"
send --json >"$T/s.j0.out" 2>/dev/null
send --json -v >"$T/s.j1.out" 2>"$T/s.j1.err"
# Without -v only the link's own warning (--plaintext) is on stderr.
grep -v "warning: --plaintext" "$T/s.0.err" | grep -q . && fail "migrate send wrote on stderr"
grep -q "over TLS off: done" "$T/s.1.err" || fail "migrate send -v: no outcome line"
grep -q "^squib-snap migrate send: destination 127.0.0.1:.* over 2 TCP" "$T/s.1.err" ||
	fail "migrate send -v: $(cat "$T/s.1.err")"
grep -q "^squib-snap migrate send: round 1: " "$T/s.j1.err" || fail "migrate send --json -v"
python3 - "$T/s.j0.out" "$T/s.j1.out" <<'PY' || fail "migrate send --json differs with -v"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
assert sorted(a) == sorted(b) and a["result"] == b["result"] == "SQ_OK"
PY

# migrate recv: -v tells what arrived (rounds, frames with the compressed ones
# counted, pages, bytes, time); stdout and the --json keys are unchanged.
# A compressible source sent with lz4: round 1 is always compressed.
seq 1 200000 | head -c 1000000 >"$T/text"
mkdir "$T/rx"
recv() {
	SRC=$T/text RX="$*" RXO="--out $T/rx" TX="--compress lz4" migrate_once -q >/dev/null 2>&1
	cat "$T/rx.out"
	cat "$T/rx.err" >&2
}
recv >"$T/r.0.out" 2>"$T/r.0.err"
recv -v >"$T/r.1.out" 2>"$T/r.1.err"
recv --json >"$T/r.j0.out" 2>/dev/null
recv --json -v >"$T/r.j1.out" 2>"$T/r.j1.err"
grep -v -e "warning: --plaintext" -e "listening on" "$T/r.0.err" | grep -q . &&
	fail "migrate recv wrote on stderr: $(cat "$T/r.0.err")"
sed -e 's/[0-9a-f]\{16\}/ID/g' -e 's/[0-9.]* MiB/N MiB/' -e 's/[0-9]* rounds/N rounds/' \
	-e 's/[0-9]* pages ([0-9]* zero, [0-9]* superseded)/N pages/' "$T/r.0.out" >"$T/r.0.norm"
sed -e 's/[0-9a-f]\{16\}/ID/g' -e 's/[0-9.]* MiB/N MiB/' -e 's/[0-9]* rounds/N rounds/' \
	-e 's/[0-9]* pages ([0-9]* zero, [0-9]* superseded)/N pages/' "$T/r.1.out" >"$T/r.1.norm"
cmp -s "$T/r.0.norm" "$T/r.1.norm" || fail "migrate recv -v changed stdout"
v=$T/r.1.err
grep -q "^squib-snap migrate recv: listening at 127.0.0.1:0, plaintext, region at most 64 GiB" \
	"$v" || fail "migrate recv -v: no listening line: $(cat "$v")"
grep -q "^squib-snap migrate recv: saving $T/rx/memory, its manifest" "$v" ||
	fail "migrate recv -v: no save line"
grep -Eq "^squib-snap migrate recv: session [0-9a-f]{16} over 2 connections \(TLS off\): \
[1-9][0-9]* rounds received, [1-9][0-9]* frames \([1-9][0-9]* compressed\)$" "$v" ||
	fail "migrate recv -v: no session line with compressed frames: $(cat "$v")"
grep -Eq "^squib-snap migrate recv: [1-9][0-9]* pages \([0-9]+ zero, [0-9]+ superseded by a later \
round\), [1-9][0-9]* payload bytes, state 0 bytes$" "$v" ||
	fail "migrate recv -v: no pages line: $(cat "$v")"
grep -Eq "^squib-snap migrate recv: [0-9]+\.[0-9]{3} s from the first handshake" "$v" ||
	fail "migrate recv -v: no time line"
grep -q "^squib-snap migrate recv: session " "$T/r.j1.err" || fail "migrate recv --json -v"
python3 - "$T/r.j0.out" "$T/r.j1.out" <<'PY' || fail "migrate recv --json differs with -v"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
assert sorted(a) == sorted(b) and a["complete"] and b["complete"]
assert a["compressed_frames"] > 0 and a["seconds"] > 0, a
PY
echo "cli_verbose: -v and -vv ok"
