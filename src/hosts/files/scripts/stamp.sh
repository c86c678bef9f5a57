[ -e "$1" ] || exit 3
stat -c '%s %Y' -- "$1"
