d=$1 s=$2 p=$3
shift 3
{ [ -d "$p" ] || mkdir -p -- "$p"; } && mkdir -- "$s" || exit 1
while [ $# -ge 2 ]; do
  printf '%s' "$2" > "$s/$1" || { rm -rf -- "$s"; exit 1; }
  shift 2
done
e=$(LC_ALL=C mv -T -- "$s" "$d" 2>&1) && exit 0
rm -rf -- "$s"
[ -d "$d" ] && exit 3
printf '%s\n' "$e" >&2
exit 1
