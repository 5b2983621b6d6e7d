#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Odd inputs and outputs through the CLI: a FIFO as every input of verify,
# merge and restore is refused at once (a timeout turns a hang into a
# failure); an output that is an input is refused; merge onto tmpfs works;
# two processes restoring onto one output 50 times each (SQ_OUTPUT_ROUNDS)
# only ever publish whole images.
set -eu
BIN="$SQ_BUILD_DIR/squib-snap"
T=$(mktemp -d "$SQ_TEST_TMP_DIR/odd.XXXXXX")
SHM=""
cleanup() { rm -rf "$T"; [ -z "$SHM" ] || rm -rf "$SHM"; }
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
G="timeout 10"

"$BIN" demo --size 4M --rounds 2 --round-ms 20 --dir "$T/d" > /dev/null
D="$T/d"
for f in snap-0 snap-1 snap-2; do "$BIN" verify "$D/$f.snap" > /dev/null; done

# A FIFO in place of each input, one at a time (nobody ever writes to it).
odd() { # $1: file to replace by a FIFO, rest: the command
	victim=$1; shift
	mv "$victim" "$T/saved"
	mkfifo "$victim"
	set +e
	$G "$BIN" "$@" > "$T/out" 2>&1
	rc=$?
	set -e
	rm -f "$victim"
	mv "$T/saved" "$victim"
	[ "$rc" -ne 124 ] || fail "hung on a FIFO $victim: $*"
	[ "$rc" -ne 0 ] || fail "accepted a FIFO $victim: $*"
	grep -qi "not a regular file" "$T/out" || fail "no specific error for FIFO $victim: $(cat "$T/out")"
}
for ext in snap mem manifest; do
	odd "$D/snap-1.$ext" verify "$D/snap-1.snap"
done
for ext in mem manifest; do # restore reads no state file
	odd "$D/snap-1.$ext" restore "$D/snap-0.snap" "$D/snap-1.snap" -o "$T/r.img"
done
for ext in mem manifest; do
	odd "$D/snap-0.$ext" merge "$D/snap-0.mem" "$D/snap-1.mem" -o "$T/m.mem"
	odd "$D/snap-1.$ext" merge "$D/snap-0.mem" "$D/snap-1.mem" -o "$T/m.mem"
done
odd "$D/snap-1.mem" verify "$D/snap-1.snap" --mem "$D/snap-1.mem"
[ ! -e "$T/r.img" ] && [ ! -e "$T/m.mem" ] || fail "a refused command left an output"
# a directory and a device as inputs
mkdir "$T/dir.mem"
$G "$BIN" merge "$T/dir.mem" -o "$T/m.mem" > "$T/out" 2>&1 && fail "merged a directory"
grep -qi "not a regular file" "$T/out" || fail "directory: $(cat "$T/out")"
$G "$BIN" merge /dev/null -o "$T/m.mem" > "$T/out" 2>&1 && fail "merged a device"
grep -qi "not a regular file" "$T/out" || fail "device: $(cat "$T/out")"

# An output that is an input, by name or through a hard link.
cp "$D/snap-0.mem" "$T/keep0"
$G "$BIN" merge "$D/snap-0.mem" "$D/snap-1.mem" -o "$D/snap-1.mem" > "$T/out" 2>&1 &&
	fail "merge onto its own input"
grep -q "is the input" "$T/out" || fail "merge A B -o B: $(cat "$T/out")"
ln "$D/snap-0.mem" "$T/alias.mem"
$G "$BIN" merge "$D/snap-0.mem" "$D/snap-1.mem" -o "$T/alias.mem" > "$T/out" 2>&1 &&
	fail "merge onto a hard link of its input"
$G "$BIN" restore "$D/snap-0.snap" "$D/snap-1.snap" -o "$D/snap-0.mem" > "$T/out" 2>&1 &&
	fail "restore onto its input"
grep -q "is the input" "$T/out" || fail "restore onto input: $(cat "$T/out")"
cmp "$D/snap-0.mem" "$T/keep0" || fail "a refused output changed its input"
rm "$T/alias.mem"
for f in snap-0 snap-1 snap-2; do "$BIN" verify "$D/$f.snap" > /dev/null; done

# Merge onto tmpfs (copy_file_range refuses across filesystems).
if [ -d /dev/shm ] && [ -w /dev/shm ]; then
	SHM=$(mktemp -d /dev/shm/squib-odd.XXXXXX)
	$G "$BIN" merge "$D/snap-0.mem" "$D/snap-1.mem" "$D/snap-2.mem" -o "$SHM/m.mem" > /dev/null ||
		fail "merge onto tmpfs"
	$G "$BIN" verify "$SHM/m.snap" > /dev/null || fail "the merge on tmpfs does not verify"
	$G "$BIN" restore "$D/snap-0.snap" "$D/snap-1.snap" "$D/snap-2.snap" -o "$T/r.img" > /dev/null
	cmp "$T/r.img" "$SHM/m.mem" || fail "tmpfs merge differs from the restore"
	rm -f "$T/r.img"
else
	echo "SKIP part: no writable /dev/shm"
fi

# Two restorers of one output, 50 times each: only whole images appear.
"$BIN" restore "$D/snap-0.snap" -o "$T/img0" > /dev/null
"$BIN" restore "$D/snap-0.snap" "$D/snap-1.snap" "$D/snap-2.snap" -o "$T/img2" > /dev/null
ROUNDS=${SQ_OUTPUT_ROUNDS:-50}
writer() { # $1: tag, rest: chain
	tag=$1; shift
	i=0; ok=0
	while [ $i -lt "$ROUNDS" ]; do
		set +e
		"$BIN" restore "$@" -o "$T/shared.img" > /dev/null 2> "$T/err.$tag"
		rc=$?
		set -e
		if [ $rc -eq 0 ]; then ok=$((ok + 1));
		elif ! grep -q "another process" "$T/err.$tag"; then echo "bad: $(cat "$T/err.$tag")" > "$T/bad.$tag"; fi
		i=$((i + 1))
	done
	echo $ok > "$T/ok.$tag"
}
writer a "$D/snap-0.snap" & pa=$!
writer b "$D/snap-0.snap" "$D/snap-1.snap" "$D/snap-2.snap" & pb=$!
seen=0
while kill -0 $pa 2>/dev/null || kill -0 $pb 2>/dev/null; do
	if cp "$T/shared.img" "$T/peek" 2>/dev/null; then
		cmp -s "$T/peek" "$T/img0" || cmp -s "$T/peek" "$T/img2" || fail "a torn restore image was published"
		seen=$((seen + 1))
	fi
done
wait $pa; wait $pb
[ ! -e "$T/bad.a" ] && [ ! -e "$T/bad.b" ] || fail "restore failed otherwise than busy: $(cat "$T"/bad.*)"
[ "$(cat "$T/ok.a")" -gt 0 ] && [ "$(cat "$T/ok.b")" -gt 0 ] || fail "a restorer never succeeded"
ls "$T" | grep -q '\.tmp$' && fail "temp left: $(ls "$T")"
ls "$T" | grep -q '\.lock$' && fail "lock left: $(ls "$T")"
echo "odd inputs refused; $seen published restore images checked whole"
