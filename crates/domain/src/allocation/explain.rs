//! Why a child got the place it got: for each group it asked for, where it stood among the
//! children who asked for that group, where the last admitted child stood (the cut-off), and
//! how many admitted children ranked ahead of it, by priority class.

use super::engine::Allocation;
use super::model::{ChildId, GroupId, Instance, KindergartenId};

/// What happened to the child at one of its eligible groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupOutcome {
    /// The child holds a place here.
    Admitted,
    /// The child holds a place in a group it listed earlier, so this one did not matter.
    PlacedHigher,
    /// The group filled its places with children ranked ahead of this child (or, under a
    /// reserve, kept reserved places for children with a right).
    NotAdmitted,
}

/// One eligible group in a child's explanation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupExplanation {
    pub group: GroupId,
    pub kindergarten: KindergartenId,
    pub free_places: u32,
    pub outcome: GroupOutcome,
    /// Children eligible for the group (who listed its kindergarten, of its band and language).
    pub applicants: u32,
    /// The child's position among them at this kindergarten, 1 = first.
    pub position: u32,
    /// Position of the last admitted child (the cut-off); `None` when nobody was admitted.
    pub cutoff: Option<u32>,
    /// Admitted children ranked ahead of this one, indexed by priority class code (0, 1, 2).
    pub admitted_ahead: [u32; 3],
}

/// The explanation of one child's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildExplanation {
    pub child: ChildId,
    /// `None` when the child's age fits no band: it took no part in the round.
    pub band: Option<String>,
    pub assigned: Option<GroupId>,
    /// The child's eligible groups, most preferred first.
    pub groups: Vec<GroupExplanation>,
}

/// Per-group ranked lists of applicants and admitted children, built once per round so that
/// each child's explanation is a few binary searches.
pub struct Explainer<'a> {
    inst: &'a Instance,
    alloc: &'a Allocation,
    /// Keys of each group's applicants, sorted (best first); offsets in `applicant_start`.
    applicant_start: Vec<u32>,
    applicant_keys: Vec<u64>,
    /// Keys of each group's admitted children, sorted, with their priority class.
    admitted_start: Vec<u32>,
    admitted: Vec<(u64, u8)>,
}

impl<'a> Explainer<'a> {
    pub fn new(inst: &'a Instance, alloc: &'a Allocation) -> Explainer<'a> {
        let groups = inst.group_count();
        let mut applicant_start = vec![0u32; groups + 1];
        let mut admitted_start = vec![0u32; groups + 1];
        for c in 0..inst.child_count() as u32 {
            for &g in inst.eligible_groups(c) {
                applicant_start[g as usize + 1] += 1;
            }
            if let Some(g) = alloc.group_of(c) {
                admitted_start[g as usize + 1] += 1;
            }
        }
        for g in 0..groups {
            applicant_start[g + 1] += applicant_start[g];
            admitted_start[g + 1] += admitted_start[g];
        }
        let mut applicant_keys = vec![0u64; applicant_start[groups] as usize];
        let mut admitted = vec![(0u64, 0u8); admitted_start[groups] as usize];
        let mut fill_a = applicant_start.clone();
        let mut fill_b = admitted_start.clone();
        for c in 0..inst.child_count() as u32 {
            for (&g, &key) in inst.eligible_groups(c).iter().zip(inst.eligible_keys(c)) {
                applicant_keys[fill_a[g as usize] as usize] = key;
                fill_a[g as usize] += 1;
                if alloc.group_of(c) == Some(g) {
                    admitted[fill_b[g as usize] as usize] = (key, inst.priority[c as usize]);
                    fill_b[g as usize] += 1;
                }
            }
        }
        for g in 0..groups {
            applicant_keys[applicant_start[g] as usize..applicant_start[g + 1] as usize]
                .sort_unstable();
            admitted[admitted_start[g] as usize..admitted_start[g + 1] as usize].sort_unstable();
        }
        Explainer {
            inst,
            alloc,
            applicant_start,
            applicant_keys,
            admitted_start,
            admitted,
        }
    }

    /// The explanation for child index `c`.
    pub fn explain(&self, c: u32) -> ChildExplanation {
        let inst = self.inst;
        let assigned = self.alloc.group_of(c);
        let mut placed_earlier = false;
        let mut groups = Vec::new();
        for (&g, &key) in inst.eligible_groups(c).iter().zip(inst.eligible_keys(c)) {
            let gi = g as usize;
            let applicants = &self.applicant_keys
                [self.applicant_start[gi] as usize..self.applicant_start[gi + 1] as usize];
            let admitted = &self.admitted
                [self.admitted_start[gi] as usize..self.admitted_start[gi + 1] as usize];
            let position = applicants.partition_point(|&k| k < key) as u32 + 1;
            let cutoff = admitted
                .last()
                .map(|&(k, _)| applicants.partition_point(|&a| a < k) as u32 + 1);
            let mut admitted_ahead = [0u32; 3];
            for &(_, class) in admitted.iter().take_while(|(k, _)| *k < key) {
                admitted_ahead[usize::from(class.min(2))] += 1;
            }
            let outcome = if assigned == Some(g) {
                placed_earlier = true;
                GroupOutcome::Admitted
            } else if placed_earlier {
                GroupOutcome::PlacedHigher
            } else {
                GroupOutcome::NotAdmitted
            };
            groups.push(GroupExplanation {
                group: inst.group_id(g),
                kindergarten: inst.group_kindergarten(g),
                free_places: inst.free_places(g),
                outcome,
                applicants: applicants.len() as u32,
                position,
                cutoff,
                admitted_ahead,
            });
        }
        ChildExplanation {
            child: inst.child_id(c),
            band: inst
                .child_band(c)
                .map(|b| inst.rules.bands[usize::from(b)].name().to_owned()),
            assigned: assigned.map(|g| inst.group_id(g)),
            groups,
        }
    }
}
