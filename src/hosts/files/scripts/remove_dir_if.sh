# $1 goes (renamed to $2, then deleted) only if its file $3 holds the text
# $4: a lock released by its holder in one round trip. Exit 3: not there;
# exit 4: there, but $3 does not hold $4 (another's, or broken).
[ -e "$1" ] || exit 3
# The record is one line (JSON): read with the shell's own `read`, no
# process started; a last line without a newline is still read.
r=
IFS= read -r r 2>/dev/null <"$1/$3"
case $r in *"$4"*) ;; *) exit 4 ;; esac
mv -- "$1" "$2" || exit 1
# Gone under its name: the rest is deleted after the answer, by a process
# that holds none of the helper's files.
rm -rf -- "$2" >/dev/null 2>&1 &
