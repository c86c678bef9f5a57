# berth's helper on an SSH host: one long-lived sh per master connection,
# so a command costs a round trip and a fork, not a login shell's start.
# It runs argument vectors, one at a time, and never evaluates text.
# Request:  N, then N arguments, a line each, backslash and newline
#           written \\ and \n.
# Answer:   "CODE OUTBYTES ERRBYTES", then the output, then the errors.
# It starts by saying "berth-helper 1" (what came before, from rc files,
# is skipped by berth) and ends when its input closes.
umask 077
d=$(mktemp -d) || exit 1
trap 'rm -rf -- "$d"' EXIT
trap 'exit 1' HUP INT TERM PIPE
printf 'berth-helper 1\n'
while IFS= read -r n; do
  case $n in '' | *[!0-9]*) exit 2 ;; esac
  set --
  while [ "$n" -gt 0 ]; do
    IFS= read -r a || exit 2
    case $a in *\\*) a=$(printf '%bx' "$a") && a=${a%x} ;; esac
    set -- "$@" "$a"
    n=$((n - 1))
  done
  [ $# -gt 0 ] || exit 2
  "$@" </dev/null >"$d/o" 2>"$d/e"
  c=$?
  # Both byte counts from one wc ("N o", "M e", "T total"), split on
  # purpose; the names are relative so no path is split.
  # shellcheck disable=SC2046
  set -- $(cd "$d" && wc -c o e)
  printf '%s %s %s\n' "$c" "$1" "$3"
  [ "$1$3" = 00 ] || cat -- "$d/o" "$d/e"
done
