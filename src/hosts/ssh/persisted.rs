//! Master connections kept for the next berth (ssh's `ControlPersist`).
//! A berth command pays the SSH handshake, a dozen round trips, before its
//! first byte of work: 600 ms at 30 ms RTT, more than the work of a
//! `status`. So a master outlives its berth for a while (60 s unless the
//! host's `persist` says otherwise), in a private directory of the user,
//! under a name made of everything that shaped the connection; the next
//! berth with the same host config finds it there and starts at once.
//!
//! - The directory is the user's own (`$XDG_RUNTIME_DIR/berth` when that
//!   is the user's, or `/tmp/berth-UID`), 0700 and owned by the user, or
//!   nothing is kept: whoever reaches a master's socket reaches the host.
//! - The name hashes the host's SSH config, the remote Docker socket and
//!   the contents of the known_hosts and ssh config files in use: a
//!   changed key file, host key list or config gets a new master, whose
//!   host key ssh checks strictly as always.
//! - A master ends by itself once idle that long (or when its host goes
//!   away); what it leaves is swept by the next berth that connects.

use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::config::SshConfig;

/// The crate's prefix for a master's own directory.
const MASTER_DIR: &str = ".ssh-connection";

/// The directory of kept masters, made private if it is not there; an
/// error says why none can be kept (it is not the user's own, or not
/// private).
pub(super) fn dir() -> Result<PathBuf, String> {
    let uid = nix::unistd::geteuid().as_raw();
    // The runtime directory only when it is this user's own: under
    // another's (`sudo` keeping the caller's), that user could swap ours
    // for theirs. /tmp is sticky: nobody else can rename ours there.
    let own = |p: &Path| {
        p.is_absolute() && std::fs::symlink_metadata(p).is_ok_and(|m| m.is_dir() && m.uid() == uid)
    };
    let dir = match std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from) {
        Some(run) if own(&run) => run.join("berth"),
        _ => std::env::temp_dir().join(format!("berth-{uid}")),
    };
    private(&dir, uid)?;
    Ok(dir)
}

/// Makes `dir` (0700) if it is not there; an error unless it is a
/// directory owned by `uid` that nobody else can open.
fn private(dir: &Path, uid: u32) -> Result<(), String> {
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(format!("{}: {e}", dir.display())),
    }
    let meta = std::fs::symlink_metadata(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    if !meta.is_dir() || meta.uid() != uid || meta.permissions().mode() & 0o077 != 0 {
        return Err(format!(
            "{} is not a directory of this user's that only they can open",
            dir.display()
        ));
    }
    Ok(())
}

/// The name of the kept master for `ssh` reaching `remote_socket`.
pub(super) fn name(ssh: &SshConfig, remote_socket: &Path) -> String {
    let mut h = Sha256::new();
    let mut put = |what: &str, bytes: &[u8]| {
        h.update(what.as_bytes());
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(bytes);
    };
    put("berth-ssh-1", b"");
    put("config", format!("{ssh:?}").as_bytes());
    put("socket", remote_socket.as_os_str().as_encoded_bytes());
    // What ssh reads besides berth's options: the host keys it trusts and
    // its config (a changed file never reuses a master made before).
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let user_file = |f: &str| home.as_ref().map(|h| h.join(".ssh").join(f));
    let files = [
        ssh.known_hosts
            .as_ref()
            .map(|p| super::expand(p))
            .or_else(|| user_file("known_hosts")),
        ssh.known_hosts
            .is_none()
            .then(|| user_file("known_hosts2"))
            .flatten(),
        ssh.config_file
            .as_ref()
            .map(|p| super::expand(p))
            .or_else(|| user_file("config")),
        Some(PathBuf::from("/etc/ssh/ssh_known_hosts")),
        Some(PathBuf::from("/etc/ssh/ssh_config")),
    ];
    for f in files.into_iter().flatten() {
        put("file", f.as_os_str().as_encoded_bytes());
        match std::fs::read(&f) {
            Ok(bytes) => put("content", &bytes),
            Err(e) => put("missing", format!("{:?}", e.kind()).as_bytes()),
        }
    }
    let digest = h.finalize();
    digest.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

/// Points `name` at the master socket `ctl` (replacing what was there
/// in one rename: a berth reading it sees the old master or the new).
pub(super) fn publish(name: &Path, ctl: &Path) {
    let tmp = name.with_extension(format!("new-{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    if let Err(e) = std::os::unix::fs::symlink(ctl, &tmp).and_then(|()| std::fs::rename(&tmp, name))
    {
        let _ = std::fs::remove_file(&tmp);
        tracing::debug!(name = %name.display(), error = %e, "could not record the kept connection");
    }
}

/// Removes what ended masters left: names pointing nowhere, and their
/// directories once their socket has been gone a while (a master being
/// made has no socket yet: its directory is young).
pub(super) fn sweep(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let old = |p: &Path| {
        std::fs::symlink_metadata(p)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > Duration::from_secs(600))
    };
    for e in entries.flatten() {
        let path = e.path();
        let Ok(kind) = e.file_type() else { continue };
        let file = e.file_name();
        let file = file.to_string_lossy();
        if kind.is_symlink() && !path.exists() {
            let _ = std::fs::remove_file(&path);
        } else if kind.is_dir()
            && file.starts_with(MASTER_DIR)
            && !path.join("master").exists()
            && old(&path)
        {
            let _ = std::fs::remove_dir_all(&path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ssh(known_hosts: &Path) -> SshConfig {
        SshConfig {
            host: "web-1".into(),
            user: Some("deploy".into()),
            port: Some(2222),
            identity_file: None,
            identities_only: false,
            proxy_command: None,
            jump: None,
            known_hosts: Some(known_hosts.to_path_buf()),
            config_file: None,
            persist: None,
        }
    }

    /// The same config finds the same master; any change to what shaped
    /// it, the trusted host keys included, finds another.
    #[test]
    fn a_master_is_named_by_all_that_shaped_it() {
        let dir = tempfile::tempdir().unwrap();
        let kh = dir.path().join("known_hosts");
        std::fs::write(&kh, "web-1 ssh-ed25519 AAAA1\n").unwrap();
        let sock = Path::new("/var/run/docker.sock");
        let base = name(&ssh(&kh), sock);
        assert_eq!(base.len(), 32);
        assert_eq!(base, name(&ssh(&kh), sock));
        let mut other_user = ssh(&kh);
        other_user.user = Some("root".into());
        let mut jump = ssh(&kh);
        jump.jump = Some("bastion".into());
        let mut key = ssh(&kh);
        key.identity_file = Some("/k".into());
        for changed in [other_user, jump, key] {
            assert_ne!(base, name(&changed, sock), "{changed:?}");
        }
        assert_ne!(base, name(&ssh(&kh), Path::new("/run/other.sock")));
        std::fs::write(&kh, "web-1 ssh-ed25519 AAAA2\n").unwrap();
        assert_ne!(base, name(&ssh(&kh), sock), "a new host key list");
        std::fs::remove_file(&kh).unwrap();
        assert_ne!(base, name(&ssh(&kh), sock), "no host key list");
    }

    #[test]
    fn sweeping_keeps_live_and_young_masters() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        // A name pointing nowhere goes; one pointing at a socket stays.
        std::fs::create_dir(d.join(".ssh-connectionAAA")).unwrap();
        std::fs::write(d.join(".ssh-connectionAAA/master"), "").unwrap();
        std::os::unix::fs::symlink(d.join(".ssh-connectionAAA/master"), d.join("live")).unwrap();
        std::os::unix::fs::symlink(d.join(".ssh-connectionBBB/master"), d.join("dead")).unwrap();
        // A master being made (no socket yet, young) stays.
        std::fs::create_dir(d.join(".ssh-connectionCCC")).unwrap();
        sweep(d);
        assert!(d.join("live").exists());
        assert!(std::fs::symlink_metadata(d.join("dead")).is_err());
        assert!(d.join(".ssh-connectionCCC").exists());
        assert!(d.join(".ssh-connectionAAA").exists());
    }

    #[test]
    fn the_directory_is_private() {
        let uid = nix::unistd::geteuid().as_raw();
        let base = tempfile::tempdir().unwrap();
        let fresh = base.path().join("berth");
        private(&fresh, uid).unwrap();
        let meta = std::fs::metadata(&fresh).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o700);
        private(&fresh, uid).unwrap();
        // Opened up, someone else's, or a link: nothing is kept there.
        std::fs::set_permissions(&fresh, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert!(private(&fresh, uid).is_err());
        std::fs::set_permissions(&fresh, std::fs::Permissions::from_mode(0o700)).unwrap();
        assert!(private(&fresh, uid + 1).is_err());
        let link = base.path().join("link");
        std::os::unix::fs::symlink(&fresh, &link).unwrap();
        assert!(private(&link, uid).is_err());
        std::fs::write(base.path().join("file"), "").unwrap();
        assert!(private(&base.path().join("file"), uid).is_err());
    }
}
