#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# squib-snap migrate recv/send over loopback (TLS with a pre-shared key file,
# and --plaintext with its warning), and "demo migrate --json".
set -eu
B="$SQ_BUILD_DIR/squib-snap"
T=$(mktemp -d "${SQ_TEST_TMP_DIR:-/tmp}/cli-migrate.XXXXXX")
trap 'rm -rf "$T"' EXIT
[ -x "$B" ] || { echo "SKIP: no squib-snap"; exit 77; }

# A file with a page-unaligned tail and a state blob, received and saved,
# over TLS with a pre-shared key file (0600).
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$T/key"
chmod 600 "$T/key"
head -c 1500000 /dev/urandom > "$T/src"
dd if=/dev/zero bs=4096 count=64 2>/dev/null >> "$T/src"
printf 'cli state blob' > "$T/state.in"
mkdir "$T/out"
"$B" -q --json migrate recv --listen 127.0.0.1:0 --port-file "$T/port" --out "$T/out" \
	--timeout 20000 --psk-file "$T/key" > "$T/recv.json" &
RPID=$!
i=0
while [ ! -s "$T/port" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
"$B" --json migrate send --to "127.0.0.1:$(cat "$T/port")" --file "$T/src" \
	--state "$T/state.in" --psk-file "$T/key" > "$T/send.json"
wait $RPID
grep -Eq '"tls":"(user|ktls)"' "$T/send.json"
grep -Eq '"tls":"(user|ktls)"' "$T/recv.json"
grep -q '"result":"SQ_OK"' "$T/send.json"
grep -q '"converged":true' "$T/send.json"
grep -q '"complete":true' "$T/recv.json"
SIZE=$(stat -c %s "$T/src")
cmp -n "$SIZE" "$T/src" "$T/out/memory"
cmp "$T/state.in" "$T/out/state"
# the zero tail is a hole, not data
[ "$(stat -c %b "$T/out/memory")" -lt "$(( $(stat -c %s "$T/out/memory") / 512 ))" ]
# written by io's page writer: a manifest beside it, and nothing else left
[ "$(ls -A "$T/out" | tr '\n' ' ')" = "memory memory.manifest state " ]

# A live demo region whose state blob is a real state file, saved as a pair.
if [ -f "$SQ_SOURCE_DIR/tests/data/vectors/demo.snap" ]; then
	rm -f "$T/port"
	"$B" -q --json migrate recv --listen 127.0.0.1:0 --port-file "$T/port" \
		--pair "$T/vm.snap" --timeout 20000 --plaintext > "$T/recv2.json" 2> "$T/recv2.err" &
	RPID=$!
	i=0
	while [ ! -s "$T/port" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
	"$B" -q --json migrate send --to "127.0.0.1:$(cat "$T/port")" --demo 8M --rate 8 \
		--state "$SQ_SOURCE_DIR/tests/data/vectors/demo.snap" --plaintext > "$T/send2.json" \
		2> "$T/send2.err"
	wait $RPID
	grep -q 'warning: --plaintext' "$T/send2.err"
	grep -q 'warning: --plaintext' "$T/recv2.err"
	grep -q '"tls":"off"' "$T/send2.json"
	grep -q '"converged":true' "$T/send2.json"
	cmp "$SQ_SOURCE_DIR/tests/data/vectors/demo.snap" "$T/vm.snap"
	[ -f "$T/vm.mem" ] && [ -f "$T/vm.manifest" ]
	[ "$(stat -c %s "$T/vm.mem")" -eq $((8 << 20)) ]
	# written by io's page writer, as squib-snap save writes it: it verifies
	"$B" -q --json verify "$T/vm.snap" > "$T/verify.json"
	grep -q '"ok":true' "$T/verify.json"
fi

# Start a receiver with the given options (port file in $T/port, output in
# $T/recv.out/err), wait for its port.
start_recv() {
	rm -f "$T/port"
	"$B" -q migrate recv --listen 127.0.0.1:0 --port-file "$T/port" --timeout 20000 \
		--psk-file "$T/key" "$@" \
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
"$B" -q migrate send --to "127.0.0.1:$(cat "$T/port")" --file "$T/src" --psk-file "$T/key" \
	2> "$T/send.err" || rc=$?
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
	--psk-file "$T/key" 2> "$T/send.err" || rc=$?
wait $RPID || true
[ $rc -eq 1 ] || { echo "sender exit $rc for a blob that is not a state file"; exit 1; }
grep -q 'failed to commit' "$T/send.err"
[ ! -e "$T/bad.snap" ] && [ ! -e "$T/bad.mem" ]
start_recv --pair "$T/bad.snap"
rc=0
"$B" -q --json migrate send --to "127.0.0.1:$(cat "$T/port")" --file "$T/src" \
	--psk-file "$T/key" > "$T/send.json" || rc=$?
wait $RPID || true
[ $rc -eq 1 ] || { echo "sender exit $rc without a blob for a pair"; exit 1; }
grep -q '"result":"SQ_E_TOO_SHORT"' "$T/send.json"
grep -q 'no state blob' "$T/send.json"
# (4) checked up front: a missing directory fails before listening.
rc=0
"$B" -q migrate recv --listen 127.0.0.1:0 --port-file "$T/port2" --out "$T/nope" \
	--psk-file "$T/key" 2> "$T/recv.err" || rc=$?
[ $rc -eq 1 ] && [ ! -e "$T/port2" ]
grep -q 'No such file or directory' "$T/recv.err"

# The port file: 0600 whatever the umask, a symlink there replaced, not followed.
printf 'victim\n' > "$T/victim"
rm -f "$T/port"
ln -s "$T/victim" "$T/port"
(umask 000; "$B" -q migrate recv --listen 127.0.0.1:0 --port-file "$T/port" --timeout 300 \
	--psk-file "$T/key" 2>/dev/null || true)
[ "$(cat "$T/victim")" = victim ]
[ -f "$T/port" ] && [ ! -L "$T/port" ]
[ "$(stat -c %a "$T/port")" = 600 ]
ls "$T" | grep -q '\.tmp' && { echo "temp file left"; exit 1; }

# Refused by a TLS receiver before any frame: a plaintext sender (told so in
# plaintext), a wrong key (the TLS alert). Each sender exits 1 with the code;
# the receiver waits on and, at its session deadline, names the last refusal.
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$T/other.key"
chmod 600 "$T/other.key"
start_recv --session-timeout 4000 --json
for link in "--plaintext" "--psk-file $T/other.key"; do
	rc=0
	# shellcheck disable=SC2086
	"$B" -q --json migrate send --to "127.0.0.1:$(cat "$T/port")" --file "$T/src" $link \
		> "$T/refused.json" 2>/dev/null || rc=$?
	[ $rc -eq 1 ] || { echo "sender with $link exited $rc"; cat "$T/refused.json"; exit 1; }
	case $link in
	--plaintext) grep -q '"SQ_E_TLS_REQUIRED"' "$T/refused.json" ;;
	*) grep -q '"SQ_E_TLS_AUTH"' "$T/refused.json" ;;
	esac
done
rc=0
wait $RPID || rc=$?
[ $rc -eq 1 ] || { echo "receiver exited $rc after refusing both"; exit 1; }
grep -q '"SQ_E_TIMEOUT"' "$T/recv.out"
grep -q 'SQ_E_TLS_AUTH' "$T/recv.out"
# No key byte in anything printed.
for f in "$T"/*.json "$T"/*.err "$T"/recv.out; do
	if grep -qF -e "$(cat "$T/key")" -e "$(cat "$T/other.key")" "$f"; then
		echo "key bytes in $f"; exit 1
	fi
done

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
if "$B" -q migrate send --to 127.0.0.1:1 --file "$T/src" --plaintext 2>/dev/null; then
	echo "send to a closed port succeeded"; exit 1
fi
# Refused: no link choice, two of them (usage errors); a key file others
# can read (before any connection or listener).
bad send --to 127.0.0.1:1 --file "$T/src"
bad recv --listen 127.0.0.1:0
bad send --to 127.0.0.1:1 --file "$T/src" --plaintext --psk-file "$T/key"
bad send --to 127.0.0.1:1 --file "$T/src" --tls-cert "$T/key"
bad recv --listen 127.0.0.1:0 --plaintext --no-ktls
chmod 644 "$T/key"
"$B" -q --json migrate send --to 127.0.0.1:1 --file "$T/src" --psk-file "$T/key" \
	> "$T/perm.json" || true
grep -q '"SQ_E_KEY_PERMS"' "$T/perm.json"
grep -q '0644' "$T/perm.json"
rc=0
"$B" -q --json migrate recv --listen 127.0.0.1:0 --port-file "$T/port3" --psk-file "$T/key" \
	> "$T/perm2.json" || rc=$?
[ $rc -eq 1 ] && [ ! -e "$T/port3" ]
grep -q '"SQ_E_KEY_PERMS"' "$T/perm2.json"

# The demo, if the demo command is built in.
if "$B" help demo >/dev/null 2>&1; then
	"$B" -q --json demo migrate --size 32M --rate 32 > "$T/demo.json"
	grep -q '"verified":true' "$T/demo.json"
	grep -Eq '"tls":"(user|ktls)"' "$T/demo.json"
	grep -Eq '"receiver_tls":"(user|ktls)"' "$T/demo.json"
	grep -q '"downtime_ms":' "$T/demo.json"
	grep -q '"wire_bytes":' "$T/demo.json"
	"$B" -q --json demo migrate --size 8M --rate 8 --no-ktls > "$T/demo2.json"
	grep -q '"verified":true' "$T/demo2.json"
	grep -q '"tls":"user"' "$T/demo2.json"
	"$B" -q --json demo migrate --size 8M --rate 8 --plaintext > "$T/demo3.json" \
		2> "$T/demo3.err"
	grep -q '"verified":true' "$T/demo3.json"
	grep -q '"tls":"off"' "$T/demo3.json"
	grep -q 'warning: --plaintext' "$T/demo3.err"
fi
echo ok
