//! berth's fixed POSIX sh scripts for an SSH host's files, in
//! `files/scripts/*.sh`: run by the files backend (`files/remote.rs`) and
//! held as functions by each connection's helper (`ssh/helper.rs`). Their
//! own module, so that neither of those two needs the other.

/// One of berth's fixed scripts: POSIX sh, kept in `scripts/*.sh` so
/// shellcheck reads them (CI runs it). `$1` is always the path operated
/// on. The connection's helpers hold them all as functions (a script then
/// costs a subshell, not an `sh` to start); without a helper one runs as
/// `sh -c BODY berth ARGS…`.
pub(super) struct Script {
    /// `[a-z_]+`: the helper's function is `berth_NAME`.
    pub name: &'static str,
    pub body: &'static str,
}

/// Every script, for the helpers.
pub(super) const SCRIPTS: [&Script; 11] = [
    READ_DIR,
    WRITE,
    REMOVE_FILE,
    PUBLISH_DIR,
    REMOVE_DIR,
    REMOVE_DIR_IF,
    APPEND_LINE,
    SUBDIRS,
    READ,
    KIND,
    STAMP,
];

/// Every regular file directly in `$1`: name, byte count, bytes.
pub(super) const READ_DIR: &Script = &Script {
    name: "read_dir",
    body: include_str!("files/scripts/read_dir.sh"),
};

/// `$2` written to `$1` through `$1.$3` and a rename: readers see the old
/// or the new text, never a part.
pub(super) const WRITE: &Script = &Script {
    name: "write",
    body: include_str!("files/scripts/write.sh"),
};

pub(super) const REMOVE_FILE: &Script = &Script {
    name: "remove_file",
    body: include_str!("files/scripts/remove_file.sh"),
};

/// Fills the directory `$2` with the files named and held by the pairs
/// after it, then renames it to `$1` (in the existing `$3`). rename(2) of a
/// directory onto a non-empty one fails, so of several at once exactly one
/// wins; the losers exit 3.
pub(super) const PUBLISH_DIR: &Script = &Script {
    name: "publish_dir",
    body: include_str!("files/scripts/publish_dir.sh"),
};

/// Renames `$1` out of the way to `$2`, then deletes it: nothing ever sees
/// a half-deleted `$1`.
pub(super) const REMOVE_DIR: &Script = &Script {
    name: "remove_dir",
    body: include_str!("files/scripts/remove_dir.sh"),
};

/// `$1` removed as REMOVE_DIR does, only if its file `$3` holds `$4`.
pub(super) const REMOVE_DIR_IF: &Script = &Script {
    name: "remove_dir_if",
    body: include_str!("files/scripts/remove_dir_if.sh"),
};

/// One line appended (with `$3` created first): one write on an O_APPEND
/// file, so lines of concurrent writers do not mix.
pub(super) const APPEND_LINE: &Script = &Script {
    name: "append_line",
    body: include_str!("files/scripts/append_line.sh"),
};

/// The names of the directories directly in `$1`, one a line.
pub(super) const SUBDIRS: &Script = &Script {
    name: "subdirs",
    body: include_str!("files/scripts/subdirs.sh"),
};

pub(super) const READ: &Script = &Script {
    name: "read",
    body: include_str!("files/scripts/read.sh"),
};

/// `d` for a directory, `o` for anything else.
pub(super) const KIND: &Script = &Script {
    name: "kind",
    body: include_str!("files/scripts/kind.sh"),
};

pub(super) const STAMP: &Script = &Script {
    name: "stamp",
    body: include_str!("files/scripts/stamp.sh"),
};
