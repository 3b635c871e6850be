#!/usr/bin/env bash
# Shell completion (issue 22): bash's completion function, sourced and
# called as bash calls it, completes commands, a command's options (from
# its --help), script names the database knows, task states and waiting
# reasons; zsh's native completion does the same, checked in a real
# interactive zsh.
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

# zsh: the native completion (scripts/completion/_drudge), in a real
# interactive zsh: compinit finds it on $fpath and Tab completes the line.
head -1 "$SRC/scripts/completion/_drudge" | grep -q '^#compdef drudge$' && pass || fail "zsh: #compdef"
if ! command -v zsh >/dev/null; then
  fail "zsh is not installed (scripts/setup.sh test_packages)"
  finish
fi
zcomplete() {
  timeout 30 zsh "$TESTS/data/completion/zsh_complete.zsh" "$SRC/scripts/completion" "$@" |
    grep . | sort | tr '\n' ' '
}
equals "$(zcomplete drudge ta)" "tasks " "zsh: a command"
contains "$(zcomplete drudge re)" "resolve resume retry" "zsh: several commands"
equals "$(zcomplete drudge watch-)" "watch-folder watch-mail " "zsh: commands read from --help"
equals "$(zcomplete drudge tasks --ke)" "--key --key-prefix " "zsh: a command's options"
contains "$(zcomplete drudge retry --)" "--cancelled" "zsh: retry's --cancelled"
equals "$(zcomplete drudge tasks --state d)" "dead done " "zsh: task states"
equals "$(zcomplete drudge tasks --waiting p)" "paused " "zsh: waiting reasons"
equals "$(zcomplete drudge --d)" "--db " "zsh: global options"
equals "$(zcomplete drudge pause inv)" "invoices " "zsh: script names from the database"
equals "$(zcomplete drudge --db "$DRUDGE_DB" tasks --script i)" "invoices " "zsh: script names from --db"
contains "$(zcomplete drudge enqueue no)" "noop.lua" "zsh: a script file"
equals "$(zcomplete drudge help sch)" "schedule " "zsh: help COMMAND"
equals "$(zcomplete drudge audit show 1 --format h)" "html " "zsh: a format"
finish
