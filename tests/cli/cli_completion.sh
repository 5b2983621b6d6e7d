#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# contrib/squib-snap.bash: the words it offers after each command. The
# bash-completion helpers it calls are stood in for here (_init_completion
# sets cur/prev/words/cword from the line, _filedir offers nothing), so the
# script's own logic is what is checked, with or without bash-completion.
set -u
SCRIPT="$SQ_SOURCE_DIR/contrib/squib-snap.bash"
fail() { echo "FAIL: $*"; exit 1; }
LINE=()
_init_completion() {
	words=("${LINE[@]}")
	cword=$((${#LINE[@]} - 1))
	cur=${LINE[cword]}
	prev=${LINE[cword - 1]}
}
_filedir() { :; }
# shellcheck source=/dev/null
. "$SCRIPT" || fail "cannot source $SCRIPT"

# offers WORD... -- LINE...: completing LINE offers every WORD.
offers() {
	local want=() w
	while [ "$1" != -- ]; do want+=("$1"); shift; done
	shift
	LINE=("$@")
	COMPREPLY=()
	_squib_snap
	for w in "${want[@]}"; do
		[[ " ${COMPREPLY[*]} " == *" $w "* ]] || fail "'$*' does not offer $w: ${COMPREPLY[*]}"
	done
}
lacks() {
	local w=$1
	shift 2
	LINE=("$@")
	COMPREPLY=()
	_squib_snap
	[[ " ${COMPREPLY[*]} " != *" $w "* ]] || fail "'$*' offers $w"
}

offers merge restore verify migrate info check -- squib-snap ""
offers -v -vv -q --json -- squib-snap -
for c in merge restore verify; do
	offers -p --progress -v -- squib-snap "$c" -
done
offers --in-place -o -- squib-snap merge a.mem -
offers recv send -- squib-snap migrate ""
offers --progress --policy --commit-timeout -- squib-snap migrate send --
offers --port-file --pair --handshake-timeout -- squib-snap migrate recv --
lacks --progress -- squib-snap migrate recv --
lacks --progress -- squib-snap describe --
offers fail auto -- squib-snap migrate send --policy ""
echo "cli_completion: ok"
