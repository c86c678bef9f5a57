//! What a lock's status says: the runs it holds, whether they are dead,
//! and one line for people.

use chrono::{DateTime, Utc};

use super::{MESSAGE_SHOWN, Status, clip};

impl Status {
    /// The runs holding the lock: the holder's and its nested calls'.
    pub fn runs(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.holder.run.as_str())
            .chain(self.nested.iter().map(|n| n.run.as_str()))
            .filter(|r| !r.is_empty())
    }

    /// A run's lock taken on this machine by a process that is gone: the
    /// run is dead whatever its heartbeat says. A lock taken on another
    /// machine is never judged here (its pid means nothing on this one),
    /// nor a manual lock (its process ends by design).
    pub fn holder_dead_here(&self) -> bool {
        let h = &self.holder;
        !h.manual
            && h.machine != "unknown"
            && h.machine == crate::engine::history::Performer::current().machine
            && !process_alive(h.pid)
    }

    /// One line: who, from where, doing what, since when, and staleness.
    pub fn describe(&self, now: DateTime<Utc>) -> String {
        let h = &self.holder;
        let what = match (&h.action[..], &h.version, &h.message) {
            ("manual", _, Some(m)) => format!("manual lock: \"{}\"", clip(m, MESSAGE_SHOWN)),
            ("manual", _, None) => "manual lock".to_string(),
            (a, Some(v), _) => format!("{a} {v}"),
            (a, None, _) => a.to_string(),
        };
        let mut line = format!(
            "locked by {}@{} (pid {}) for {what} since {} ({} ago)",
            h.user,
            h.machine,
            h.pid,
            h.acquired_at.format("%Y-%m-%d %H:%M:%S UTC"),
            ago(now - h.acquired_at)
        );
        if !self.nested.is_empty() {
            let n: Vec<String> = self
                .nested
                .iter()
                .map(|n| format!("{} (pid {})", n.action, n.pid))
                .collect();
            line.push_str(&format!("; nested: {}", n.join(", ")));
        }
        if let Some(ahead) = self.skew_secs {
            line.push_str(&format!(
                "; STALE: its heartbeat is {} in the future (the holder's clock is ahead of this machine's; berth does not trust it): `{}` clears it",
                crate::domain::format::age(ahead),
                self.clear_with
            ));
        } else if self.holder_dead_here() {
            line.push_str(&format!(
                "; STALE: its process (pid {}) is not running on this machine: `{}` clears it",
                h.pid, self.clear_with
            ));
        } else if self.stale {
            line.push_str(&format!(
                "; STALE: no heartbeat for {} (its process is probably gone): `{}` clears it",
                ago(now - self.heartbeat_at),
                self.clear_with
            ));
        }
        line
    }
}

/// Whether a process with this pid runs on this machine (one that exists
/// but is another user's counts: it may be the holder).
fn process_alive(pid: u32) -> bool {
    use nix::errno::Errno;
    match i32::try_from(pid) {
        Ok(p) if p > 0 => !matches!(
            nix::sys::signal::kill(nix::unistd::Pid::from_raw(p), None),
            Err(Errno::ESRCH)
        ),
        // Not a process id any process has: nothing could be checked.
        _ => true,
    }
}

fn ago(d: chrono::Duration) -> String {
    crate::domain::format::age(d.num_seconds())
}
