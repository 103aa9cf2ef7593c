//! An independent check of any assignment of a round: what a region publishes so that anyone
//! can see nobody jumped the queue.
//!
//! It shares only the instance's data with the allocator: eligibility is recomputed from each
//! child's band, language and preferred kindergartens; children are compared by the ranking's
//! field tuples ([`Ranking::tuple`](super::ranking::Ranking)) rather than the allocator's packed
//! keys; and the child-optimal outcome is recomputed with the textbook round-by-round deferred
//! acceptance, each group re-choosing among all the children it holds and those proposing.

use std::fmt;

use super::engine::Allocation;
use super::model::{ChildId, GroupId, Instance, Language, NONE};

/// One way an assignment breaks the rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Violation {
    /// More children placed in the group than it has free places.
    OverCapacity {
        group: GroupId,
        placed: u32,
        free_places: u32,
    },
    /// The child was placed in a group of a kindergarten it did not ask for, or of another
    /// band or language.
    NotEligible { child: ChildId, group: GroupId },
    /// The child would rather have the group, and the group has a free place left.
    Waste { child: ChildId, group: GroupId },
    /// The child would rather have the group, which holds `displaced`, ranked below it there
    /// (and, under a reserve, not protected by it).
    JustifiedEnvy {
        child: ChildId,
        group: GroupId,
        displaced: ChildId,
    },
    /// The child's group differs from the child-optimal stable outcome.
    NotChildOptimal {
        child: ChildId,
        expected: Option<GroupId>,
        actual: Option<GroupId>,
    },
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let opt = |g: &Option<GroupId>| g.map_or_else(|| "none".to_owned(), |g| g.to_string());
        match self {
            Violation::OverCapacity {
                group,
                placed,
                free_places,
            } => {
                write!(
                    f,
                    "over capacity: group {group} holds {placed} children but has {free_places} free places"
                )
            }
            Violation::NotEligible { child, group } => {
                write!(
                    f,
                    "not eligible: child {child} placed in group {group}, which is not one of its eligible groups"
                )
            }
            Violation::Waste { child, group } => write!(
                f,
                "wasted place: child {child} prefers group {group}, which still has a free place"
            ),
            Violation::JustifiedEnvy {
                child,
                group,
                displaced,
            } => write!(
                f,
                "justified envy: child {child} prefers group {group}, which holds child {displaced} ranked below it"
            ),
            Violation::NotChildOptimal {
                child,
                expected,
                actual,
            } => write!(
                f,
                "not child-optimal: child {child} holds {} but the child-optimal outcome gives {}",
                opt(actual),
                opt(expected)
            ),
        }
    }
}

/// What the check found.
#[derive(Debug, Clone, Default)]
pub struct CheckReport {
    pub violations: Vec<Violation>,
    /// Whether the assignment equals the child-optimal stable outcome.
    pub child_optimal: bool,
    pub assigned: usize,
}

impl CheckReport {
    pub fn is_clean(&self) -> bool {
        self.violations.is_empty()
    }
}

/// Checks `assignment` (group index or [`Allocation::UNASSIGNED`] per child index).
pub fn check(inst: &Instance, assignment: &Allocation) -> CheckReport {
    let n = inst.child_count();
    let groups = inst.group_count();
    let mut violations = Vec::new();
    let eligible = EligibleLists::compute(inst);
    let reserve = inst.rules.reserve;
    let covered = |c: u32| reserve.is_some_and(|p| p.covers(inst.child_priority(c)));
    let reserved = |g: u32| reserve.map_or(0, |p| p.reserved_places(inst.group_cap[g as usize]));

    // Capacities.
    let mut placed = vec![0u32; groups];
    for &g in assignment.assignment() {
        if g != NONE {
            placed[g as usize] += 1;
        }
    }
    for (g, (&placed, &free_places)) in placed.iter().zip(&inst.group_cap).enumerate() {
        if placed > free_places {
            violations.push(Violation::OverCapacity {
                group: inst.group_id(g as u32),
                placed,
                free_places,
            });
        }
    }

    // Eligibility.
    for c in 0..n as u32 {
        if let Some(g) = assignment.group_of(c)
            && !eligible.of(c).contains(&g)
        {
            violations.push(Violation::NotEligible {
                child: inst.child_id(c),
                group: inst.group_id(g),
            });
        }
    }

    // Per group: worst admitted child overall, worst one outside the reserved classes, and how
    // many of the reserved classes it holds.
    let mut worst: Vec<Option<(u32, [u64; 4])>> = vec![None; groups];
    let mut worst_uncovered: Vec<Option<(u32, [u64; 4])>> = vec![None; groups];
    let mut covered_count = vec![0u32; groups];
    for c in 0..n as u32 {
        let Some(g) = assignment.group_of(c) else {
            continue;
        };
        let t = inst.rules.ranking.tuple(inst, c, inst.group_kg[g as usize]);
        let slot = &mut worst[g as usize];
        if slot.is_none_or(|(_, w)| t > w) {
            *slot = Some((c, t));
        }
        if covered(c) {
            covered_count[g as usize] += 1;
        } else {
            let slot = &mut worst_uncovered[g as usize];
            if slot.is_none_or(|(_, w)| t > w) {
                *slot = Some((c, t));
            }
        }
    }

    // Waste and justified envy: every group the child prefers to the one it holds would not
    // take it from its admitted children plus it.
    for c in 0..n as u32 {
        let held = assignment.group_of(c);
        for &g in eligible.of(c) {
            if Some(g) == held {
                break;
            }
            let gi = g as usize;
            let q = inst.group_cap[gi];
            if placed[gi] > q {
                continue; // already reported as over capacity
            }
            if placed[gi] < q {
                violations.push(Violation::Waste {
                    child: inst.child_id(c),
                    group: inst.group_id(g),
                });
                continue;
            }
            if q == 0 {
                continue;
            }
            let t = inst.rules.ranking.tuple(inst, c, inst.group_kg[gi]);
            let covered_after = covered_count[gi] + u32::from(covered(c));
            // The group chooses q of its q admitted children plus c: the one left out is the
            // worst outside the reserved classes while those fit in the reserve, else the worst.
            let protected = covered(c) && covered_after <= reserved(g);
            let rival = if covered_after <= reserved(g) {
                worst_uncovered[gi]
            } else {
                worst[gi]
            };
            if let Some((d, w)) = rival
                && (protected || w > t)
            {
                violations.push(Violation::JustifiedEnvy {
                    child: inst.child_id(c),
                    group: inst.group_id(g),
                    displaced: inst.child_id(d),
                });
            }
        }
    }

    let optimal = child_optimal(inst, &eligible);
    let mut child_optimal = true;
    for c in 0..n as u32 {
        let actual = assignment.group_of(c);
        let expected = (optimal[c as usize] != NONE).then_some(optimal[c as usize]);
        if actual != expected {
            child_optimal = false;
            violations.push(Violation::NotChildOptimal {
                child: inst.child_id(c),
                expected: expected.map(|g| inst.group_id(g)),
                actual: actual.map(|g| inst.group_id(g)),
            });
        }
    }
    let assigned = assignment
        .assignment()
        .iter()
        .filter(|&&g| g != NONE)
        .count();
    CheckReport {
        violations,
        child_optimal,
        assigned,
    }
}

/// Each child's eligible groups, derived from its raw fields (not the allocator's lists).
pub(crate) struct EligibleLists {
    start: Vec<u32>,
    groups: Vec<u32>,
}

impl EligibleLists {
    pub(crate) fn compute(inst: &Instance) -> EligibleLists {
        let n_bands = inst.rules.bands.len();
        let slot = |kg: u32, band: u8, lang: Language| {
            (kg as usize * n_bands + usize::from(band)) * Language::ALL.len() + lang.index()
        };
        let mut lookup = vec![NONE; inst.kindergarten_count() * n_bands * Language::ALL.len()];
        for g in 0..inst.group_count() {
            lookup[slot(inst.group_kg[g], inst.group_band[g], inst.group_lang[g])] = g as u32;
        }
        let mut start = Vec::with_capacity(inst.child_count() + 1);
        let mut groups = Vec::new();
        start.push(0);
        for c in 0..inst.child_count() as u32 {
            if let Some(band) = inst.child_band(c) {
                for &kg in inst.preferred_kindergartens(c) {
                    let g = lookup[slot(kg, band, inst.lang[c as usize])];
                    if g != NONE {
                        groups.push(g);
                    }
                }
            }
            start.push(groups.len() as u32);
        }
        EligibleLists { start, groups }
    }

    pub(crate) fn of(&self, c: u32) -> &[u32] {
        &self.groups[self.start[c as usize] as usize..self.start[c as usize + 1] as usize]
    }
}

/// The child-optimal stable outcome by round-by-round deferred acceptance: in each round every
/// free child proposes to its next eligible group, and each group keeps its choice among the
/// children it holds and the new proposers.
fn child_optimal(inst: &Instance, eligible: &EligibleLists) -> Vec<u32> {
    let n = inst.child_count();
    let reserve = inst.rules.reserve;
    let mut next = vec![0usize; n];
    let mut held: Vec<Vec<u32>> = vec![Vec::new(); inst.group_count()];
    let mut free: Vec<u32> = (0..n as u32)
        .filter(|&c| !eligible.of(c).is_empty())
        .collect();
    let mut proposals: Vec<(u32, u32)> = Vec::new();
    let mut candidates: Vec<([u64; 4], bool, u32)> = Vec::new();
    while !free.is_empty() {
        proposals.clear();
        for &c in &free {
            let list = eligible.of(c);
            if next[c as usize] < list.len() {
                proposals.push((list[next[c as usize]], c));
                next[c as usize] += 1;
            }
        }
        free.clear();
        proposals.sort_unstable();
        for run in proposals.chunk_by(|a, b| a.0 == b.0) {
            let g = run[0].0;
            let kg = inst.group_kg[g as usize];
            let q = inst.group_cap[g as usize] as usize;
            let r = reserve.map_or(0, |p| p.reserved_places(q as u32)) as usize;
            candidates.clear();
            for &c in held[g as usize].iter().chain(run.iter().map(|(_, c)| c)) {
                let covered = reserve.is_some_and(|p| p.covers(inst.child_priority(c)));
                candidates.push((inst.rules.ranking.tuple(inst, c, kg), covered, c));
            }
            candidates.sort_unstable();
            let chosen = choose(&candidates, q, r);
            let kept = &mut held[g as usize];
            kept.clear();
            for (i, cand) in candidates.iter().enumerate() {
                if chosen[i] {
                    kept.push(cand.2);
                } else {
                    free.push(cand.2);
                }
            }
        }
        free.retain(|&c| next[c as usize] < eligible.of(c).len());
    }
    let mut out = vec![NONE; n];
    for (g, kids) in held.iter().enumerate() {
        for &c in kids {
            out[c as usize] = g as u32;
        }
    }
    out
}

/// A group's choice among candidates sorted best first: up to `r` of the reserved classes
/// first, then the best of the rest up to `q` in all.
fn choose(sorted: &[([u64; 4], bool, u32)], q: usize, r: usize) -> Vec<bool> {
    let mut chosen = vec![false; sorted.len()];
    let mut taken = 0;
    for (i, cand) in sorted.iter().enumerate() {
        if taken == r.min(q) {
            break;
        }
        if cand.1 {
            chosen[i] = true;
            taken += 1;
        }
    }
    for slot in chosen.iter_mut() {
        if taken == q {
            break;
        }
        if !*slot {
            *slot = true;
            taken += 1;
        }
    }
    chosen
}
