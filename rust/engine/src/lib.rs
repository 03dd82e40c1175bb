//! hftbook-engine: the multi-symbol trading engine around `hftbook-core`'s book.
//!
//! Symbols are dealt to **shards**; a shard is one thread, the only writer of its symbols'
//! books. Producers (any threads) validate a command, give a new order its engine-wide id and
//! queue it in the shard's **priority** lane (cancels, mass cancels, halts, urgent orders) or
//! **normal** lane; both are bounded lock-free queues. Every command the shard executes is
//! stamped with a sequence number and every outcome is one fixed-size [`Event`].
//!
//! ```
//! use hftbook_engine::{Engine, EngineConfig, OrderRequest, SymbolConfig};
//! use hftbook_core::Side;
//! use std::time::Duration;
//!
//! let engine = Engine::new(EngineConfig::default()).unwrap();
//! let aapl = engine.add_symbol("AAPL", SymbolConfig::default()).unwrap();
//! engine.start().unwrap();
//! let bid = engine.submit(&OrderRequest::limit(aapl, Side::Buy, 10_000, 5)).unwrap();
//! let ask = engine.submit(&OrderRequest::limit(aapl, Side::Sell, 10_000, 3)).unwrap();
//! engine.stop(true, Duration::from_secs(5));
//! let mut events = Vec::new();
//! engine.poll(&mut events, 100, Duration::ZERO);
//! let kinds: Vec<&str> = events.iter().map(|e| e.kind_name()).collect();
//! assert_eq!(kinds, ["accepted", "accepted", "fill", "fill", "trade"]);
//! assert_eq!((events[2].order_id, events[3].order_id), (ask, bid));
//! ```
#![warn(missing_docs)]

pub mod config;
pub mod engine;
pub mod journal;
pub mod lanes;
pub mod positions;
pub mod record;
mod recovery;
pub mod risk;
pub mod route;
mod shard;
pub mod sim;
pub mod stats;
mod sync;

pub use config::{BreakerSection, ConfigError, EngineConfig, EngineSection, OnFull, SymbolConfig};
pub use engine::{
    Engine, EngineError, Filter, LogRecord, OrderRequest, ReloadReport, ShardSnapshot, StopReport,
    Subscription, SymbolEntry, SymbolLive, SymbolTable, TrySubmit, STATE_NAMES,
};
pub use journal::{Fsync, JournalError, JournalOptions};
pub use record::{Command, Event, EVENT_KINDS, REASONS};
pub use recovery::{
    audit, replay_journal, replay_journal_with, AuditFilter, AuditTrail, JournalStats,
    RecoveryReport, ReplayResult,
};
pub use sim::{SimConfig, SimCounters};
