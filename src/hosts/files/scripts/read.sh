[ -e "$1" ] || exit 3
cat -- "$1"
