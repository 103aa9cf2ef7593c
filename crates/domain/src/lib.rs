//! Pure rules of kezek: the things the law and the regulations fix, testable without a
//! database, a network or a clock. Nothing in this crate performs I/O.

pub mod access;
pub mod allocation;
pub mod application;
pub mod audit;
pub mod calendar;
pub mod duration;
pub mod identity;
pub mod queue;
pub mod queue_import;
pub mod queue_log;
pub mod regulation;
