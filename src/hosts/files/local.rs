//! The files of this machine: each operation on a blocking thread
//! (`spawn_blocking`), never on the async runtime's own threads.

use std::time::Duration;

use super::{Backend, FileLock, FilesError, HostPath, Kind, Removed};

pub(super) struct Local;

/// Runs `work` on a blocking thread; a panic there is an error of `what`.
async fn blocking<T: Send + 'static>(
    p: &HostPath,
    what: &'static str,
    work: impl FnOnce(HostPath) -> Result<T, FilesError> + Send + 'static,
) -> Result<T, FilesError> {
    let owned = p.clone();
    tokio::task::spawn_blocking(move || work(owned))
        .await
        .map_err(|e| p.fail(what, e))?
}

fn not_found(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::NotFound
}

impl Backend for Local {
    async fn lock_file(
        &self,
        p: &HostPath,
        wait: Duration,
    ) -> Result<Option<FileLock>, FilesError> {
        const WHAT: &str = "locking";
        let file = blocking(p, WHAT, |p| {
            std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&p.path)
                .map_err(|e| p.fail(WHAT, e))
        })
        .await?;
        let start = tokio::time::Instant::now();
        loop {
            // try_lock does not block.
            match file.try_lock() {
                Ok(()) => return Ok(Some(FileLock::Local(file))),
                Err(std::fs::TryLockError::WouldBlock) => {}
                Err(std::fs::TryLockError::Error(e)) => return Err(p.fail(WHAT, e)),
            }
            if start.elapsed() >= wait {
                return Ok(None);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn read_dir_files(
        &self,
        p: &HostPath,
    ) -> Result<Option<Vec<(String, Vec<u8>)>>, FilesError> {
        const WHAT: &str = "reading";
        blocking(p, WHAT, |p| {
            let entries = match std::fs::read_dir(&p.path) {
                Ok(e) => e,
                Err(e) if not_found(&e) => return Ok(None),
                Err(e) => return Err(p.fail(WHAT, e)),
            };
            let mut out = Vec::new();
            for entry in entries.flatten() {
                if !entry.file_type().is_ok_and(|t| t.is_file()) {
                    continue;
                }
                // Gone between listing and reading: it is not there.
                if let Ok(bytes) = std::fs::read(entry.path()) {
                    out.push((entry.file_name().to_string_lossy().into_owned(), bytes));
                }
            }
            Ok(Some(out))
        })
        .await
    }

    async fn subdirs(&self, p: &HostPath) -> Result<Vec<String>, FilesError> {
        const WHAT: &str = "listing";
        blocking(p, WHAT, |p| match std::fs::read_dir(&p.path) {
            Ok(entries) => Ok(entries
                .flatten()
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()),
            Err(e) if not_found(&e) => Ok(Vec::new()),
            Err(e) => Err(p.fail(WHAT, e)),
        })
        .await
    }

    async fn write(&self, p: &HostPath, bytes: &[u8], suffix: &str) -> Result<(), FilesError> {
        const WHAT: &str = "writing";
        let tmp = p.with_file_name(&format!(
            "{}.{suffix}",
            p.path.file_name().unwrap_or_default().to_string_lossy()
        ));
        let bytes = bytes.to_vec();
        blocking(p, WHAT, move |p| {
            std::fs::write(&tmp.path, bytes).map_err(|e| tmp.fail(WHAT, e))?;
            std::fs::rename(&tmp.path, &p.path).map_err(|e| {
                let _ = std::fs::remove_file(&tmp.path);
                p.fail(WHAT, e)
            })
        })
        .await
    }

    async fn remove_file(&self, p: &HostPath) -> Result<(), FilesError> {
        const WHAT: &str = "removing";
        blocking(p, WHAT, |p| match std::fs::remove_file(&p.path) {
            Err(e) if !not_found(&e) => Err(p.fail(WHAT, e)),
            _ => Ok(()),
        })
        .await
    }

    async fn publish_dir(
        &self,
        p: &HostPath,
        parent: &HostPath,
        staging: &HostPath,
        files: &[(&str, &[u8])],
    ) -> Result<bool, FilesError> {
        const WHAT: &str = "creating";
        let (parent, staging) = (parent.clone(), staging.clone());
        let files: Vec<(String, Vec<u8>)> = files
            .iter()
            .map(|(n, b)| (n.to_string(), b.to_vec()))
            .collect();
        blocking(p, WHAT, move |p| {
            std::fs::create_dir_all(&parent.path).map_err(|e| parent.fail(WHAT, e))?;
            std::fs::create_dir(&staging.path).map_err(|e| staging.fail(WHAT, e))?;
            let written = files.iter().try_for_each(|(name, bytes)| {
                let file = staging.path.join(name);
                std::fs::write(&file, bytes).map_err(|e| staging.join(name).fail(WHAT, e))
            });
            if let Err(e) = written {
                let _ = std::fs::remove_dir_all(&staging.path);
                return Err(e);
            }
            match std::fs::rename(&staging.path, &p.path) {
                Ok(()) => Ok(true),
                Err(e) => {
                    let _ = std::fs::remove_dir_all(&staging.path);
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::DirectoryNotEmpty | std::io::ErrorKind::AlreadyExists
                    ) {
                        Ok(false)
                    } else {
                        Err(p.fail(WHAT, e))
                    }
                }
            }
        })
        .await
    }

    async fn remove_dir(&self, p: &HostPath, gone: &HostPath) -> Result<bool, FilesError> {
        const WHAT: &str = "removing";
        let gone = gone.clone();
        blocking(p, WHAT, move |p| {
            match std::fs::rename(&p.path, &gone.path) {
                Err(e) if not_found(&e) => return Ok(false),
                Err(e) => return Err(p.fail(WHAT, e)),
                Ok(()) => {}
            }
            // Whatever was there goes: a file where a directory belongs too.
            let is_dir = std::fs::symlink_metadata(&gone.path).is_ok_and(|m| m.is_dir());
            if is_dir {
                std::fs::remove_dir_all(&gone.path)
            } else {
                std::fs::remove_file(&gone.path)
            }
            .map_err(|e| gone.fail(WHAT, e))?;
            Ok(true)
        })
        .await
    }

    async fn remove_dir_if(
        &self,
        p: &HostPath,
        gone: &HostPath,
        file: &str,
        holds: &str,
    ) -> Result<Removed, FilesError> {
        let record = p.join(file);
        let text = match std::fs::symlink_metadata(&p.path) {
            Err(e) if not_found(&e) => return Ok(Removed::Absent),
            Err(e) => return Err(p.fail("removing", e)),
            Ok(_) => tokio::fs::read(&record.path).await.unwrap_or_default(),
        };
        let needle = holds.as_bytes();
        if needle.is_empty() || !text.windows(needle.len()).any(|w| w == needle) {
            return Ok(Removed::Kept);
        }
        Ok(if self.remove_dir(p, gone).await? {
            Removed::Gone
        } else {
            Removed::Absent
        })
    }

    async fn append_line(
        &self,
        p: &HostPath,
        parent: &HostPath,
        line: &str,
    ) -> Result<(), FilesError> {
        const WHAT: &str = "appending to";
        let parent = parent.clone();
        let line = format!("{line}\n");
        blocking(p, WHAT, move |p| {
            use std::io::Write;
            std::fs::create_dir_all(&parent.path).map_err(|e| parent.fail(WHAT, e))?;
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&p.path)
                .and_then(|mut f| f.write_all(line.as_bytes()))
                .map_err(|e| p.fail(WHAT, e))
        })
        .await
    }

    async fn read(&self, p: &HostPath) -> Result<Option<Vec<u8>>, FilesError> {
        const WHAT: &str = "reading";
        blocking(p, WHAT, |p| match std::fs::read(&p.path) {
            Ok(b) => Ok(Some(b)),
            Err(e) if not_found(&e) => Ok(None),
            Err(e) => Err(p.fail(WHAT, e)),
        })
        .await
    }

    async fn kind(&self, p: &HostPath) -> Result<Option<Kind>, FilesError> {
        const WHAT: &str = "looking at";
        blocking(p, WHAT, |p| match std::fs::symlink_metadata(&p.path) {
            Ok(m) if m.is_dir() => Ok(Some(Kind::Dir)),
            Ok(_) => Ok(Some(Kind::Other)),
            Err(e) if not_found(&e) => Ok(None),
            Err(e) => Err(p.fail(WHAT, e)),
        })
        .await
    }

    async fn stamp(&self, p: &HostPath) -> Result<Option<(u64, i64)>, FilesError> {
        const WHAT: &str = "looking at";
        blocking(p, WHAT, |p| match std::fs::metadata(&p.path) {
            Ok(m) => {
                use std::os::unix::fs::MetadataExt;
                Ok(Some((m.len(), m.mtime())))
            }
            Err(e) if not_found(&e) => Ok(None),
            Err(e) => Err(p.fail(WHAT, e)),
        })
        .await
    }
}
