mkdir -p -- "$3" && printf '%s\n' "$2" >> "$1"
