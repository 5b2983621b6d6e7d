# bash completion for squib-snap(1); installed as
# share/bash-completion/completions/squib-snap.
_squib_snap()
{
	local cur prev words cword
	_init_completion || return

	local cmds="demo describe verify merge restore manifest migrate info check help"
	local global="--json -q -v -vv --verbose --help --version"
	local cmd="" i
	for ((i = 1; i < cword; i++)); do
		case ${words[i]} in
		-*) ;;
		*) cmd=${words[i]}; break ;;
		esac
	done

	case $prev in
	-o | --output | --out | --dir | --mem | --file | --state | --port-file | --pair)
		_filedir
		return
		;;
	--backend)
		COMPREPLY=($(compgen -W "auto io_uring pwritev2" -- "$cur"))
		return
		;;
	--policy)
		COMPREPLY=($(compgen -W "fail auto" -- "$cur"))
		return
		;;
	--tls-cert | --tls-key | --tls-ca | --psk-file)
		_filedir
		return
		;;
	--compress)
		COMPREPLY=($(compgen -W "off lz4 zstd auto" -- "$cur"))
		return
		;;
	--size | --rounds | --threads | --timeout | --conns | --rate | --downtime | \
		--bandwidth | --max-rounds | --max-size | --queue-depth | --workers | --round-ms | \
		--listen | --to | --demo | --handshake-timeout | --session-timeout | --commit-timeout)
		return
		;;
	esac

	local opts
	case $cmd in
	"") COMPREPLY=($(compgen -W "$cmds $global" -- "$cur")); return ;;
	demo) opts="migrate --size --rounds --dir --keep --round-ms --workers --threads --backend --queue-depth --api-marks --plaintext --no-ktls" ;;
	describe) opts="" ;;
	verify) opts="--mem --threads -p --progress" ;;
	merge) opts="-o --output --in-place -p --progress" ;;
	restore) opts="-o --output --verify --threads -p --progress" ;;
	manifest) opts="--kind --parent --replace" ;;
	migrate)
		local sub="" j
		for ((j = i + 1; j < cword; j++)); do
			case ${words[j]} in
			recv | send) sub=${words[j]}; break ;;
			esac
		done
		case $sub in
		recv) opts="--listen --out --pair --timeout --handshake-timeout --session-timeout --max-size --port-file --tls-cert --tls-key --tls-ca --psk-file --plaintext --no-ktls" ;;
		send) opts="--to --file --demo --conns --rate --downtime --policy --bandwidth --max-rounds --state --timeout --commit-timeout --compress -p --progress --tls-cert --tls-key --tls-ca --psk-file --plaintext --no-ktls" ;;
		*) COMPREPLY=($(compgen -W "recv send" -- "$cur")); return ;;
		esac
		;;
	info | check) opts="" ;;
	help) COMPREPLY=($(compgen -W "$cmds" -- "$cur")); return ;;
	esac
	if [[ $cur == -* ]]; then
		COMPREPLY=($(compgen -W "$opts $global" -- "$cur"))
	else
		_filedir
	fi
}
complete -F _squib_snap squib-snap
