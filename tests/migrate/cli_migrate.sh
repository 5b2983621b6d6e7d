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
