//! Optional per-region policy: part of each group's places is reserved for children with a
//! priority right, and released to everyone else when not enough of them ask.
//!
//! # Semantics
//!
//! A group with `q` free places and a reserve of `r` places (`r <= q`) for *reserved classes*
//! (priority classes at or above [`ReservePolicy::min_class`]) chooses among the children who
//! ask for it as in minority-reserve school choice (Hafalir, Yenmez & Yildirim, 2013):
//!
//! 1. it takes the best `min(r, m)` children of the reserved classes, `m` being how many of them
//!    ask, in the order of the ranking;
//! 2. it fills the remaining `q - min(r, m)` places with the best of all the others, whatever
//!    their class, again in the order of the ranking.
//!
//! So reserved places nobody with a right wants go to everyone else (they are never wasted),
//! and a reserve never pushes a child with a right below one without.
//!
//! This choice rule is substitutable and size-monotone, so child-proposing deferred acceptance
//! with it still gives the child-optimal stable outcome, whatever the order of proposals.
//!
//! # The stability it keeps
//!
//! No child `c` would rather have a group `g` that would take it, i.e. `c` is never among the
//! children `g` chooses from its admitted children plus `c`. In words: no group has a free
//! place a child wanted (no waste), and a child envies an admitted child ranked below it only
//! when that one holds a reserved place and the envious child has no right to it. With the
//! default ranking, which already puts the priority classes first, a reserve changes nothing.
//!
//! # Size of the reserve
//!
//! [`ReserveAmount::Share`] is a percentage of each group's free places, rounded down;
//! [`ReserveAmount::Count`] is a number of places. Either is capped at the group's free places.

use super::model::PriorityClass;

/// How many of a group's places are reserved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReserveAmount {
    /// Percent (0..=100) of the group's free places, rounded down.
    Share(u8),
    /// A number of places per group.
    Count(u32),
}

/// A reserve of places for children of priority classes at or above `min_class`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReservePolicy {
    pub min_class: PriorityClass,
    pub amount: ReserveAmount,
}

impl ReservePolicy {
    /// Places of a group with `free_places` reserved for the classes.
    pub fn reserved_places(&self, free_places: u32) -> u32 {
        match self.amount {
            ReserveAmount::Share(pct) => {
                (u64::from(free_places) * u64::from(pct.min(100)) / 100) as u32
            }
            ReserveAmount::Count(n) => n.min(free_places),
        }
    }

    /// Whether a child of `class` may take a reserved place.
    pub fn covers(&self, class: PriorityClass) -> bool {
        class >= self.min_class && class != PriorityClass::None
    }
}
