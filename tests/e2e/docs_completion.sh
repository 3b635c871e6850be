#!/usr/bin/env bash
# Shell completion (issue 22): bash's completion function, sourced and
# called as bash calls it, completes commands, a command's options (from
# its --help), script names the database knows, task states and waiting
# reasons; zsh's file loads the same through bashcompinit.
source "$TESTS/lib.sh"
bindir=$(dirname "$DRUDGE")
export PATH="$bindir:$PATH"
source "$SRC/scripts/completion/drudge.bash"

# complete WORDS...: COMPREPLY for the line "WORDS" with the cursor on the last word.
complete_line() {
  COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMPREPLY=()
  _drudge
  printf '%s\n' "${COMPREPLY[@]}" | sort | tr '\n' ' '
}

equals "$(complete_line drudge ta)" "tasks " "a command"
contains "$(complete_line drudge re)" "resolve resume retry" "several commands"
contains "$(complete_line drudge tasks --key)" "--key --key-prefix" "a command's options"
contains "$(complete_line drudge retry --)" "--cancelled" "retry's --cancelled"
equals "$(complete_line drudge tasks --state d)" "dead done " "task states"
equals "$(complete_line drudge tasks --waiting p)" "paused " "waiting reasons"
contains "$(complete_line drudge --d)" "--db" "global options"

cat >noop.lua <<'LUA'
return { name = "invoices", run = function(task) return {} end }
LUA
"$DRUDGE" enqueue noop.lua -q
equals "$(complete_line drudge pause inv)" "invoices " "script names from the database"
equals "$(complete_line drudge --db "$DRUDGE_DB" tasks --script i)" "invoices " "script names from --db"
contains "$(complete_line drudge enqueue no)" "noop.lua" "a script file"
equals "$(complete_line drudge help sch)" "schedule " "help COMMAND"

# zsh: the file names the completion and loads the bash one.
head -1 "$SRC/scripts/completion/_drudge" | grep -q '^#compdef drudge$' && pass || fail "zsh: #compdef"
if command -v zsh >/dev/null; then
  zsh -c "source '$SRC/scripts/completion/_drudge'; (( \${+functions[_drudge]} ))" && pass || fail "zsh loads _drudge"
fi
finish
