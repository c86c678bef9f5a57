# berth's helper on an SSH host: one long-lived sh per master connection,
# so a command costs a round trip and a fork, not a login shell's start.
# It runs argument vectors, one at a time, and never evaluates text.
# Request:  N, then N arguments, a line each, backslash and newline
#           written \\ and \n: the command "$@".
#           Or sN and N arguments: berth's own script named by the first
#           (one of $berth_scripts, defined as berth_NAME before this
#           text), given the rest, run in a subshell: no sh to start.
# Answer:   "CODE OUTBYTES ERRBYTES", then the output, then the errors.
# It starts by saying "berth-helper 1" (what came before, from rc files,
# is skipped by berth) and ends when its input closes.
umask 077
berth_scripts=${berth_scripts-}
d=$(mktemp -d) || exit 1
trap 'rm -rf -- "$d"' EXIT
trap 'exit 1' HUP INT TERM PIPE
printf 'berth-helper 1\n'
while IFS= read -r n; do
  s=
  case $n in s*) s=1 n=${n#s} ;; esac
  case $n in '' | *[!0-9]*) exit 2 ;; esac
  set --
  while [ "$n" -gt 0 ]; do
    IFS= read -r a || exit 2
    case $a in *\\*) a=$(printf '%bx' "$a") && a=${a%x} ;; esac
    set -- "$@" "$a"
    n=$((n - 1))
  done
  [ $# -gt 0 ] || exit 2
  if [ "$s" ]; then
    case $1 in *[!a-z_]* | '') exit 2 ;; esac
    case " $berth_scripts " in *" $1 "*) ;; *) exit 2 ;; esac
    s=berth_$1
    shift
    ("$s" "$@") </dev/null >"$d/o" 2>"$d/e"
  else
    "$@" </dev/null >"$d/o" 2>"$d/e"
  fi
  c=$?
  if [ -s "$d/o" ] || [ -s "$d/e" ]; then
    # Both byte counts from one wc ("N o", "M e", "T total"), split on
    # purpose; the names are relative so no path is split.
    # shellcheck disable=SC2046
    set -- $(cd "$d" && wc -c o e)
    printf '%s %s %s\n' "$c" "$1" "$3"
    cat -- "$d/o" "$d/e"
  else
    printf '%s 0 0\n' "$c"
  fi
done
