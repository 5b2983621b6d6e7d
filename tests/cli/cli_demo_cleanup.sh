#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# squib-snap demo leaves nothing behind when it is stopped or fails, and every
# output file of every command is 0600 whatever the umask:
#  - SIGINT and SIGTERM sent to a running demo: its temporary directory (and a
#    --dir it created) is gone, and it died of that signal (status 130 / 143);
#  - with --keep, or a --dir that existed before, the directory stays;
#  - a demo whose snapshot write fails (file size limit): exit 1, directory gone;
#  - umask 000 and 077: demo, merge, restore and migrate recv outputs are 0600.
set -u
BIN="$SQ_BUILD_DIR/squib-snap"
[ -x "$BIN" ] || { echo "SKIP: $BIN not built"; exit 77; }
env --default-signal=INT true 2>/dev/null ||
	{ echo "SKIP: env --default-signal not available"; exit 77; }
T=$(mktemp -d "$SQ_TEST_TMP_DIR/cli_clean.XXXXXX")
pids=""
cleanup() {
	for p in $pids; do kill -KILL "$p" 2>/dev/null; done
	rm -rf "$T"
}
trap cleanup EXIT
fail=0
bad() { echo "FAIL: $*"; fail=1; }

# A long demo (many slow rounds) with its temporary directory under $T/tmp.
# Background jobs of a script ignore SIGINT: env restores the default, as an
# interactive shell's foreground job would have it.
start_demo() { # TMPDIR-base extra-args...
	base=$1
	shift
	mkdir -p "$base"
	TMPDIR=$base env --default-signal=INT,TERM "$BIN" -q demo --size 16M --rounds 60 \
		--round-ms 250 --workers 1 --api-marks "$@" > "$T/demo.out" 2>&1 &
	dpid=$!
	pids="$pids $dpid"
}
# wait until the run is past its full snapshot (FILE appears), at most 60 s
wait_for() {
	i=0
	while [ $i -lt 600 ]; do
		# shellcheck disable=SC2086
		for f in $1; do [ -e "$f" ] && return 0; done
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}

for sig in INT TERM; do
	want=$((128 + $(kill -l "$sig" 2>/dev/null || echo 0)))
	[ "$sig" = INT ] && want=130
	[ "$sig" = TERM ] && want=143
	# the temporary directory
	start_demo "$T/tmp-$sig"
	wait_for "$T/tmp-$sig/squib-demo.*/snap-1.snap" || bad "$sig: the demo never got going"
	kill -s "$sig" "$dpid"
	wait "$dpid"
	rc=$?
	[ $rc -eq $want ] || bad "SIG$sig: exit status $rc, want $want: $(cat "$T/demo.out")"
	left=$(ls -A "$T/tmp-$sig")
	[ -z "$left" ] || bad "SIG$sig: left behind: $left"
	# a --dir the demo created
	start_demo "$T/unused" --dir "$T/new-$sig"
	wait_for "$T/new-$sig/snap-1.snap" || bad "$sig --dir: the demo never got going"
	kill -s "$sig" "$dpid"
	wait "$dpid"
	rc=$?
	[ $rc -eq $want ] || bad "SIG$sig --dir: exit status $rc, want $want"
	[ ! -e "$T/new-$sig" ] || bad "SIG$sig: the --dir it created is still there"
done

# --keep: the directory stays, with complete files only (no temporaries).
start_demo "$T/tmp-keep" --keep
wait_for "$T/tmp-keep/squib-demo.*/snap-1.snap" || bad "--keep: the demo never got going"
kill -s INT "$dpid"
wait "$dpid"
[ $? -eq 130 ] || bad "--keep: exit status"
n=$(find "$T/tmp-keep" -name 'snap-0.snap' | wc -l)
[ "$n" -eq 1 ] || bad "--keep: the directory was removed"
tmps=$(find "$T/tmp-keep" -name '*.tmp*')
[ -z "$tmps" ] || bad "--keep: temporary files left: $tmps"

# A --dir that existed before is never removed, nor what was in it.
mkdir "$T/mine"
echo precious > "$T/mine/keepme"
start_demo "$T/unused" --dir "$T/mine"
wait_for "$T/mine/snap-1.snap" || bad "existing --dir: the demo never got going"
kill -s TERM "$dpid"
wait "$dpid"
[ $? -eq 143 ] || bad "existing --dir: exit status"
[ "$(cat "$T/mine/keepme" 2>/dev/null)" = precious ] || bad "existing --dir: its content was touched"

# A failure (the snapshot write exceeds the file size limit): exit 1, nothing left.
mkdir "$T/tmp-fail"
(
	trap '' XFSZ
	ulimit -f 2048
	TMPDIR="$T/tmp-fail" exec "$BIN" demo --size 16M --rounds 1 --round-ms 10 --workers 1 \
		--api-marks --json
) > "$T/fail.json" 2> "$T/fail.err"
rc=$?
[ $rc -eq 1 ] || bad "failing demo: exit $rc, want 1: $(cat "$T/fail.json" "$T/fail.err")"
grep -q '"error"' "$T/fail.json" || bad "failing demo: no JSON error: $(cat "$T/fail.json")"
left=$(ls -A "$T/tmp-fail")
[ -z "$left" ] || bad "failing demo: left behind: $left"
(
	trap '' XFSZ
	ulimit -f 2048
	exec "$BIN" -q demo --size 16M --rounds 1 --round-ms 10 --workers 1 --api-marks \
		--dir "$T/fail-dir"
) > /dev/null 2>&1
[ $? -eq 1 ] || bad "failing demo --dir: exit status"
[ ! -e "$T/fail-dir" ] || bad "failing demo: the --dir it created is still there"

# ------------------------------------------------------------------ umask
modes() { # DIR: every regular file's mode, one per line, sorted and unique
	find "$1" -type f -exec stat -c '%a' {} + | sort -u
}
for m in 000 077 022; do
	D="$T/umask-$m"
	mkdir -p "$D/out"
	(
		umask $m
		"$BIN" -q demo --size 4M --rounds 1 --round-ms 10 --workers 1 --api-marks \
			--dir "$D/demo" > /dev/null &&
		"$BIN" -q merge "$D/demo/snap-0.mem" "$D/demo/snap-1.mem" -o "$D/out/m.mem" \
			> /dev/null &&
		"$BIN" -q restore "$D/demo/snap-0.snap" "$D/demo/snap-1.snap" -o "$D/out/r.img" \
			> /dev/null &&
		{
			"$BIN" -q migrate recv --listen 127.0.0.1:0 --port-file "$D/out/port" \
				--out "$D/out" --timeout 20000 --plaintext > /dev/null &
			rp=$!
			i=0
			while [ ! -s "$D/out/port" ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i + 1)); done
			"$BIN" -q migrate send --to "127.0.0.1:$(cat "$D/out/port")" \
				--file "$D/demo/snap-1.mem" --state "$D/demo/snap-1.snap" \
				--conns 1 --plaintext > /dev/null
			s=$?
			wait $rp && [ $s -eq 0 ]
		}
	) || bad "umask $m: a command failed"
	for f in snap-0.snap snap-0.mem snap-1.snap snap-1.mem; do
		[ -f "$D/demo/$f" ] || bad "umask $m: no $f"
	done
	for f in m.mem r.img port memory state; do
		[ -f "$D/out/$f" ] || bad "umask $m: no $f"
	done
	got=$(modes "$D" | tr '\n' ' ')
	[ "$got" = "600 " ] || bad "umask $m: file modes '$got', want only 600"
done

[ $fail -eq 0 ] && echo "PASS"
exit $fail
