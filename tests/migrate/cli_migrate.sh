#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# squib-snap migrate recv/send over loopback, and "demo migrate --json".
set -eu
B="$SQ_BUILD_DIR/squib-snap"
T=$(mktemp -d "${SQ_TEST_TMP_DIR:-/tmp}/cli-migrate.XXXXXX")
trap 'rm -rf "$T"' EXIT
[ -x "$B" ] || { echo "SKIP: no squib-snap"; exit 77; }

# A file with a page-unaligned tail and a state blob, received and saved.
head -c 1500000 /dev/urandom > "$T/src"
dd if=/dev/zero bs=4096 count=64 2>/dev/null >> "$T/src"
printf 'cli state blob' > "$T/state.in"
mkdir "$T/out"
"$B" -q --json migrate recv --listen 127.0.0.1:0 --port-file "$T/port" --out "$T/out" \
	--timeout 20000 > "$T/recv.json" &
RPID=$!
i=0
while [ ! -s "$T/port" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
"$B" --json migrate send --to "127.0.0.1:$(cat "$T/port")" --file "$T/src" \
	--state "$T/state.in" > "$T/send.json"
wait $RPID
grep -q '"result":"SQ_OK"' "$T/send.json"
grep -q '"converged":true' "$T/send.json"
grep -q '"complete":true' "$T/recv.json"
SIZE=$(stat -c %s "$T/src")
cmp -n "$SIZE" "$T/src" "$T/out/memory"
cmp "$T/state.in" "$T/out/state"
# the zero tail is a hole, not data
[ "$(stat -c %b "$T/out/memory")" -lt "$(( $(stat -c %s "$T/out/memory") / 512 ))" ]

# A live demo region whose state blob is a real state file, saved as a pair.
if [ -f "$SQ_SOURCE_DIR/tests/data/vectors/demo.snap" ]; then
	rm -f "$T/port"
	"$B" -q --json migrate recv --listen 127.0.0.1:0 --port-file "$T/port" \
		--pair "$T/vm.snap" --timeout 20000 > "$T/recv2.json" &
	RPID=$!
	i=0
	while [ ! -s "$T/port" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
	"$B" -q --json migrate send --to "127.0.0.1:$(cat "$T/port")" --demo 8M --rate 8 \
		--state "$SQ_SOURCE_DIR/tests/data/vectors/demo.snap" > "$T/send2.json"
	wait $RPID
	grep -q '"converged":true' "$T/send2.json"
	cmp "$SQ_SOURCE_DIR/tests/data/vectors/demo.snap" "$T/vm.snap"
	[ -f "$T/vm.mem" ] && [ -f "$T/vm.manifest" ]
	[ "$(stat -c %s "$T/vm.mem")" -eq $((8 << 20)) ]
fi

# Start a receiver with the given options (port file in $T/port, output in
# $T/recv.out/err), wait for its port.
start_recv() {
	rm -f "$T/port"
	"$B" -q migrate recv --listen 127.0.0.1:0 --port-file "$T/port" --timeout 20000 "$@" \
		> "$T/recv.out" 2> "$T/recv.err" &
	RPID=$!
	i=0
	while [ ! -s "$T/port" ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
	[ -s "$T/port" ] || { echo "receiver did not start"; cat "$T/recv.err"; exit 1; }
}

# The receiver cannot save after the final frame: the sender is told, with
# the receiver's text, and both exit 1. (1) the output directory is gone.
mkdir "$T/gone"
start_recv --out "$T/gone"
rmdir "$T/gone"
rc=0
"$B" -q migrate send --to "127.0.0.1:$(cat "$T/port")" --file "$T/src" 2> "$T/send.err" || rc=$?
src=0
wait $RPID || src=$?
[ $rc -eq 1 ] || { echo "sender exit $rc after a failed save"; cat "$T/send.err"; exit 1; }
[ $src -eq 1 ] || { echo "receiver exit $src after a failed save"; exit 1; }
grep -q 'failed to commit' "$T/send.err"
grep -q 'No such file or directory' "$T/send.err"
# (2) a pair asked for, and the blob is not a state file; (3) no blob at all.
start_recv --pair "$T/bad.snap"
rc=0
"$B" -q migrate send --to "127.0.0.1:$(cat "$T/port")" --file "$T/src" --state "$T/state.in" \
	2> "$T/send.err" || rc=$?
wait $RPID || true
[ $rc -eq 1 ] || { echo "sender exit $rc for a blob that is not a state file"; exit 1; }
grep -q 'failed to commit' "$T/send.err"
[ ! -e "$T/bad.snap" ] && [ ! -e "$T/bad.mem" ]
start_recv --pair "$T/bad.snap"
rc=0
"$B" -q --json migrate send --to "127.0.0.1:$(cat "$T/port")" --file "$T/src" \
	> "$T/send.json" || rc=$?
wait $RPID || true
[ $rc -eq 1 ] || { echo "sender exit $rc without a blob for a pair"; exit 1; }
grep -q '"result":"SQ_E_TOO_SHORT"' "$T/send.json"
grep -q 'no state blob' "$T/send.json"
# (4) checked up front: a missing directory fails before listening.
rc=0
"$B" -q migrate recv --listen 127.0.0.1:0 --port-file "$T/port2" --out "$T/nope" \
	2> "$T/recv.err" || rc=$?
[ $rc -eq 1 ] && [ ! -e "$T/port2" ]
grep -q 'No such file or directory' "$T/recv.err"

# The port file: 0600 whatever the umask, a symlink there replaced, not followed.
printf 'victim\n' > "$T/victim"
rm -f "$T/port"
ln -s "$T/victim" "$T/port"
(umask 000; "$B" -q migrate recv --listen 127.0.0.1:0 --port-file "$T/port" --timeout 300 \
	2>/dev/null || true)
[ "$(cat "$T/victim")" = victim ]
[ -f "$T/port" ] && [ ! -L "$T/port" ]
[ "$(stat -c %a "$T/port")" = 600 ]
ls "$T" | grep -q '\.tmp' && { echo "temp file left"; exit 1; }

# Numeric options: negative, overflow, NaN, infinity, junk, zero -> exit 2.
bad() {
	rc=0
	"$B" -q migrate "$@" >/dev/null 2>&1 || rc=$?
	[ $rc -eq 2 ] || { echo "migrate $* exited $rc, expected 2"; exit 1; }
}
for v in -1 0 65 3x 99999999999999999999 " 2" +2 ""; do
	bad send --to 127.0.0.1:1 --file "$T/src" --conns "$v"
done
for v in nan inf -1 1e999 2x ""; do
	bad send --to 127.0.0.1:1 --file "$T/src" --rate "$v"
	bad send --to 127.0.0.1:1 --file "$T/src" --downtime "$v"
done
for v in -1 0 4294967297 1.5 ""; do
	bad send --to 127.0.0.1:1 --file "$T/src" --max-rounds "$v"
done
for v in -5 0 1e3 86400001 99999999999999999999 10ms; do
	bad send --to 127.0.0.1:1 --file "$T/src" --timeout "$v"
	bad send --to 127.0.0.1:1 --file "$T/src" --commit-timeout "$v"
	bad recv --listen 127.0.0.1:0 --timeout "$v"
	bad recv --listen 127.0.0.1:0 --handshake-timeout "$v"
	bad recv --listen 127.0.0.1:0 --session-timeout "$v"
done
for v in -1 0 4097 99999999999999999999G " 64M"; do
	bad recv --listen 127.0.0.1:0 --max-size "$v"
	bad send --to 127.0.0.1:1 --demo "$v"
done
if "$B" help demo >/dev/null 2>&1; then
	for v in -1 0 65 nan 1x 99999999999999999999; do
		rc=0
		"$B" -q demo migrate --conns "$v" >/dev/null 2>&1 || rc=$?
		[ $rc -eq 2 ] || { echo "demo migrate --conns $v exited $rc"; exit 1; }
		rc=0
		"$B" -q demo migrate --rate "$v" --size 1M >/dev/null 2>&1 || rc=$?
		[ $rc -eq 2 ] || [ "$v" = 0 ] || [ "$v" = 65 ] || { echo "demo migrate --rate $v exited $rc"; exit 1; }
	done
fi
bad send --to 127.0.0.1:1 --file "$T/src" --bandwidth -1
bad send --to 127.0.0.1:1 --file "$T/src" --bandwidth 99999999999999999999

# Refused: nothing listens.
if "$B" -q migrate send --to 127.0.0.1:1 --file "$T/src" 2>/dev/null; then
	echo "send to a closed port succeeded"; exit 1
fi

# The demo, if the demo command is built in.
if "$B" help demo >/dev/null 2>&1; then
	"$B" -q --json demo migrate --size 32M --rate 32 > "$T/demo.json"
	grep -q '"verified":true' "$T/demo.json"
	grep -q '"downtime_ms":' "$T/demo.json"
	grep -q '"wire_bytes":' "$T/demo.json"
fi
echo ok
