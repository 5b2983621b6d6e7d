#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# squib-snap describe on the golden vectors: every case vector that the
# original's describe accepts gives one JSON document and exit 0; a flipped
# trailer byte gives crc_ok false; the envelope failures and every reject
# vector, plus truncated and random files, exit 1 with a one-line error
# (never a crash, never more than one line).
set -u
BIN="$SQ_BUILD_DIR/squib-snap"
VEC="$SQ_SOURCE_DIR/tests/data/vectors"
TMP=$(mktemp -d "$SQ_TEST_TMP_DIR/describe_cli.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
[ -x "$BIN" ] || { echo "SKIP: $BIN not built"; exit 77; }
fail=0
bad() { echo "FAIL: $*"; fail=1; }

# Cases: minimal demo edge default_state env_version_5_0_12345 env_version_prerelease
for name in minimal demo edge default_state env_version_5_0_12345 env_version_prerelease; do
	out=$("$BIN" describe --json "$VEC/$name.snap") || bad "$name: exit $?"
	case "$out" in
	'{"state_path":'*'"crc_ok":true}') ;;
	*) bad "$name: unexpected JSON: $out" ;;
	esac
	[ "$(printf '%s\n' "$out" | wc -l)" -eq 1 ] || bad "$name: more than one line"
	"$BIN" describe "$VEC/$name.snap" | grep -q '^  crc_ok:              yes$' || bad "$name: human form"
done
"$BIN" describe --json "$VEC/demo.snap" | grep -q '"vcpu_count":2,"mem_size_mib":1024' || bad "demo values"

# The original's describe reports these envelope outcomes as errors.
for pair in env_magic_mismatch:"snapshot magic mismatch (file: 0xdeadbeef, expected: 0x7101984aaaa0000)" \
	    env_version_6_0_0:"snapshot version 6.0.0 is incompatible with squib's 5.0.0" \
	    env_version_5_1_0:"snapshot version 5.1.0 is incompatible with squib's 5.0.0"; do
	name=${pair%%:*}
	want=${pair#*:}
	err=$("$BIN" describe "$VEC/$name.snap" 2>&1 >/dev/null)
	rc=$?
	[ $rc -eq 1 ] || bad "$name: exit $rc"
	[ "$err" = "squib-snap describe: $want" ] || bad "$name: '$err'"
done

# A flipped trailer byte: still described, crc_ok false / NO.
cp "$VEC/demo.snap" "$TMP/flip.snap"
size=$(wc -c < "$TMP/flip.snap")
printf '\377' | dd of="$TMP/flip.snap" bs=1 seek=$((size - 1)) conv=notrunc 2>/dev/null
out=$("$BIN" describe --json "$TMP/flip.snap") || bad "flipped trailer: exit $?"
case "$out" in *'"crc_ok":false}') ;; *) bad "flipped trailer: $out" ;; esac
"$BIN" describe "$TMP/flip.snap" | grep -q '^  crc_ok:              NO$' || bad "flipped trailer: human form"

# Malformed files: exit 1, one line, the specific error.
check_fail() { # file expected-substring
	err=$("$BIN" describe "$1" 2>&1 >/dev/null)
	rc=$?
	[ $rc -eq 1 ] || bad "$1: exit $rc (want 1)"
	[ "$(printf '%s\n' "$err" | wc -l)" -eq 1 ] || bad "$1: error is not one line: $err"
	case "$err" in *"$2"*) ;; *) bad "$1: '$err' lacks '$2'" ;; esac
	out=$("$BIN" describe --json "$1")
	[ $? -eq 1 ] || bad "$1: --json exit"
	case "$out" in '{"error":{'*'}}') ;; *) bad "$1: --json output $out" ;; esac
}
for r in "$VEC"/reject_*.snap; do
	check_fail "$r" "snapshot encoding error: "
done
printf 'abc' > "$TMP/abc.snap"
check_fail "$TMP/abc.snap" "snapshot file is too short to contain a CRC trailer"
check_fail "$TMP/missing.snap" "snapshot I/O error"
head -c 100 "$VEC/demo.snap" > "$TMP/trunc.snap"
check_fail "$TMP/trunc.snap" "snapshot encoding error"   # CRC fails, the body fallback fails
i=0
while [ $i -lt 50 ]; do
	head -c $((i * 37 + 1)) /dev/urandom > "$TMP/rand.snap"
	"$BIN" describe "$TMP/rand.snap" >/dev/null 2>&1
	rc=$?
	[ $rc -le 1 ] || bad "random file of $((i * 37 + 1)) bytes: exit $rc"
	i=$((i + 1))
done
"$BIN" describe >/dev/null 2>&1; [ $? -eq 2 ] || bad "no argument: want exit 2"
exit $fail
