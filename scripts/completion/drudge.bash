# bash completion for drudge: commands, each command's options (read from
# its own --help, so they cannot drift from it), script names (those the
# database knows, through `drudge --json status`, honouring --db on the
# line), task states and waiting reasons, and files where a file is asked.
# Installed as /usr/share/bash-completion/completions/drudge.

_drudge_commands() {
  "${1:-drudge}" --help 2>/dev/null | sed -n '/^commands:/,/^$/s/^  \([a-z][a-z-]*\) .*/\1/p'
}

# The options a command's --help names (or the global ones).
_drudge_options() {
  local bin=$1 cmd=${2:-}
  if [ -n "$cmd" ]; then "$bin" "$cmd" --help 2>/dev/null; else "$bin" --help 2>/dev/null; fi |
    grep -o -- '--[a-z][a-z-]*' | sort -u
}

# Script names the database knows.
_drudge_scripts() {
  local bin=$1; shift
  "$bin" "$@" --json status 2>/dev/null | grep -o '"script":"[^"]*"' | sed 's/"script":"\(.*\)"/\1/' | sort -u
}

_drudge() {
  local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]}
  local bin=${COMP_WORDS[0]} cmd="" i db=()
  # The command is the first word that is not a global option or its value.
  for ((i = 1; i < COMP_CWORD; i++)); do
    case ${COMP_WORDS[i]} in
      --db | --secrets | --files | --redact)
        [ "${COMP_WORDS[i]}" = --db ] && db=(--db "${COMP_WORDS[i + 1]}")
        i=$((i + 1)) ;;
      -*) ;;
      *) cmd=${COMP_WORDS[i]}; break ;;
    esac
  done
  case $prev in
    --state)
      mapfile -t COMPREPLY < <(compgen -W "queued running done failed dead cancelled" -- "$cur"); return ;;
    --waiting)
      mapfile -t COMPREPLY < <(compgen -W "ready paused breaker backoff not_due window" -- "$cur"); return ;;
    --script)
      mapfile -t COMPREPLY < <(compgen -W "$(_drudge_scripts "$bin" "${db[@]}")" -- "$cur"); return ;;
    --db | --secrets | --files | --redact | --from | --checkpoint-key | -o | --output)
      mapfile -t COMPREPLY < <(compgen -f -- "$cur"); return ;;
    --format)
      mapfile -t COMPREPLY < <(compgen -W "csv jsonl html text json md" -- "$cur"); return ;;
  esac
  if [ -z "$cmd" ]; then
    if [[ $cur == -* ]]; then
      mapfile -t COMPREPLY < <(compgen -W "$(_drudge_options "$bin")" -- "$cur")
    else
      mapfile -t COMPREPLY < <(compgen -W "$(_drudge_commands "$bin") help" -- "$cur")
    fi
    return
  fi
  if [[ $cur == -* ]]; then
    mapfile -t COMPREPLY < <(compgen -W "$(_drudge_options "$bin" "$cmd")" -- "$cur")
    return
  fi
  case $cmd in
    help) mapfile -t COMPREPLY < <(compgen -W "$(_drudge_commands "$bin")" -- "$cur") ;;
    pause | resume | scripts)
      mapfile -t COMPREPLY < <(compgen -W "$(_drudge_scripts "$bin" "${db[@]}")" -- "$cur") ;;
    enqueue | schedule)
      # a script file or the name of a script queued before
      mapfile -t COMPREPLY < <(compgen -W "$(_drudge_scripts "$bin" "${db[@]}")" -- "$cur"; compgen -f -X '!*.lua' -- "$cur"; compgen -d -- "$cur") ;;
    run | check | replay)
      mapfile -t COMPREPLY < <(compgen -f -X '!*.lua' -- "$cur"; compgen -d -- "$cur") ;;
    *) ;;
  esac
}
complete -F _drudge drudge
