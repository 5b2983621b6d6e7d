#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# squib-snap migrate send --compress over loopback: text-like data shrinks on
# the wire and arrives intact (over TLS with a pre-shared key, and in
# plaintext), random data goes raw, bad values are usage errors, and
# "demo migrate --json" reports "compression" beside "verified".
set -eu
B="$SQ_BUILD_DIR/squib-snap"
T=$(mktemp -d "${SQ_TEST_TMP_DIR:-/tmp}/cli-migrate-z.XXXXXX")
trap 'rm -rf "$T"' EXIT
[ -x "$B" ] || { echo "SKIP: no squib-snap"; exit 77; }
(umask 077; head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$T/key")
LINK="--psk-file $T/key"

# field FILE KEY: one value out of the report's "compression" object (its
# keys appear nowhere else in the report).
field() {
	sed -n 's/.*"compression":{[^}]*"'"$2"'":"\{0,1\}\([^,"}]*\).*/\1/p' "$1"
}

# send SRC MODE: migrate SRC to a fresh receiver with --compress=MODE.
send() {
	rm -rf "$T/out" "$T/port"
	mkdir "$T/out"
	"$B" -q --json migrate recv --listen 127.0.0.1:0 --port-file "$T/port" --out "$T/out" \
		--timeout 20000 $LINK > "$T/recv.json" 2> "$T/recv.err" &
	rpid=$!
	i=0
	while [ ! -s "$T/port" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
	"$B" -q --json migrate send --to "127.0.0.1:$(cat "$T/port")" --file "$1" \
		--compress="$2" $LINK > "$T/send.json" 2> "$T/send.err"
	wait $rpid
	grep -q '"result":"SQ_OK"' "$T/send.json"
	grep -q '"complete":true' "$T/recv.json"
	grep -q "\"mode\":\"$2\"" "$T/send.json"
	cmp -n "$(stat -c %s "$1")" "$1" "$T/out/memory"
}

# Text-like: log lines. Both codecs shrink it; nothing goes raw.
awk 'BEGIN { for (i = 0; i < 40000; i++)
	printf "2026-12-04 10:%02d INFO worker-%d request %d took %d ms\n", i % 60, i % 7, i, i % 97 }' \
	> "$T/text"
for mode in lz4 zstd; do
	send "$T/text" "$mode"
	[ "$(field "$T/send.json" frames)" -gt 0 ]
	[ "$(field "$T/send.json" bytes_out)" -lt "$(( $(field "$T/send.json" bytes_in) / 2 ))" ]
done

# Random: every frame raw, payload bytes out = bytes in.
head -c $((488 * 4096)) /dev/urandom > "$T/random" # whole pages: no zero tail
send "$T/random" zstd
[ "$(field "$T/send.json" frames)" -eq 0 ]
[ "$(field "$T/send.json" raw_frames)" -gt 0 ]
[ "$(field "$T/send.json" bytes_out)" -eq "$(field "$T/send.json" bytes_in)" ]

# Plaintext: the same stream without TLS.
LINK=--plaintext
send "$T/text" lz4
[ "$(field "$T/send.json" frames)" -gt 0 ]
grep -q '"tls":"off"' "$T/send.json"
LINK="--psk-file $T/key"

# Off: nothing compressed, the report says so.
send "$T/text" off
[ "$(field "$T/send.json" bytes_in)" -eq 0 ]

for v in lzma LZ4 "" "zstd " 1; do
	rc=0
	"$B" -q migrate send --to 127.0.0.1:1 --file "$T/text" --compress "$v" $LINK >/dev/null 2>&1 ||
		rc=$?
	[ $rc -eq 2 ] || { echo "migrate send --compress '$v' exited $rc, expected 2"; exit 1; }
done

if "$B" help demo >/dev/null 2>&1; then
	"$B" -q --json demo migrate --size 16M --rate 16 --compress lz4 > "$T/demo.json"
	grep -q '"verified":true' "$T/demo.json"
	[ "$(field "$T/demo.json" mode)" = lz4 ]
	[ "$(field "$T/demo.json" frames)" -gt 0 ]
	rc=0
	"$B" -q demo migrate --compress gzip >/dev/null 2>&1 || rc=$?
	[ $rc -eq 2 ]
fi
echo ok
