# What berth reads of a Dokku host, changing nothing. $1: Dokku's data
# directory (/var/lib/dokku/data); $2: build records read per app.
# Prints "none" when Dokku is not there; else "dokku", then each app
# ("app APP"), for each app with a deploy lock file "lock APP DEV INO MTIME CONTENT", every flock held on
# this host ("flock MAJ:MIN:INO", from /proc/locks: never by taking a
# lock), and the newest build records ("build APP JSON"). APP, CONTENT and
# JSON are hex (od), so no byte of them can break a line; "-" is empty.
data=$1
per=$2
hex() { od -An -tx1 -v | tr -d ' \n'; }
[ -d "$data/apps" ] || { echo none; exit 0; }
echo dokku
for dir in "$data"/apps/*/; do
  [ -d "$dir" ] || continue
  app=$(basename "$dir" | tr -d '\n' | hex)
  echo "app $app"
  f="${dir}.deploy.lock"
  [ -f "$f" ] || continue
  where=$(stat -c '%d %i %Y' "$f") || continue
  content=$(head -c 200 "$f" | hex)
  echo "lock $app $where ${content:--}"
done
awk '/FLOCK/ { for (i = 1; i <= NF; i++) if ($i ~ /^[0-9a-f]+:[0-9a-f]+:[0-9]+$/) print "flock", $i }' /proc/locks 2>/dev/null
for dir in "$data"/builds/*/; do
  [ -d "$dir" ] || continue
  app=$(basename "$dir" | tr -d '\n' | hex)
  # Build ids sort by time (a base36 timestamp first), as globs are
  # sorted: the last are the newest.
  set -- "$dir"*.json
  [ -e "$1" ] || continue
  skip=$(($# - per))
  for j do
    if [ "$skip" -gt 0 ]; then skip=$((skip - 1)); continue; fi
    echo "build $app $(head -c 65536 "$j" | hex)"
  done
done
exit 0
