//! The engine: actions (deploy, restart, destroy, rollback) become staged
//! plans, and running a plan emits [`EngineEvent`]s on a channel. The CLI and
//! the console are two renderers of that one stream; nothing here knows
//! about terminals.
//!
//! Owns: plans, runs, locks, history, hooks, proxies. May import `config`,
//! `docker`, `domain`, `hosts`, `labels`, `sanitize`; must not import
//! `inventory` or a front end (`tui`, `cli`).
//! The layering is checked by a test (`src/layers.rs`).

pub mod action;
pub mod error;
pub mod event;
pub mod foreign;
pub mod gate;
pub mod history;
pub mod lock;
pub mod orphans;
pub mod plan;
pub mod preflight;
pub mod proxy;
pub mod run;
pub mod shell;
pub mod trigger;
pub mod watch;

pub use action::{Action, ContainerOp, Version};
pub use error::{Cause, Failure};
pub use event::{EngineEvent, FailureKind, Outcome, OutputStream, RunResult};
pub use history::Performer;
pub use plan::{Plan, PlanError, Stage, Step, plan};
pub use run::{RunContext, run};
