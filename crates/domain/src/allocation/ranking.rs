//! How a kindergarten ranks the children who ask for it: criteria in an order the region
//! configures, folded into one integer key per (child, kindergarten) so that the allocator
//! compares integers only.

use std::fmt;
use std::str::FromStr;

use super::model::{BuildError, Instance, MAX_CHILDREN};

/// One ranking criterion; each puts the "better" child first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Criterion {
    /// Higher priority class first.
    Priority,
    /// A child with a sibling attending this kindergarten first.
    SiblingAtKindergarten,
    /// Earlier registration first.
    RegisteredAt,
    /// Smaller registration number first. Unique, so it makes the ranking strict.
    RegistrationNo,
}

impl Criterion {
    pub fn name(self) -> &'static str {
        match self {
            Criterion::Priority => "priority",
            Criterion::SiblingAtKindergarten => "sibling",
            Criterion::RegisteredAt => "registered_at",
            Criterion::RegistrationNo => "registration_no",
        }
    }
}

/// The criteria a region ranks by, most significant first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ranking {
    criteria: Vec<Criterion>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RankingError {
    #[error("criterion {0:?} is listed twice")]
    Repeated(&'static str),
    #[error("the ranking must include registration_no: it is the only criterion that never ties")]
    NotStrict,
    #[error("unknown criterion {0:?} (expected priority, sibling, registered_at, registration_no)")]
    Unknown(String),
}

impl Ranking {
    /// Criteria may each appear once and must include [`Criterion::RegistrationNo`], the only
    /// one that never ties: a strict ranking is what makes the stable outcome unique.
    pub fn new(criteria: Vec<Criterion>) -> Result<Ranking, RankingError> {
        for (i, c) in criteria.iter().enumerate() {
            if criteria[..i].contains(c) {
                return Err(RankingError::Repeated(c.name()));
            }
        }
        if !criteria.contains(&Criterion::RegistrationNo) {
            return Err(RankingError::NotStrict);
        }
        Ok(Ranking { criteria })
    }

    pub fn criteria(&self) -> &[Criterion] {
        &self.criteria
    }

    /// The ranking tuple of child `c` at kindergarten index `kg`, straight from the child's
    /// fields: smaller is better, compared lexicographically. This is the definition the
    /// integer keys must agree with; the checker uses it instead of the keys.
    pub(crate) fn tuple(&self, inst: &Instance, c: u32, kg: u32) -> [u64; 4] {
        let c = c as usize;
        let mut out = [0u64; 4];
        for (slot, criterion) in out.iter_mut().zip(&self.criteria) {
            *slot = match criterion {
                Criterion::Priority => 2 - u64::from(inst.priority[c]),
                Criterion::SiblingAtKindergarten => u64::from(inst.sibling[c] != kg),
                // Flipping the sign bit keeps the order of signed seconds in unsigned space.
                Criterion::RegisteredAt => (inst.registered_at[c] as u64) ^ (1 << 63),
                Criterion::RegistrationNo => inst.registration_no[c],
            };
        }
        out
    }
}

impl Default for Ranking {
    /// FORMAT.md: priority, sibling at the kindergarten, registration time, registration number.
    fn default() -> Ranking {
        Ranking {
            criteria: vec![
                Criterion::Priority,
                Criterion::SiblingAtKindergarten,
                Criterion::RegisteredAt,
                Criterion::RegistrationNo,
            ],
        }
    }
}

impl FromStr for Ranking {
    type Err = RankingError;
    /// Comma-separated names, e.g. `priority,sibling,registered_at,registration_no`.
    fn from_str(s: &str) -> Result<Ranking, RankingError> {
        let criteria = s
            .split(',')
            .map(|name| match name.trim() {
                "priority" => Ok(Criterion::Priority),
                "sibling" => Ok(Criterion::SiblingAtKindergarten),
                "registered_at" => Ok(Criterion::RegisteredAt),
                "registration_no" => Ok(Criterion::RegistrationNo),
                other => Err(RankingError::Unknown(other.to_owned())),
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ranking::new(criteria)
    }
}

impl fmt::Display for Ranking {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.criteria.iter().map(|c| c.name()).collect();
        f.write_str(&names.join(","))
    }
}

pub(crate) const RANK_MASK: u64 = (1 << 31) - 1;

/// The children's order under the ranking without the sibling criterion (the only one that
/// depends on the kindergarten), from which each (child, kindergarten) key is one OR away.
///
/// Key layout (smaller is better): `class << 32 | no_sibling << 31 | rank`, where `rank` is
/// the child's position when sorted by all criteria except the sibling one, and `class` is the
/// smallest rank among children equal to it on the criteria listed *before* the sibling one.
/// Two children at one kindergarten then compare first on those criteria (class), then on the
/// sibling bit, then on the rest (rank) — the configured order. Without a sibling criterion the
/// key is the rank alone.
pub(crate) struct RankingKeys {
    rank: Vec<u32>,
    class: Vec<u32>,
    uses_sibling: bool,
    pub(crate) child_of_rank: Vec<u32>,
}

const PRIORITY_BITS: u32 = 2;

/// Bits needed to write `v`.
fn bits_for(v: u64) -> u32 {
    u64::BITS - v.leading_zeros()
}

impl RankingKeys {
    /// `by_number` lists the children in the order of their (unique) registration numbers.
    pub(crate) fn compute(
        ranking: &Ranking,
        priority: &[u8],
        registered_at: &[i64],
        by_number: &[u32],
    ) -> Result<RankingKeys, BuildError> {
        let n = priority.len();
        if n > MAX_CHILDREN {
            return Err(BuildError::TooManyChildren);
        }
        // Criteria after the registration number never decide anything: it does not tie.
        let last = ranking
            .criteria
            .iter()
            .position(|c| *c == Criterion::RegistrationNo)
            .map_or(0, |i| i + 1);
        let criteria = &ranking.criteria[..last];
        let mut number_rank = vec![0u32; n];
        for (r, &c) in by_number.iter().enumerate() {
            number_rank[c as usize] = r as u32;
        }
        let t_min = registered_at.iter().copied().min().unwrap_or(0);
        let t_max = registered_at.iter().copied().max().unwrap_or(0);
        // Fits: the difference of two i64 is below 2^64. Keys then take at most 2 + 64 + 31 bits.
        let span = (i128::from(t_max) - i128::from(t_min)) as u64;
        let time_bits = bits_for(span);
        let number_bits = bits_for(n as u64);
        let width = |c: &Criterion| match c {
            Criterion::Priority => PRIORITY_BITS,
            Criterion::RegisteredAt => time_bits,
            Criterion::RegistrationNo => number_bits,
            Criterion::SiblingAtKindergarten => 0,
        };
        let sibling_at = criteria
            .iter()
            .position(|c| *c == Criterion::SiblingAtKindergarten);
        // Bits of the sort key below the criteria that come before the sibling criterion.
        let suffix_bits: u32 = criteria
            .iter()
            .enumerate()
            .filter(|(i, _)| sibling_at.is_some_and(|s| *i > s))
            .map(|(_, c)| width(c))
            .sum();
        let total_bits: u32 = criteria.iter().map(width).sum();
        // The registration number's rank is the last field, so a key names its child.
        let compose = |c: usize| {
            let mut key = 0u128;
            for criterion in criteria {
                key = match criterion {
                    Criterion::Priority => {
                        (key << PRIORITY_BITS) | u128::from(2 - priority[c].min(2))
                    }
                    Criterion::RegisteredAt => {
                        (key << time_bits) | (registered_at[c] as i128 - t_min as i128) as u128
                    }
                    Criterion::RegistrationNo => (key << number_bits) | u128::from(number_rank[c]),
                    Criterion::SiblingAtKindergarten => key,
                };
            }
            key
        };
        let number_mask = (1u128 << number_bits) - 1;
        // Most rounds fit in 64 bits (2 + 28 for six years of seconds + 20 for a million
        // children), and sorting plain u64 is much faster; otherwise sort u128.
        let sorted: Vec<u128> = if total_bits <= 64 {
            let mut keys: Vec<u64> = (0..n).map(|c| compose(c) as u64).collect();
            keys.sort_unstable();
            keys.into_iter().map(u128::from).collect()
        } else {
            let mut keys: Vec<u128> = (0..n).map(compose).collect();
            keys.sort_unstable();
            keys
        };
        let mut rank = vec![0u32; n];
        let mut class = vec![0u32; n];
        let mut child_of_rank = Vec::with_capacity(n);
        let mut class_start = 0u32;
        for (r, &key) in sorted.iter().enumerate() {
            if r > 0 && (sorted[r - 1] >> suffix_bits) != (key >> suffix_bits) {
                class_start = r as u32;
            }
            let c = by_number[(key & number_mask) as usize];
            rank[c as usize] = r as u32;
            class[c as usize] = class_start;
            child_of_rank.push(c);
        }
        Ok(RankingKeys {
            rank,
            class,
            uses_sibling: sibling_at.is_some(),
            child_of_rank,
        })
    }
    /// The key of child `c` at a kindergarten where it has (or has not) a sibling.
    pub(crate) fn key(&self, c: usize, sibling_here: bool) -> u64 {
        if self.uses_sibling {
            (u64::from(self.class[c]) << 32)
                | (u64::from(!sibling_here) << 31)
                | u64::from(self.rank[c])
        } else {
            u64::from(self.rank[c])
        }
    }
}
