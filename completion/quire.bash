# bash completion for quire: commands, their options, ids of the current plan, revisions.
# Installed as share/bash-completion/completions/quire (bash-completion loads it on demand);
# or source it from ~/.bashrc. The lists come from quire itself ('quire help', 'quire CMD
# --help', 'quire graph --json', 'quire log --json'), so they never drift from the binary.

_quire_commands()
{
	"$1" help 2>/dev/null | awk '/^commands:/ { on = 1; next } on && /^$/ { exit } on { print $1 }'
}

_quire_options()
{
	"$1" "$2" --help 2>/dev/null | grep -o -- '--[a-z][a-z-]*' | sort -u
}

_quire_ids()
{
	"$1" graph --json 2>/dev/null | grep -o '"id":"[^"]*"' | sed 's/^"id":"//; s/"$//'
}

_quire_revisions()
{
	"$1" log --json 2>/dev/null | grep -o '"revision":"[^"]*"' | sed 's/^"revision":"//; s/"$//' | cut -c1-12
	printf '%s\n' current current~1 current~2
}

_quire()
{
	local cur prev quire cmd i
	cur=${COMP_WORDS[COMP_CWORD]}
	prev=${COMP_WORDS[COMP_CWORD - 1]}
	quire=${COMP_WORDS[0]}
	# The command is the first word after quire's own options (-C DIR).
	cmd=
	for ((i = 1; i < COMP_CWORD; i++)); do
		case ${COMP_WORDS[i]} in
		-C) ((i++)) ;;
		-*) ;;
		*) cmd=${COMP_WORDS[i]}; break ;;
		esac
	done
	if [[ $prev == -C ]]; then
		COMPREPLY=($(compgen -d -- "$cur"))
		return
	fi
	if [[ -z $cmd ]]; then
		if [[ $cur == -* ]]; then
			COMPREPLY=($(compgen -W '-C --help --version --color=always --color=never --color=auto --no-pager' -- "$cur"))
		else
			COMPREPLY=($(compgen -W "$(_quire_commands "$quire")" -- "$cur"))
		fi
		return
	fi
	case $prev in
	--revision | -r)
		COMPREPLY=($(compgen -W "$(_quire_revisions "$quire")" -- "$cur"))
		return
		;;
	--file | --from | --export)
		COMPREPLY=($(compgen -f -- "$cur"))
		return
		;;
	--blueprint)
		COMPREPLY=($(compgen -W "story comic screenplay" -- "$cur"))
		return
		;;
	esac
	if [[ $cur == -* ]]; then
		COMPREPLY=($(compgen -W "$(_quire_options "$quire" "$cmd")" -- "$cur"))
		return
	fi
	case $cmd in
	show)
		COMPREPLY=($(compgen -W "$(_quire_revisions "$quire") $(_quire_ids "$quire")" -- "$cur"))
		;;
	plan | run | graph | inspect | edit)
		# ids carry brackets: offered whole, for the user to quote if the shell needs it
		COMPREPLY=($(compgen -W "$(_quire_ids "$quire")" -- "$cur"))
		;;
	diff | rewind)
		COMPREPLY=($(compgen -W "$(_quire_revisions "$quire")" -- "$cur"))
		;;
	help)
		COMPREPLY=($(compgen -W "$(_quire_commands "$quire")" -- "$cur"))
		;;
	secret)
		[[ $prev == secret ]] && COMPREPLY=($(compgen -W "set list path" -- "$cur"))
		;;
	init)
		COMPREPLY=($(compgen -d -- "$cur"))
		;;
	esac
}
complete -F _quire quire
