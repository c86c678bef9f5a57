d=$1 s=$2 p=$3
shift 3
{ [ -d "$p" ] || mkdir -p -- "$p"; } && mkdir -- "$s" || exit 1
while [ $# -ge 2 ]; do
  printf '%s' "$2" > "$s/$1" || { rm -rf -- "$s"; exit 1; }
  shift 2
done
# The rename, quietly first: no subshell to hold its message.
mv -T -- "$s" "$d" 2>/dev/null && exit 0
[ -d "$d" ] && { rm -rf -- "$s"; exit 3; }
# Not the race: again, saying why (or done, if what stood in the way left).
LC_ALL=C mv -T -- "$s" "$d" && exit 0
rm -rf -- "$s"
exit 1
