[ -e "$1" ] || exit 3
cd -- "$1" || exit 1
for f in *; do
  [ -d "$f" ] && printf '%s\n' "$f"
done
exit 0
