#!/usr/bin/env zsh
# zsh_complete.zsh COMPDIR WORDS...: the completions zsh offers for the line
# "WORDS<Tab>", one per line, from a real interactive zsh (zsh/zpty) with
# compinit and the files of COMPDIR first on $fpath. compadd is wrapped to
# print what the completion functions add (the way zsh-capture-completion
# does). Used by tests/e2e/docs_completion.sh.
zmodload zsh/zpty
compdir=$1; shift
zpty z zsh -f -i
local line init=$(mktemp)
cat >$init <<EOF
PROMPT=
fpath=($compdir \$fpath)
autoload -Uz compinit
compinit -u -d $init.dump
bindkey '^M' undefined
bindkey '^J' undefined
bindkey '^I' complete-word
null-line () { echo -E - \$'\\0' }
compprefuncs=( null-line )
comppostfuncs=( null-line exit )
zstyle ':completion:*' list-grouped false
zstyle ':completion:*' insert-tab false
compadd () {
  if [[ \${@[1,(i)(-|--)]} == *-(O|A|D)\\ * ]]; then
    builtin compadd "\$@"; return \$?
  fi
  typeset -a __hits
  builtin compadd -A __hits "\$@"
  local h
  for h in \$__hits; do echo -E - "HIT:\$h"; done
}
echo ok
EOF
zpty -w z "source $init"
repeat 10; do
  zpty -r z line
  [[ $line == ok* ]] && break
done
zpty -w z "$*"$'\t'
integer tog=0
while zpty -r z line; do
  [[ $line == HIT:* ]] && print -r -- ${${${line#HIT:}%$'\n'}%$'\r'}
  [[ $line == *$'\0'* ]] && (( ++tog >= 2 )) && break
done
zpty -d z
rm -f $init $init.dump
