//! Containers' output: their logs as cleaned lines, and how a task ended.

use bollard::container::LogOutput;
use bollard::query_parameters::{LogsOptions, WaitContainerOptions};
use futures_util::StreamExt;

use super::{Client, DockerError};

/// Which of a container's streams a chunk came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// A piece of a container's output, as the engine sent it (raw bytes, not
/// yet split into lines nor cleaned: see [`LineSplitter`]).
pub struct LogChunk {
    pub stream: Stream,
    pub bytes: bytes::Bytes,
}

/// What to read of a log.
#[derive(Clone, Copy, Debug, Default)]
pub struct LogRange {
    /// Keep reading as the container writes.
    pub follow: bool,
    /// The last this many lines; `None`: all of it.
    pub tail: Option<usize>,
    /// Only lines written since this time (seconds since the epoch).
    pub since: Option<i64>,
    /// Docker puts its timestamp (RFC 3339, nanoseconds) and a space in
    /// front of each line: see [`split_timestamp`].
    pub timestamps: bool,
}

/// A line Docker sent with `timestamps`: its time and the text after it.
pub fn split_timestamp(line: &str) -> (Option<chrono::DateTime<chrono::Utc>>, &str) {
    match line.split_once(' ') {
        Some((t, rest)) => match chrono::DateTime::parse_from_rfc3339(t) {
            Ok(at) => (Some(at.with_timezone(&chrono::Utc)), rest),
            Err(_) => (None, line),
        },
        None => match chrono::DateTime::parse_from_rfc3339(line) {
            Ok(at) => (Some(at.with_timezone(&chrono::Utc)), ""),
            Err(_) => (None, line),
        },
    }
}

impl Client {
    /// A container's output from `range`, as chunks; the stream ends when
    /// the log does (the container stopped, when following).
    pub fn logs(
        &self,
        id: &str,
        range: LogRange,
    ) -> impl futures_util::Stream<Item = Result<LogChunk, DockerError>> + Send + Unpin + 'static
    {
        let opts = LogsOptions {
            follow: range.follow,
            stdout: true,
            stderr: true,
            tail: range
                .tail
                .map_or_else(|| "all".to_string(), |n| n.to_string()),
            // The engine's API takes seconds as a 32-bit number.
            since: range.since.unwrap_or(0).clamp(0, i64::from(i32::MAX)) as i32,
            timestamps: range.timestamps,
            ..Default::default()
        };
        let id_text = format!("reading the log of {id:.12}");
        self.docker.logs(id, Some(opts)).map(move |item| {
            item.map(|chunk| match chunk {
                LogOutput::StdErr { message } => LogChunk {
                    stream: Stream::Stderr,
                    bytes: message,
                },
                LogOutput::StdOut { message }
                | LogOutput::Console { message }
                | LogOutput::StdIn { message } => LogChunk {
                    stream: Stream::Stdout,
                    bytes: message,
                },
            })
            .map_err(|e| DockerError::of(id_text.clone(), &e))
        })
    }

    /// The last `n` lines a container wrote (both streams, cleaned), read
    /// for at most `deadline`.
    pub async fn tail(&self, id: &str, n: usize, deadline: std::time::Duration) -> Vec<String> {
        let mut stream = self.logs(
            id,
            LogRange {
                tail: Some(n),
                ..Default::default()
            },
        );
        let mut split = LineSplitter::default();
        let mut lines = Vec::new();
        let collect = async {
            while let Some(Ok(chunk)) = stream.next().await {
                lines.extend(split.push(&chunk.bytes));
            }
        };
        let _ = tokio::time::timeout(deadline, collect).await;
        lines.extend(split.finish());
        lines
    }

    /// Waits for a container to exit: its exit code.
    pub async fn wait_exit(&self, id: &str) -> Result<i64, DockerError> {
        let mut wait = self.docker.wait_container(id, None::<WaitContainerOptions>);
        match wait.next().await {
            Some(Ok(r)) => Ok(r.status_code),
            Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => Ok(code),
            Some(Err(e)) => Err(DockerError::of(format!("waiting for {id:.12}"), &e)),
            None => Err(DockerError::Request {
                what: format!("waiting for {id:.12}"),
                reason: "the engine did not report how it ended".into(),
            }),
        }
    }
}

/// Splits a byte stream into lines, holding a partial line until its end
/// arrives (a log chunk may end mid-line, or mid-character).
#[derive(Default)]
pub struct LineSplitter {
    partial: Vec<u8>,
}

impl LineSplitter {
    pub fn push(&mut self, bytes: &[u8]) -> Vec<String> {
        self.partial.extend_from_slice(bytes);
        let mut lines = Vec::new();
        while let Some(i) = self.partial.iter().position(|&b| b == b'\n') {
            let mut line: Vec<u8> = self.partial.drain(..=i).collect();
            line.pop(); // the newline
            lines.push(crate::sanitize::clean_bytes(&line));
        }
        lines
    }

    pub fn finish(&mut self) -> Option<String> {
        (!self.partial.is_empty())
            .then(|| crate::sanitize::clean_bytes(&std::mem::take(&mut self.partial)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitter_holds_partial_lines_and_utf8() {
        let mut s = LineSplitter::default();
        assert!(s.push(b"hel").is_empty());
        assert_eq!(s.push(b"lo\nwor"), vec!["hello"]);
        let check = "✓".as_bytes();
        assert!(s.push(&check[..1]).is_empty());
        assert_eq!(
            s.push(&[&check[1..], b"\x1b[1m!\n"].concat()),
            vec!["wor✓!"]
        );
        assert_eq!(s.push(b"tail"), Vec::<String>::new());
        assert_eq!(s.finish().as_deref(), Some("tail"));
    }
}
