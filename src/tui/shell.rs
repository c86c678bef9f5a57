//! The operator's terminal connected to a process in a container: what the
//! operator types goes to its stdin as typed (raw), what it writes comes
//! back as it is, and the window's size follows the operator's. Used by
//! the console's `s` and by `berth exec -i`.
//!
//! This is the one place berth passes a container's bytes to the terminal
//! uncleaned: the operator asked for that container's terminal, as with
//! `docker exec -it`.

use std::io::Read;
use std::os::fd::AsFd;
use std::os::unix::fs::OpenOptionsExt;

use futures_util::StreamExt;
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::ops::{Attached, DockerError};

/// The terminal's size (columns, rows) when both stdin and stdout are
/// terminals: then the process gets a TTY of its own.
pub fn terminal_size() -> Option<(u16, u16)> {
    use std::io::IsTerminal;
    if !(std::io::stdin().is_terminal() && std::io::stdout().is_terminal()) {
        return None;
    }
    // A terminal that does not say its size (a serial console) is
    // taken as the classic 80x24.
    Some(
        crossterm::terminal::size()
            .ok()
            .filter(|(c, r)| *c > 0 && *r > 0)
            .unwrap_or((80, 24)),
    )
}

/// Puts raw mode back as it was found.
struct Raw {
    was: bool,
}

impl Raw {
    fn enter() -> std::io::Result<Raw> {
        let was = crossterm::terminal::is_raw_mode_enabled()?;
        if !was {
            crossterm::terminal::enable_raw_mode()?;
        }
        Ok(Raw { was })
    }
}

impl Drop for Raw {
    fn drop(&mut self) {
        if !self.was {
            let _ = crossterm::terminal::disable_raw_mode();
        }
    }
}

/// Reads what the operator types without taking anything once the
/// session ends: stdin is opened again as a non-blocking file of its own
/// (so nothing else's stdin changes mode) and read only when the kernel
/// says it is readable. Where that cannot be done (stdin is a plain file),
/// tokio's stdin.
enum Keys {
    Polled(AsyncFd<std::fs::File>),
    Plain(tokio::io::Stdin),
}

impl Keys {
    fn open() -> Keys {
        let reopened = std::io::stdin()
            .as_fd()
            .try_clone_to_owned()
            .ok()
            .and_then(|fd| {
                use std::os::fd::AsRawFd;
                std::fs::OpenOptions::new()
                    .read(true)
                    .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
                    .open(format!("/proc/self/fd/{}", fd.as_raw_fd()))
                    .ok()
            })
            .and_then(|file| {
                // SAFETY: the File owns its descriptor, which stays open and
                // the same for as long as the AsyncFd holds the File.
                unsafe { AsyncFd::register_with_interest(file, Interest::READABLE) }.ok()
            });
        match reopened {
            Some(fd) => Keys::Polled(fd),
            None => Keys::Plain(tokio::io::stdin()),
        }
    }

    async fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Keys::Polled(fd) => loop {
                let mut ready = fd.readable().await?;
                match ready.try_io(|f| f.get_ref().read(buf)) {
                    Ok(result) => return result,
                    Err(_would_block) => continue,
                }
            },
            Keys::Plain(stdin) => stdin.read(buf).await,
        }
    }
}

/// Why a session ended other than by its process exiting.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error(transparent)]
    Docker(#[from] DockerError),
    #[error("the terminal: {0}")]
    Terminal(#[from] std::io::Error),
    /// The caller's `until` came first (the console's terminal hung up).
    #[error("the terminal went away")]
    Gone,
}

/// Connects the terminal to `attached` until its output ends (the process
/// exited) or `until` comes; its exit code. With `tty`, the terminal is
/// raw meanwhile and window changes resize the process's TTY.
pub async fn connect(
    mut attached: Attached,
    tty: bool,
    until: impl std::future::Future<Output = ()>,
) -> Result<Option<i64>, SessionError> {
    use tokio::signal::unix::{SignalKind, signal};
    let _raw = if tty { Some(Raw::enter()?) } else { None };
    let mut window = signal(SignalKind::window_change())?;
    let mut keys = Keys::open();
    let mut typed = true;
    let mut stdout = tokio::io::stdout();
    let mut buf = vec![0u8; 8192];
    let mut until = std::pin::pin!(until);
    loop {
        tokio::select! {
            out = attached.output.next() => match out {
                Some(Ok(bytes)) => {
                    stdout.write_all(&bytes).await?;
                    stdout.flush().await?;
                }
                Some(Err(e)) => return Err(e.into()),
                None => break,
            },
            n = keys.read(&mut buf), if typed => match n {
                // The end of the operator's input is the end of the
                // process's (a pipe into `berth exec -i`).
                Ok(0) | Err(_) => {
                    typed = false;
                    let _ = attached.input.shutdown().await;
                }
                Ok(n) => {
                    let typed_now = buf.get(..n).unwrap_or_default();
                    if attached.input.write_all(typed_now).await.is_err() {
                        typed = false;
                    }
                    let _ = attached.input.flush().await;
                }
            },
            _ = window.recv(), if tty => {
                if let Some((cols, rows)) = terminal_size() {
                    let _ = attached.resize(cols, rows).await;
                }
            }
            _ = &mut until => return Err(SessionError::Gone),
        }
    }
    Ok(attached.exit_code().await?)
}
