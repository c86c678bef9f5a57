# $1 goes (renamed to $2, then deleted) only if its file $3 holds the text
# $4: a lock released by its holder in one round trip. Exit 3: not there;
# exit 4: there, but $3 does not hold $4 (another's, or broken).
[ -e "$1" ] || exit 3
grep -qF -- "$4" "$1/$3" 2>/dev/null || exit 4
mv -- "$1" "$2" && rm -rf -- "$2"
