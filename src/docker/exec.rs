//! Processes started in running containers: a command whose output is
//! read line by line, or an attached session (stdin, and a TTY when the
//! operator has one) that a front end connects to its terminal.
//!
//! Both go through the engine's own API, so on an SSH host they use the
//! same forwarded socket as everything else: no second ssh.

use std::pin::Pin;
use std::time::Duration;

use bollard::exec::{CreateExecOptions, ResizeExecOptions, StartExecOptions, StartExecResults};
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use tokio::io::AsyncWrite;

use super::{Client, DockerError};

/// How long the exit code of a process whose output ended may take to be
/// known to the engine.
const EXIT_DEADLINE: Duration = Duration::from_secs(10);

/// A process started in a container with its stdin attached.
pub struct Attached {
    engine: Client,
    id: String,
    what: String,
    /// What it writes, as the engine sends it: raw bytes, a terminal's
    /// output when it has a TTY (stdout and stderr in one).
    pub output: Pin<Box<dyn Stream<Item = Result<Bytes, DockerError>> + Send>>,
    /// Its stdin; shutting it down is the end of its input.
    pub input: Pin<Box<dyn AsyncWrite + Send>>,
}

impl Attached {
    /// Tells the process's TTY its size (the operator's window changed).
    pub async fn resize(&self, cols: u16, rows: u16) -> Result<(), DockerError> {
        self.engine
            .docker
            .resize_exec(
                &self.id,
                ResizeExecOptions {
                    height: rows,
                    width: cols,
                },
            )
            .await
            .map_err(|e| DockerError::of(format!("resizing {}", self.what), &e))
    }

    /// Its exit code, once its output has ended; `None` when the engine
    /// does not know one within the deadline.
    pub async fn exit_code(&self) -> Result<Option<i64>, DockerError> {
        exit_code(&self.engine, &self.id, &self.what).await
    }
}

async fn exit_code(engine: &Client, id: &str, what: &str) -> Result<Option<i64>, DockerError> {
    let deadline = tokio::time::Instant::now() + EXIT_DEADLINE;
    loop {
        let found = engine
            .docker
            .inspect_exec(id)
            .await
            .map_err(|e| DockerError::of(what.to_string(), &e))?;
        if found.running != Some(true) || tokio::time::Instant::now() >= deadline {
            return Ok(found.exit_code);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

impl Client {
    /// Runs `argv` in a running container (no TTY, no input), calling
    /// `on_line` with each line it writes (cleaned); its exit code.
    pub async fn exec(
        &self,
        container: &str,
        argv: &[String],
        mut on_line: impl FnMut(super::LogStream, String),
    ) -> Result<Option<i64>, DockerError> {
        let what = format!("`{}`", argv.join(" "));
        let exec = self
            .docker
            .create_exec(
                container,
                CreateExecOptions {
                    cmd: Some(argv.to_vec()),
                    attach_stdout: Some(true),
                    attach_stderr: Some(true),
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| DockerError::of(what.clone(), &e))?;
        if let StartExecResults::Attached { mut output, .. } = self
            .docker
            .start_exec(&exec.id, None)
            .await
            .map_err(|e| DockerError::of(what.clone(), &e))?
        {
            // Whole lines, each from its stream: a line the engine sent in
            // two chunks is one line.
            let (mut out, mut err) = (
                super::LineSplitter::default(),
                super::LineSplitter::default(),
            );
            while let Some(chunk) = output.next().await {
                let chunk = chunk.map_err(|e| DockerError::of(what.clone(), &e))?;
                let (stream, splitter) = match chunk {
                    bollard::container::LogOutput::StdErr { .. } => {
                        (super::LogStream::Stderr, &mut err)
                    }
                    _ => (super::LogStream::Stdout, &mut out),
                };
                for l in splitter.push(&chunk.into_bytes()) {
                    on_line(stream, l);
                }
            }
            for (stream, splitter) in [
                (super::LogStream::Stdout, &mut out),
                (super::LogStream::Stderr, &mut err),
            ] {
                if let Some(l) = splitter.finish() {
                    on_line(stream, l);
                }
            }
        }
        exit_code(self, &exec.id, &what).await
    }

    /// Starts `argv` in a running container with its stdin attached and,
    /// with `tty`, a terminal of `size` (columns, rows), as `docker exec -i
    /// [-t]` does. `env` is added to the process's environment (`TERM`).
    pub async fn attach(
        &self,
        container: &str,
        argv: &[String],
        tty: Option<(u16, u16)>,
        env: &[String],
    ) -> Result<Attached, DockerError> {
        let what = format!("`{}` in {container}", argv.join(" "));
        let exec = self
            .docker
            .create_exec(
                container,
                CreateExecOptions {
                    cmd: Some(argv.to_vec()),
                    attach_stdin: Some(true),
                    attach_stdout: Some(true),
                    attach_stderr: Some(true),
                    tty: Some(tty.is_some()),
                    env: (!env.is_empty()).then(|| env.to_vec()),
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| DockerError::of(what.clone(), &e))?;
        let started = self
            .docker
            .start_exec(
                &exec.id,
                Some(StartExecOptions {
                    detach: false,
                    tty: tty.is_some(),
                    // Output is passed on as it comes, not split in lines.
                    output_capacity: Some(64 * 1024),
                }),
            )
            .await
            .map_err(|e| DockerError::of(what.clone(), &e))?;
        let StartExecResults::Attached { output, input } = started else {
            return Err(DockerError::NoAnswer {
                what: format!("{what}: the engine started it detached"),
            });
        };
        let output = {
            let what = what.clone();
            output.map(move |chunk| {
                chunk
                    .map(|c| c.into_bytes())
                    .map_err(|e| DockerError::of(what.clone(), &e))
            })
        };
        let attached = Attached {
            engine: self.clone(),
            id: exec.id,
            what,
            output: Box::pin(output),
            input,
        };
        // API 1.41 cannot size a TTY before its process starts: sized at
        // once after, as `docker exec -t` does. A process that already
        // ended cannot be resized, and need not be.
        if let Some((cols, rows)) = tty
            && let Err(e) = attached.resize(cols, rows).await
        {
            tracing::debug!("{e}");
        }
        Ok(attached)
    }
}
