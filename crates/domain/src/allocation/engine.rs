//! Child-proposing deferred acceptance over flat arrays.
//!
//! Each group keeps the keys of the children it holds in a binary max-heap laid out in one
//! shared slot array (the worst held child on top), so a proposal is an integer compare and at
//! most one sift: no hashing and no allocation inside the loop. Children propose from a stack,
//! a rejected child proposing again at once; the outcome does not depend on this order (the
//! child-optimal stable matching is unique), and the order is fixed anyway, so runs repeat.

use super::model::{Instance, NONE};

/// The outcome of a round: each child's group (or none) and what it took to get there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allocation {
    /// Group index per child index, [`Allocation::UNASSIGNED`] for none.
    group_of: Vec<u32>,
    /// Children held per group.
    filled: Vec<u32>,
    proposals: u64,
}

impl Allocation {
    pub const UNASSIGNED: u32 = NONE;

    /// Builds an allocation from an assignment made elsewhere (for the checker and the
    /// explanations); `group_of[c]` is a group index or [`Allocation::UNASSIGNED`].
    pub fn from_assignment(inst: &Instance, group_of: Vec<u32>) -> Allocation {
        let mut filled = vec![0u32; inst.group_count()];
        for &g in &group_of {
            if g != NONE {
                filled[g as usize] += 1;
            }
        }
        Allocation {
            group_of,
            filled,
            proposals: 0,
        }
    }

    /// The group index the child holds, if any.
    pub fn group_of(&self, c: u32) -> Option<u32> {
        let g = self.group_of[c as usize];
        (g != NONE).then_some(g)
    }
    pub fn assignment(&self) -> &[u32] {
        &self.group_of
    }
    /// Children placed in group `g`.
    pub fn filled(&self, g: u32) -> u32 {
        self.filled[g as usize]
    }
    /// Number of proposals deferred acceptance made (0 for an assignment made elsewhere).
    pub fn proposals(&self) -> u64 {
        self.proposals
    }
}

/// Allocates the round: the child-optimal stable matching under the instance's ranking and,
/// if the region set one, its reserve policy.
pub fn allocate(inst: &Instance) -> Allocation {
    match inst.rules.reserve {
        None => allocate_plain(inst),
        Some(policy) => {
            let reserved: Vec<u32> = inst
                .group_cap
                .iter()
                .map(|&q| policy.reserved_places(q))
                .collect();
            let covered: Vec<bool> = (0..inst.child_count())
                .map(|c| policy.covers(inst.child_priority(c as u32)))
                .collect();
            allocate_with_reserve(inst, &reserved, &covered)
        }
    }
}

/// Places a group can ever fill: its free places, but no more than the children eligible for
/// it (so a group announcing absurdly many places costs no memory).
fn effective_capacity(inst: &Instance) -> (Vec<u32>, Vec<u32>) {
    let cap: Vec<u32> = inst
        .group_cap
        .iter()
        .zip(&inst.group_applicants)
        .map(|(&q, &a)| q.min(a))
        .collect();
    let mut start = Vec::with_capacity(cap.len() + 1);
    let mut total = 0u32;
    for &q in &cap {
        start.push(total);
        // Cannot overflow: capped by applicants, whose sum is at most the number of pairs.
        total += q;
    }
    start.push(total);
    (cap, start)
}

/// What the inner loop reads about a group, kept together so that a proposal to a group costs
/// one cache line rather than one per array.
#[derive(Clone, Copy)]
struct GroupSlots {
    /// Key of the worst child held once the group is full (valid only then).
    worst: u64,
    start: u32,
    cap: u32,
    held: u32,
}

fn allocate_plain(inst: &Instance) -> Allocation {
    let n = inst.child_count();
    let (cap, start) = effective_capacity(inst);
    let mut heap = vec![0u64; *start.last().expect("start has a sentinel") as usize];
    let mut groups: Vec<GroupSlots> = cap
        .iter()
        .zip(&start)
        .map(|(&cap, &start)| GroupSlots {
            worst: 0,
            start,
            cap,
            held: 0,
        })
        .collect();
    // Per child: the next eligible entry it will propose to and the end of its list
    // (absolute indices into elig_*), side by side for the same reason.
    let mut cursor: Vec<(u32, u32)> = inst.elig_start.windows(2).map(|w| (w[0], w[1])).collect();
    let mut proposals = 0u64;

    for first in 0..n as u32 {
        let mut c = first;
        loop {
            let (e, end) = cursor[c as usize];
            if e == end {
                break; // list exhausted: unassigned
            }
            cursor[c as usize].0 = e + 1;
            proposals += 1;
            let gs = &mut groups[inst.elig_group[e as usize] as usize];
            let key = inst.elig_key[e as usize];
            if gs.held < gs.cap {
                let slots = &mut heap[gs.start as usize..(gs.start + gs.held + 1) as usize];
                heap_push(slots, key);
                gs.held += 1;
                gs.worst = slots[0];
                break;
            }
            if gs.cap == 0 || key > gs.worst {
                continue; // rejected: propose to the next group
            }
            let evicted = gs.worst;
            let slots = &mut heap[gs.start as usize..(gs.start + gs.cap) as usize];
            heap_replace_top(slots, key);
            gs.worst = slots[0];
            c = inst.child_of_key(evicted);
        }
    }

    let mut group_of = vec![NONE; n];
    for (g, gs) in groups.iter().enumerate() {
        for &key in &heap[gs.start as usize..(gs.start + gs.held) as usize] {
            group_of[inst.child_of_key(key) as usize] = g as u32;
        }
    }
    Allocation {
        group_of,
        filled: groups.iter().map(|gs| gs.held).collect(),
        proposals,
    }
}

/// Deferred acceptance with reserves (see `reserve.rs` for the choice rule). Each group keeps
/// two heaps in its slot range: children of reserved classes and the others, both worst on top.
fn allocate_with_reserve(inst: &Instance, reserved: &[u32], covered: &[bool]) -> Allocation {
    let n = inst.child_count();
    let (cap, start) = effective_capacity(inst);
    let total = *start.last().expect("start has a sentinel") as usize;
    let mut covered_heap = vec![0u64; total];
    let mut other_heap = vec![0u64; total];
    let mut held_covered = vec![0u32; cap.len()];
    let mut held_other = vec![0u32; cap.len()];
    let mut next: Vec<u32> = inst.elig_start[..n].to_vec();
    let end = &inst.elig_start[1..];
    let mut proposals = 0u64;

    for first in 0..n as u32 {
        let mut c = first;
        'propose: loop {
            let e = next[c as usize];
            if e == end[c as usize] {
                break;
            }
            next[c as usize] = e + 1;
            proposals += 1;
            let g = inst.elig_group[e as usize] as usize;
            let key = inst.elig_key[e as usize];
            let q = cap[g];
            let r = reserved[g].min(q);
            let range = start[g] as usize..start[g] as usize + q as usize;
            let (hc, ho) = (held_covered[g], held_other[g]);
            let cov = &mut covered_heap[range.clone()];
            let oth = &mut other_heap[range];
            let is_covered = covered[c as usize];
            if hc + ho < q {
                if is_covered {
                    heap_push(&mut cov[..hc as usize + 1], key);
                    held_covered[g] += 1;
                } else {
                    heap_push(&mut oth[..ho as usize + 1], key);
                    held_other[g] += 1;
                }
                break;
            }
            if q == 0 {
                continue;
            }
            // Full: of the q + 1 candidates, the rejected one is the worst non-covered child if
            // the covered ones fit in the reserve, else the worst child overall.
            let covered_after = hc + u32::from(is_covered);
            let worst_other = if ho > 0 { oth[0] } else { 0 };
            let worst_cov = if hc > 0 { cov[0] } else { 0 };
            let reject_among_others_only = covered_after <= r;
            // Decide who goes: the proposer itself, the top of the other heap, or the top of
            // the covered heap.
            enum Out {
                Proposer,
                Other,
                Covered,
            }
            let out = if reject_among_others_only {
                if is_covered || (ho > 0 && worst_other > key) {
                    Out::Other
                } else {
                    Out::Proposer
                }
            } else {
                let mut out = Out::Proposer;
                let mut worst = key;
                if ho > 0 && worst_other > worst {
                    out = Out::Other;
                    worst = worst_other;
                }
                if hc > 0 && worst_cov > worst {
                    out = Out::Covered;
                }
                out
            };
            let evicted = match out {
                Out::Proposer => continue 'propose,
                Out::Other => {
                    if is_covered {
                        // The other heap shrinks by one, the covered heap grows by one.
                        heap_pop(&mut oth[..ho as usize]);
                        held_other[g] -= 1;
                        heap_push(&mut cov[..hc as usize + 1], key);
                        held_covered[g] += 1;
                    } else {
                        heap_replace_top(&mut oth[..ho as usize], key);
                    }
                    worst_other
                }
                Out::Covered => {
                    if is_covered {
                        heap_replace_top(&mut cov[..hc as usize], key);
                    } else {
                        heap_pop(&mut cov[..hc as usize]);
                        held_covered[g] -= 1;
                        heap_push(&mut oth[..ho as usize + 1], key);
                        held_other[g] += 1;
                    }
                    worst_cov
                }
            };
            c = inst.child_of_key(evicted);
        }
    }

    let mut group_of = vec![NONE; n];
    let mut filled = vec![0u32; cap.len()];
    for g in 0..cap.len() {
        let s = start[g] as usize;
        for &key in covered_heap[s..s + held_covered[g] as usize]
            .iter()
            .chain(&other_heap[s..s + held_other[g] as usize])
        {
            group_of[inst.child_of_key(key) as usize] = g as u32;
        }
        filled[g] = held_covered[g] + held_other[g];
    }
    Allocation {
        group_of,
        filled,
        proposals,
    }
}

/// Adds `key`, stored at the last slot of `h`, to the max-heap formed by the slots before it.
#[inline]
fn heap_push(h: &mut [u64], key: u64) {
    let mut i = h.len() - 1;
    while i > 0 {
        let parent = (i - 1) / 2;
        if h[parent] >= key {
            break;
        }
        h[i] = h[parent];
        i = parent;
    }
    h[i] = key;
}

/// Replaces the maximum of the max-heap `h` by `key` and restores the heap.
#[inline]
fn heap_replace_top(h: &mut [u64], key: u64) {
    let len = h.len();
    let mut i = 0;
    loop {
        let l = 2 * i + 1;
        if l >= len {
            break;
        }
        let r = l + 1;
        let child = if r < len && h[r] > h[l] { r } else { l };
        if h[child] <= key {
            break;
        }
        h[i] = h[child];
        i = child;
    }
    h[i] = key;
}

/// Removes the maximum of the max-heap `h` (whose length then shrinks by one for the caller).
fn heap_pop(h: &mut [u64]) {
    let last = h.len() - 1;
    if last == 0 {
        return;
    }
    let key = h[last];
    heap_replace_top(&mut h[..last], key);
}

/// The assignment CSV of FORMAT.md (`child_id,group_id`, one row per child in the instance's
/// order, empty group for an unassigned child), appended to `out`.
pub fn write_assignment(inst: &Instance, alloc: &Allocation, out: &mut Vec<u8>) {
    out.reserve(inst.child_count() * 16);
    out.extend_from_slice(b"child_id,group_id\n");
    let mut buf = [0u8; 20];
    for c in 0..inst.child_count() {
        out.extend_from_slice(format_u64(inst.child_ids[c], &mut buf));
        out.push(b',');
        let g = alloc.group_of[c];
        if g != NONE {
            out.extend_from_slice(format_u64(inst.group_ids[g as usize], &mut buf));
        }
        out.push(b'\n');
    }
}

fn format_u64(mut v: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    &buf[i..]
}
