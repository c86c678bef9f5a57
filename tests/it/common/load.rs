//! A load generator for zero-downtime checks: workers that each send
//! `GET <path>` over a fresh connection (`Connection: close`), back to back
//! with a short pause, and record every answer. A request counts as served
//! only when it got a complete `200` response; anything else (refused,
//! reset, timeout, 502, a truncated body) is a failure with its reason.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One request's result: the body (the app's version) or why it failed.
#[derive(Clone, Debug)]
pub struct Sample {
    pub at: Instant,
    pub result: Result<String, String>,
}

/// `GET path` with `Host: host`; `Ok(body)` for a complete 200.
pub async fn get(addr: SocketAddr, host: &str, path: &str) -> Result<String, String> {
    let work = async {
        let mut s = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        s.write_all(
            format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .map_err(|e| format!("send: {e}"))?;
        let mut buf = Vec::new();
        s.read_to_end(&mut buf)
            .await
            .map_err(|e| format!("read: {e}"))?;
        let text = String::from_utf8_lossy(&buf).into_owned();
        let (head, body) = text
            .split_once("\r\n\r\n")
            .ok_or_else(|| format!("no complete response: {text:?}"))?;
        let status = head.lines().next().unwrap_or("");
        if !status.starts_with("HTTP/1.1 200") {
            return Err(format!("status: {status}"));
        }
        let length: Option<usize> = head
            .lines()
            .filter_map(|l| l.split_once(':'))
            .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.trim().parse().ok());
        if let Some(n) = length
            && body.len() != n
        {
            return Err(format!("truncated body: {} of {n} bytes", body.len()));
        }
        Ok(body.trim().to_string())
    };
    tokio::time::timeout(Duration::from_secs(5), work)
        .await
        .unwrap_or_else(|_| Err("no answer within 5s".into()))
}

pub struct Load {
    stop: Arc<AtomicBool>,
    workers: Vec<tokio::task::JoinHandle<Vec<Sample>>>,
}

impl Load {
    /// Starts `workers` request loops, each pausing `pause` between requests.
    pub fn start(
        addr: SocketAddr,
        host: &str,
        path: &str,
        workers: usize,
        pause: Duration,
    ) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let workers = (0..workers)
            .map(|_| {
                let (stop, host, path) = (stop.clone(), host.to_string(), path.to_string());
                tokio::spawn(async move {
                    let mut samples = Vec::new();
                    while !stop.load(Ordering::Relaxed) {
                        let result = get(addr, &host, &path).await;
                        samples.push(Sample {
                            at: Instant::now(),
                            result,
                        });
                        if !pause.is_zero() {
                            tokio::time::sleep(pause).await;
                        }
                    }
                    samples
                })
            })
            .collect();
        Load { stop, workers }
    }

    /// Stops the workers; every sample, in time order.
    pub async fn stop(self) -> Vec<Sample> {
        self.stop.store(true, Ordering::Relaxed);
        let mut all = Vec::new();
        for w in self.workers {
            all.extend(w.await.unwrap());
        }
        all.sort_by_key(|s| s.at);
        all
    }
}

/// Failures among `samples`, as `reason` lines (for assertion messages).
pub fn failures(samples: &[Sample]) -> Vec<String> {
    samples
        .iter()
        .filter_map(|s| s.result.as_ref().err().cloned())
        .collect()
}

/// Fails the test, saying what failed, when any request in `samples` did.
pub fn assert_no_failures(samples: &[Sample], what: &str) {
    let failed = failures(samples);
    assert!(
        failed.is_empty(),
        "{what}: {} of {} requests failed: {:?}",
        failed.len(),
        samples.len(),
        &failed[..failed.len().min(10)]
    );
}

/// The versions answered at or after `since`.
pub fn versions_since(samples: &[Sample], since: Instant) -> Vec<String> {
    let mut v: Vec<String> = samples
        .iter()
        .filter(|s| s.at >= since)
        .filter_map(|s| s.result.as_ref().ok().cloned())
        .collect();
    v.sort();
    v.dedup();
    v
}
