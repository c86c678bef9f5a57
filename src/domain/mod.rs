//! The bottom layer: the types every other layer speaks in (containers,
//! their health and state, engines, fleet snapshots), the exit statuses, and
//! how ages are written. Owns no I/O and no policy.
//!
//! Must not import: anything of berth above it (only `labels` and
//! `sanitize`, which are beside it at the bottom).

pub mod exit;
pub mod format;
pub mod inspect;
pub mod model;
pub mod reference;
mod usage;

pub use inspect::{Inspect, Mount};
pub use model::{
    Change, Container, EngineInfo, EventRecord, Fleet, Health, HostView, Link, Port, Probe, State,
};
pub use usage::Usage;
