//! Child-optimal stable allocation of kindergarten places (the rules are in the instance
//! format, `shared/bench/FORMAT.md`).
//!
//! A round is an [`Instance`]: built in memory with [`InstanceBuilder`] (the queue service
//! feeds it database rows) or parsed from the instance files with [`parse_meta`] and
//! [`parse_instance`]. [`allocate`] runs child-proposing deferred acceptance and returns the
//! unique child-optimal stable [`Allocation`]; [`check`] verifies any assignment independently;
//! [`Explainer`] says, for each child and each group it asked for, where the cut-off fell.
//!
//! Invariants: allocation is deterministic given the instance; the ranking at a kindergarten is
//! strict (registration numbers are unique), so the stable outcome that is best for every child
//! is unique and does not depend on the order of proposals; no I/O happens here.

mod check;
mod engine;
mod explain;
mod model;
mod parse;
mod ranking;
mod reserve;

#[cfg(test)]
mod tests;

pub use check::{CheckReport, Violation, check};
pub use engine::{Allocation, allocate, write_assignment};
pub use explain::{ChildExplanation, Explainer, GroupExplanation, GroupOutcome};
pub use model::{
    Band, BuildError, ChildId, ChildRow, GroupId, GroupRow, Instance, InstanceBuilder,
    KindergartenId, Language, MAX_CHILDREN, PriorityClass, RoundRules, age_on,
};
pub use parse::{
    Meta, ParseError, ParsedRows, Problem, SourceFile, parse_assignment, parse_instance,
    parse_meta, parse_rows,
};
pub use ranking::{Criterion, Ranking, RankingError};
pub use reserve::{ReserveAmount, ReservePolicy};
