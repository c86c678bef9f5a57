export LC_ALL=C
[ -e "$1" ] || exit 3
cd -- "$1" || exit 1
for f in *; do
  [ -f "$f" ] || continue
  c=$(cat -- "$f"; printf x) || exit 1
  c=${c%x}
  printf '%s\n%s\n%s' "$f" "${#c}" "$c"
done
