#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# squib-snap's command-line conventions, over every command:
#  - numeric options refuse negative numbers, overflow, NaN, infinity, trailing
#    junk, blanks, signs, hex and empty values: exit 2 and a message naming the
#    option, as "--opt value" and as "--opt=value";
#  - "--opt=value" is accepted for every option of every command;
#  - with --json every outcome is exactly one valid JSON document on stdout;
#  - bytes of a path that are not UTF-8 come out as U+0080..U+00FF;
#  - a missing input file is exit 1 with the system's error text.
set -u
BIN="$SQ_BUILD_DIR/squib-snap"
J="$SQ_SOURCE_DIR/tests/cli/json1.py"
[ -x "$BIN" ] || { echo "SKIP: $BIN not built"; exit 77; }
T=$(mktemp -d "$SQ_TEST_TMP_DIR/cli_conv.XXXXXX")
trap 'rm -rf "$T"' EXIT
fail=0
bad() { echo "FAIL: $*"; fail=1; }
export LC_ALL=C
ENOENT_TEXT="No such file or directory"

# batch OUTPUT EXPR: checked later by one json1.py --batch run.
mkdir "$T/batch"
nb=0
CASE=""
batch() {
	nb=$((nb + 1))
	printf '%s\n' "$1" > "$T/batch/$nb.json"
	printf '%s\n' "$2" > "$T/batch/$nb.expr"
	printf '%s\n' "$CASE" > "$T/batch/$nb.what"
}

# batchf FILE EXPR: the same for a file's content (kept as it is).
batchf() {
	nb=$((nb + 1))
	cp "$1" "$T/batch/$nb.json"
	printf '%s\n' "$2" > "$T/batch/$nb.expr"
	printf '%s\n' "$CASE" > "$T/batch/$nb.what"
	printf '%s\n' "$CASE" > "$T/batch/$nb.what"
}

# A small chain to give the commands real inputs.
"$BIN" -q demo --size=4M --rounds=1 --round-ms=10 --workers=1 --api-marks --dir="$T/d" \
	--keep --json > "$T/demo.json" || bad "demo --opt=value run: exit $?"
batchf "$T/demo.json" 'd["verified"] is True' 
S0="$T/d/snap-0.snap"; S1="$T/d/snap-1.snap"; M0="$T/d/snap-0.mem"; M1="$T/d/snap-1.mem"
[ -f "$S1" ] || { echo "FAIL: no demo chain"; exit 1; }

# ---------------------------------------------------------------- numbers
# check_num "COMMAND ARGS" OPTION: every bad value, both forms, text and JSON.
# The other arguments are valid, so a bad value that slipped through would
# run the command (exit 0 or 1), never exit 2 naming the option.
check_num() {
	for v in -1 1e999 nan inf 12abc 99999999999999999999999 "" " 1" +1 0x10; do
		forms=eq
		# the separate form goes through the same parser: a few values
		case "$v" in -1 | "" | 1e999 | 12abc) forms="sep eq" ;; esac
		for form in $forms; do
			CASE="$1 $2 '$v' ($form)"
			# shellcheck disable=SC2086
			if [ $form = sep ]; then
				out=$(timeout 20 "$BIN" --json $1 "$2" "$v" 2>/dev/null)
			else
				out=$(timeout 20 "$BIN" --json $1 "$2=$v" 2>/dev/null)
			fi
			rc=$?
			[ $rc -eq 2 ] || bad "$1 $2 '$v' ($form): exit $rc, want 2: $out"
			batch "$out" "d['error']['name'] == 'usage' and '$2' in d['error']['message']"
		done
	done
	# shellcheck disable=SC2086
	err=$(timeout 20 "$BIN" $1 "$2=-1" 2>&1 >/dev/null)
	rc=$?
	[ $rc -eq 2 ] || bad "$1 $2=-1 (text): exit $rc"
	case "$err" in *"$2"*) ;; *) bad "$1 $2=-1: message lacks the option: $err" ;; esac
}
check_num "restore $S0 $S1 -o $T/r.img" --threads
check_num "verify $S1" --threads
DEMO="demo --size 4M --rounds 0 --round-ms 0 --workers 1 --api-marks --dir $T/dd"
for o in --size --rounds --round-ms --workers --threads --queue-depth; do
	check_num "$DEMO" $o
done
for o in --size --rate --conns --downtime --bandwidth --max-rounds; do
	check_num "demo migrate --size 1M --rate 1" $o
done
for o in --timeout --max-size; do
	check_num "migrate recv --listen 127.0.0.1:0 --timeout 100" $o
done
for o in --conns --rate --downtime --bandwidth --max-rounds; do
	check_num "migrate send --to 127.0.0.1:1 --file $M0" $o
done
check_num "migrate send --to 127.0.0.1:1" --demo
# Out of each option's range, though well formed.
for a in "demo --size 4M --rounds 65" "demo --size 1M" "demo --size 4M --workers 0" \
	 "demo --size 4M --queue-depth 0" "verify $S1 --threads 1025" \
	 "demo migrate --conns 0" "demo migrate --conns 65" "demo migrate --downtime 0"; do
	# shellcheck disable=SC2086
	"$BIN" $a > /dev/null 2>&1
	rc=$?
	[ $rc -eq 2 ] || bad "$a: exit $rc, want 2"
done

# -------------------------------------------------------- --opt=value forms
"$BIN" verify "$S1" --mem="$M1" --threads=2 --json > "$T/v.json" || bad "verify --opt=value"
batchf "$T/v.json" 'd["ok"] is True'
"$BIN" merge "$M0" "$M1" --output="$T/m.mem" --json > "$T/m.json" || bad "merge --output="
batchf "$T/m.json" 'd["layers"] == 2'
"$BIN" restore "$S0" "$S1" --output="$T/r.img" --threads=1 --verify --json > "$T/r.json" ||
	bad "restore --opt=value"
cmp -s "$T/r.img" "$T/m.mem" || bad "restore --opt=value: image differs from the merge"
"$BIN" restore "$S0" "$S1" -o"$T/r2.img" > /dev/null || bad "restore -oFILE"
cmp -s "$T/r2.img" "$T/m.mem" || bad "restore -oFILE: image differs"
"$BIN" -q demo migrate --size=4M --rate=1 --conns=1 --downtime=1000 --max-rounds=5 \
	--bandwidth=1G --policy=auto --json > "$T/dm.json" || bad "demo migrate --opt=value"
batchf "$T/dm.json" 'd["verified"] is True'
# migrate recv / send, every option in the = form
head -c 48 /dev/urandom > "$T/psk"
chmod 600 "$T/psk"
"$BIN" -q migrate recv --listen=127.0.0.1:0 --port-file="$T/port" --timeout=20000 \
	--max-size=64M --out="$T" --psk-file="$T/psk" --json > "$T/recv.json" 2>"$T/recv.err" &
rpid=$!
i=0
while [ ! -s "$T/port" ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
port=$(cat "$T/port" 2>/dev/null)
"$BIN" -q migrate send --to="127.0.0.1:$port" --file="$M1" --conns=1 --rate=0 --downtime=1000 \
	--bandwidth=1G --max-rounds=3 --policy=fail --state="$S1" --psk-file="$T/psk" \
	--json > "$T/send.json" ||
	bad "migrate send --opt=value: exit $?: $(cat "$T/send.json")"
wait $rpid || bad "migrate recv --opt=value: exit $?: $(cat "$T/recv.err")"
batchf "$T/send.json" 'd["result"] == "SQ_OK"'
batchf "$T/recv.json" 'd["complete"] is True'
cmp -s "$T/memory" "$M1" || bad "migrate --opt=value: received memory differs"
# manifest: a pair without one, then again over it (--replace)
cp "$S0" "$T/f.snap"
cp "$M0" "$T/f.mem"
"$BIN" -q manifest "$T/f.snap" "$T/f.mem" --kind=full --json > "$T/mf.json" ||
	bad "manifest --kind=full: exit $?"
batchf "$T/mf.json" 'd["kind"] == "full" and d["parent"] is None'
"$BIN" -q manifest "$T/f.snap" "$T/f.mem" --kind=full --replace > /dev/null ||
	bad "manifest --kind=full --replace: exit $?"
"$BIN" verify "$T/f.snap" > /dev/null || bad "manifest --kind=full: the pair does not verify"
# flags take no value; options need one
for a in "demo --keep=yes" "restore $S0 -o $T/x --verify=1" "merge $M0 --in-place=no" \
	 "verify $S1 --mem" "restore $S0 -o" "describe --bogus=1" "demo --threads="; do
	# shellcheck disable=SC2086
	"$BIN" --json $a > "$T/o.json" 2>/dev/null
	rc=$?
	[ $rc -eq 2 ] || bad "$a: exit $rc, want 2"
	batchf "$T/o.json" 'd["error"]["name"] == "usage"'
done

# ------------------------------------------------------ one JSON document
# json_case WANT_RC EXPR ARGS...
json_case() {
	want=$1 expr=$2
	shift 2
	CASE="$*"
	"$BIN" "$@" > "$T/j.json" 2>/dev/null
	rc=$?
	[ "$rc" -eq "$want" ] || bad "$*: exit $rc, want $want"
	batchf "$T/j.json" "$expr"
}
json_case 2 'd["error"]["name"] == "usage"' --json
json_case 2 'd["error"]["name"] == "usage"' -q --json
json_case 2 'd["error"]["name"] == "usage"' --json nosuchcommand
json_case 2 'd["error"]["name"] == "usage"' --json help nosuchcommand
json_case 0 'len(d["commands"]) >= 6' --json --help
json_case 0 'len(d["commands"]) >= 6' --json help
json_case 0 '"version" in d' --json --version
for c in demo describe manifest merge migrate restore verify; do
	json_case 0 "d['command'] == '$c'" --json "$c" --help
	json_case 0 "d['command'] == '$c'" --json help "$c"
done
json_case 0 '"usage" in d' --json demo migrate --help
json_case 2 'd["error"]["name"] == "usage"' --json merge
json_case 2 'd["error"]["name"] == "usage"' --json manifest "$S0" "$M0" --kind=half
json_case 2 'd["error"]["name"] == "usage"' --json manifest "$S0" "$M0" --kind
json_case 2 'd["error"]["name"] == "usage"' --json migrate
json_case 2 'd["error"]["name"] == "usage"' --json migrate bogus
json_case 2 'd["error"]["name"] == "usage"' --json migrate send --bogus
json_case 2 'd["error"]["name"] == "usage"' --json demo migrate --bogus
json_case 2 'd["error"]["name"] == "usage"' --json demo --backend floppy
json_case 0 'd["crc_ok"] is True' --json describe "$S0"
json_case 0 'd["ok"] is True' verify --json "$S0"
json_case 1 '"error" in d' --json merge "$M1" "$M0" -o "$T/bad.mem"
json_case 1 '"error" in d' --json describe "$M0"
cp "$M1" "$T/flip.mem"
printf 'X' | dd of="$T/flip.mem" bs=1 seek=100 conv=notrunc status=none
cp "$T/d/snap-1.manifest" "$T/flip.manifest" 2>/dev/null
json_case 1 'd["ok"] is False and "error" in d' --json verify "$S1" --mem "$T/flip.mem"
# --json given twice, or after the command's arguments: still one document
json_case 0 'd["crc_ok"] is True' describe "$S0" --json --json
# A "--" ends the options: a file whose name starts with "-"
cp "$S0" "$T/-dash.snap"
(cd "$T" && "$BIN" --json describe -- -dash.snap > "$T/j.json") || bad "describe -- -dash.snap"
batchf "$T/j.json" 'd["state_path"] == "-dash.snap"'

# ------------------------------------------------------------ non-UTF-8
X=$(printf '%s/x\377y' "$T")
cp "$S0" "$X.snap"
cp "$M0" "$X.mem"
cp "$T/d/snap-0.manifest" "$X.manifest" 2>/dev/null
"$BIN" --json describe "$X.snap" > "$T/j.json" || bad "describe of a non-UTF-8 path: exit $?"
batchf "$T/j.json" 'd["state_path"].endswith("/x\u00ffy.snap") and d["inferred_memory_path"].endswith("/x\u00ffy.mem")'
"$BIN" --json merge "$X.mem" "$M1" -o "$X-out.mem" > "$T/j.json" || bad "merge to a non-UTF-8 path"
batchf "$T/j.json" 'd["output"].endswith("/x\u00ffy-out.mem")'
"$BIN" --json describe "$X-missing.snap" > "$T/j.json"
[ $? -eq 1 ] || bad "describe of a missing non-UTF-8 path: exit"
batchf "$T/j.json" '"x\u00ffy-missing.snap" in d["error"]["message"]'
# valid UTF-8 is kept as it is
U="$T/é€😀"
cp "$S0" "$U.snap"
"$BIN" --json describe "$U.snap" > "$T/j.json" || bad "describe of a UTF-8 path"
batchf "$T/j.json" 'd["state_path"].endswith("/\u00e9\u20ac\U0001f600.snap")'

# ---------------------------------------------------------- missing files
# missing WHAT ARGS...: exit 1 and the system's text, in both forms.
missing() {
	CASE="missing: $*"
	"$BIN" "$@" > /dev/null 2> "$T/err"
	rc=$?
	[ $rc -eq 1 ] || bad "$*: exit $rc, want 1"
	grep -q "$ENOENT_TEXT" "$T/err" || bad "$*: no '$ENOENT_TEXT' in: $(cat "$T/err")"
	"$BIN" --json "$@" > "$T/j.json" 2>/dev/null
	rc=$?
	[ $rc -eq 1 ] || bad "--json $*: exit $rc, want 1"
	batchf "$T/j.json" "'$ENOENT_TEXT' in d['error']['message']"
}
missing describe "$T/none.snap"
missing verify "$T/none.snap"
missing verify "$S0" --mem "$T/none.mem"
missing restore "$T/none.snap" -o "$T/r3.img"
missing restore "$S0" "$T/none.snap" -o "$T/r3.img"
missing merge "$T/none.mem" "$M1" -o "$T/m3.mem"
missing merge "$M0" "$T/none.mem" -o "$T/m3.mem"
missing manifest "$T/none.snap" "$T/none.mem" --kind=full
missing manifest "$S0" "$T/none.mem" --kind=full
missing migrate send --to 127.0.0.1:1 --file "$T/none.mem" --plaintext
missing migrate send --to 127.0.0.1:1 --file "$M0" --state "$T/none.snap" --plaintext
missing migrate send --to 127.0.0.1:1 --file "$M0" --psk-file "$T/none.key"
[ ! -e "$T/r3.img" ] && [ ! -e "$T/m3.mem" ] || bad "a failed command left its output"

# Every JSON document collected above, in one interpreter run.
python3 "$J" --batch "$T/batch" || bad "JSON documents (the case numbers are above)"

[ $fail -eq 0 ] && echo "PASS"
exit $fail
