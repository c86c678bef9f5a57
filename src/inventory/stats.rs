//! Sampling one container's CPU and memory for as long as someone looks:
//! a one-shot sample every interval, CPU worked out between consecutive
//! samples. Cheaper for the engine than its stats stream, which samples
//! every second.

use std::time::Duration;

use tokio::sync::mpsc;

use crate::docker::Client;
use crate::domain::Usage;

/// Sends `(id, usage)` every `every` until the receiver is gone or the
/// engine fails (the container went away, the host dropped).
pub async fn poll(
    engine: Client,
    host: String,
    id: String,
    every: Duration,
    samples: mpsc::UnboundedSender<(String, Usage)>,
) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut sampler = engine.sampler(&id);
    loop {
        tick.tick().await;
        match sampler.sample().await {
            Ok(Some(u)) => {
                if samples.send((id.clone(), u)).is_err() {
                    return;
                }
            }
            Ok(None) => {}
            Err(e) => {
                tracing::debug!(host = %host, container = %id, "stats: {e}");
                return;
            }
        }
    }
}
