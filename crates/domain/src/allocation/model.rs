//! The round's data in compact form: integer indices into flat arrays, built once by
//! [`InstanceBuilder`] from rows (a database query or the instance files) and then read-only.

use std::collections::HashMap;
use std::fmt;

use time::Date;

use super::ranking::{Ranking, RankingKeys};
use super::reserve::ReservePolicy;

/// Marks "none" in the index arrays (no group, no kindergarten, no band).
pub(crate) const NONE: u32 = u32::MAX;

/// Ranking keys keep the child's rank in their low 31 bits, so a round holds fewer children.
pub const MAX_CHILDREN: usize = (1 << 31) - 1;

/// A child's id as the region's registry knows it (positive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ChildId(pub u64);

/// A kindergarten's id (positive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KindergartenId(pub u64);

/// A group's id: one kindergarten × age band × language (positive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GroupId(pub u64);

impl fmt::Display for ChildId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}
impl fmt::Display for KindergartenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}
impl fmt::Display for GroupId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Language of instruction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Language {
    Kazakh,
    Russian,
}

impl Language {
    pub const ALL: [Language; 2] = [Language::Kazakh, Language::Russian];

    /// `kk` or `ru`, as in the instance files.
    pub fn parse(code: &[u8]) -> Option<Language> {
        match code {
            b"kk" => Some(Language::Kazakh),
            b"ru" => Some(Language::Russian),
            _ => None,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Language::Kazakh => "kk",
            Language::Russian => "ru",
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// The child's priority right; a higher class is ranked first by the default ranking.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PriorityClass {
    /// No right (`0`).
    None = 0,
    /// First-priority right, первоочередное (`1`).
    First = 1,
    /// Out-of-turn right, внеочередное (`2`).
    OutOfTurn = 2,
}

impl PriorityClass {
    pub const ALL: [PriorityClass; 3] = [
        PriorityClass::None,
        PriorityClass::First,
        PriorityClass::OutOfTurn,
    ];

    pub fn from_code(code: u64) -> Option<PriorityClass> {
        match code {
            0 => Some(PriorityClass::None),
            1 => Some(PriorityClass::First),
            2 => Some(PriorityClass::OutOfTurn),
            _ => None,
        }
    }

    pub fn code(self) -> u8 {
        self as u8
    }

    pub(crate) fn from_index(i: u8) -> PriorityClass {
        match i {
            2 => PriorityClass::OutOfTurn,
            1 => PriorityClass::First,
            _ => PriorityClass::None,
        }
    }
}

/// An age band: a child belongs to it when `min_age <= age < max_age` on the reference date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Band {
    name: String,
    min_age: u8,
    max_age: u8,
}

impl Band {
    pub fn new(name: impl Into<String>, min_age: u8, max_age: u8) -> Result<Band, BuildError> {
        let name = name.into();
        if min_age >= max_age {
            return Err(BuildError::EmptyBand { name });
        }
        Ok(Band {
            name,
            min_age,
            max_age,
        })
    }
    pub fn name(&self) -> &str {
        &self.name
    }
    pub fn min_age(&self) -> u8 {
        self.min_age
    }
    pub fn max_age(&self) -> u8 {
        self.max_age
    }
}

/// Age in full years on `on`; a child born on 29 February turns a year older on 1 March in
/// common years (FORMAT.md).
pub fn age_on(birth: Date, on: Date) -> i32 {
    let before_birthday = (on.month() as u8, on.day()) < (birth.month() as u8, birth.day());
    on.year() - birth.year() - i32::from(before_birthday)
}

/// What a region fixes for a round besides the data: how children are ranked, the bands, the
/// optional reserve and the longest preference list accepted.
#[derive(Debug, Clone)]
pub struct RoundRules {
    pub reference_date: Date,
    pub bands: Vec<Band>,
    pub ranking: Ranking,
    pub reserve: Option<ReservePolicy>,
    pub max_preferences: usize,
}

impl RoundRules {
    /// The rules of FORMAT.md: default ranking, no reserve, at most 5 preferences.
    pub fn new(reference_date: Date, bands: Vec<Band>) -> Result<RoundRules, BuildError> {
        let rules = RoundRules {
            reference_date,
            bands,
            ranking: Ranking::default(),
            reserve: None,
            max_preferences: 5,
        };
        rules.validate()?;
        Ok(rules)
    }

    fn validate(&self) -> Result<(), BuildError> {
        if self.bands.len() >= usize::from(u8::MAX) {
            return Err(BuildError::TooManyBands);
        }
        for (i, a) in self.bands.iter().enumerate() {
            for b in &self.bands[i + 1..] {
                if a.name == b.name {
                    return Err(BuildError::DuplicateBand {
                        name: a.name.clone(),
                    });
                }
                if a.min_age < b.max_age && b.min_age < a.max_age {
                    return Err(BuildError::OverlappingBands {
                        first: a.name.clone(),
                        second: b.name.clone(),
                    });
                }
            }
        }
        Ok(())
    }

    /// The index of the band named `name`.
    pub fn band_index(&self, name: &[u8]) -> Option<u8> {
        self.bands
            .iter()
            .position(|b| b.name.as_bytes() == name)
            .map(|i| i as u8)
    }

    /// The band a child born on `birth` belongs to, if any.
    pub fn band_of(&self, birth: Date) -> Option<u8> {
        let age = age_on(birth, self.reference_date);
        self.bands
            .iter()
            .position(|b| i32::from(b.min_age) <= age && age < i32::from(b.max_age))
            .map(|i| i as u8)
    }
}

/// Why rows could not form an instance. Each names the ids involved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    #[error("band {name:?} is empty: min_age must be below max_age")]
    EmptyBand { name: String },
    #[error("band {name:?} is listed twice")]
    DuplicateBand { name: String },
    #[error("bands {first:?} and {second:?} overlap")]
    OverlappingBands { first: String, second: String },
    #[error("too many bands")]
    TooManyBands,
    #[error("ids must be positive, got 0")]
    ZeroId,
    #[error("duplicate kindergarten id {0}")]
    DuplicateKindergarten(KindergartenId),
    #[error("duplicate group id {0}")]
    DuplicateGroup(GroupId),
    #[error("unknown kindergarten {0}")]
    UnknownKindergarten(KindergartenId),
    #[error("unknown band index {0}")]
    UnknownBand(u8),
    #[error(
        "kindergarten {kindergarten} already has a group {existing} for band {band:?} and language {language}"
    )]
    SecondGroupForSameBandAndLanguage {
        kindergarten: KindergartenId,
        band: String,
        language: &'static str,
        existing: GroupId,
    },
    #[error("duplicate child id {0}")]
    DuplicateChild(ChildId),
    #[error("no preferences: a child lists 1 to {max} kindergartens")]
    NoPreferences { max: usize },
    #[error("{count} preferences, more than the allowed {max}")]
    TooManyPreferences { count: usize, max: usize },
    #[error("kindergarten {0} is listed twice in the preferences")]
    DuplicatePreference(KindergartenId),
    #[error("unknown kindergarten {0} in the preferences")]
    UnknownPreference(KindergartenId),
    #[error("unknown sibling kindergarten {0}")]
    UnknownSiblingKindergarten(KindergartenId),
    #[error("registration number {number} is used by children {first} and {second}")]
    DuplicateRegistrationNo {
        number: u64,
        first: ChildId,
        second: ChildId,
        first_row: usize,
        second_row: usize,
    },
    #[error("more than {MAX_CHILDREN} children in one round")]
    TooManyChildren,
}

/// One group as the builder takes it.
#[derive(Debug, Clone, Copy)]
pub struct GroupRow {
    pub id: GroupId,
    pub kindergarten: KindergartenId,
    /// Index into [`RoundRules::bands`].
    pub band: u8,
    pub language: Language,
    pub free_places: u32,
}

/// One child as the builder takes it.
#[derive(Debug, Clone, Copy)]
pub struct ChildRow<'a> {
    pub id: ChildId,
    pub birth_date: Date,
    pub language: Language,
    /// Seconds since 1970-01-01T00:00:00Z.
    pub registered_at: i64,
    pub registration_no: u64,
    pub priority: PriorityClass,
    pub sibling_kindergarten: Option<KindergartenId>,
    /// Most preferred first.
    pub preferences: &'a [KindergartenId],
}

/// Maps outside ids to dense indices. Stays a plain counter while ids arrive as 1, 2, 3, ...
/// (what the generator and most exports produce) and falls back to a hash map otherwise.
#[derive(Debug, Clone)]
pub(crate) enum IdIndex {
    Dense(u32),
    Map(HashMap<u64, u32>),
}

impl IdIndex {
    fn new() -> IdIndex {
        IdIndex::Dense(0)
    }

    /// Registers `id` as index `idx` (the next one); `false` if `id` is already present.
    fn insert(&mut self, id: u64, idx: u32) -> bool {
        match self {
            IdIndex::Dense(count) if u64::from(*count) + 1 == id && *count == idx => {
                *count += 1;
                true
            }
            IdIndex::Dense(count) => {
                if id >= 1 && id <= u64::from(*count) {
                    return false;
                }
                let map: HashMap<u64, u32> = (0..*count).map(|i| (u64::from(i) + 1, i)).collect();
                *self = IdIndex::Map(map);
                self.insert(id, idx)
            }
            IdIndex::Map(map) => match map.entry(id) {
                std::collections::hash_map::Entry::Occupied(_) => false,
                std::collections::hash_map::Entry::Vacant(v) => {
                    v.insert(idx);
                    true
                }
            },
        }
    }

    pub(crate) fn get(&self, id: u64) -> Option<u32> {
        match self {
            IdIndex::Dense(count) => (id >= 1 && id <= u64::from(*count)).then(|| (id - 1) as u32),
            IdIndex::Map(map) => map.get(&id).copied(),
        }
    }
}

/// Collects kindergartens, groups and children, then [`InstanceBuilder::build`]s an
/// [`Instance`]. Kindergartens must be added before the groups and children that name them.
#[derive(Debug)]
pub struct InstanceBuilder {
    rules: RoundRules,
    kg_ids: Vec<u64>,
    kg_index: IdIndex,
    group_ids: Vec<u64>,
    group_index: IdIndex,
    group_kg: Vec<u32>,
    group_band: Vec<u8>,
    group_lang: Vec<Language>,
    group_cap: Vec<u32>,
    /// (kindergarten, band, language) -> group, filled as groups arrive.
    group_lookup: HashMap<(u32, u8, Language), u32>,
    child_ids: Vec<u64>,
    child_index: IdIndex,
    birth: Vec<Date>,
    band: Vec<u8>,
    lang: Vec<Language>,
    registered_at: Vec<i64>,
    registration_no: Vec<u64>,
    priority: Vec<u8>,
    sibling: Vec<u32>,
    pref_start: Vec<u32>,
    pref_kg: Vec<u32>,
}

impl InstanceBuilder {
    pub fn new(rules: RoundRules) -> Result<InstanceBuilder, BuildError> {
        rules.validate()?;
        Ok(InstanceBuilder {
            rules,
            kg_ids: Vec::new(),
            kg_index: IdIndex::new(),
            group_ids: Vec::new(),
            group_index: IdIndex::new(),
            group_kg: Vec::new(),
            group_band: Vec::new(),
            group_lang: Vec::new(),
            group_cap: Vec::new(),
            group_lookup: HashMap::new(),
            child_ids: Vec::new(),
            child_index: IdIndex::new(),
            birth: Vec::new(),
            band: Vec::new(),
            lang: Vec::new(),
            registered_at: Vec::new(),
            registration_no: Vec::new(),
            priority: Vec::new(),
            sibling: Vec::new(),
            pref_start: vec![0],
            pref_kg: Vec::new(),
        })
    }

    /// Reserves room for the expected numbers of rows (an optimisation only).
    pub fn reserve(&mut self, children: usize, preferences: usize) {
        self.child_ids.reserve(children);
        self.birth.reserve(children);
        self.band.reserve(children);
        self.lang.reserve(children);
        self.registered_at.reserve(children);
        self.registration_no.reserve(children);
        self.priority.reserve(children);
        self.sibling.reserve(children);
        self.pref_start.reserve(children);
        self.pref_kg.reserve(preferences);
    }

    pub fn rules(&self) -> &RoundRules {
        &self.rules
    }

    pub fn add_kindergarten(&mut self, id: KindergartenId) -> Result<(), BuildError> {
        if id.0 == 0 {
            return Err(BuildError::ZeroId);
        }
        let idx = self.kg_ids.len() as u32;
        if !self.kg_index.insert(id.0, idx) {
            return Err(BuildError::DuplicateKindergarten(id));
        }
        self.kg_ids.push(id.0);
        Ok(())
    }

    pub fn add_group(&mut self, row: GroupRow) -> Result<(), BuildError> {
        if row.id.0 == 0 {
            return Err(BuildError::ZeroId);
        }
        let kg = self
            .kg_index
            .get(row.kindergarten.0)
            .ok_or(BuildError::UnknownKindergarten(row.kindergarten))?;
        let band = self
            .rules
            .bands
            .get(usize::from(row.band))
            .ok_or(BuildError::UnknownBand(row.band))?;
        if let Some(&existing) = self.group_lookup.get(&(kg, row.band, row.language)) {
            return Err(BuildError::SecondGroupForSameBandAndLanguage {
                kindergarten: row.kindergarten,
                band: band.name.clone(),
                language: row.language.code(),
                existing: GroupId(self.group_ids[existing as usize]),
            });
        }
        let idx = self.group_ids.len() as u32;
        if !self.group_index.insert(row.id.0, idx) {
            return Err(BuildError::DuplicateGroup(row.id));
        }
        self.group_lookup.insert((kg, row.band, row.language), idx);
        self.group_ids.push(row.id.0);
        self.group_kg.push(kg);
        self.group_band.push(row.band);
        self.group_lang.push(row.language);
        self.group_cap.push(row.free_places);
        Ok(())
    }

    pub fn add_child(&mut self, row: ChildRow<'_>) -> Result<(), BuildError> {
        if row.id.0 == 0 {
            return Err(BuildError::ZeroId);
        }
        if self.child_ids.len() >= MAX_CHILDREN {
            return Err(BuildError::TooManyChildren);
        }
        let max = self.rules.max_preferences;
        if row.preferences.is_empty() {
            return Err(BuildError::NoPreferences { max });
        }
        if row.preferences.len() > max {
            return Err(BuildError::TooManyPreferences {
                count: row.preferences.len(),
                max,
            });
        }
        let sibling = match row.sibling_kindergarten {
            None => NONE,
            Some(k) => self
                .kg_index
                .get(k.0)
                .ok_or(BuildError::UnknownSiblingKindergarten(k))?,
        };
        // Validate everything before pushing so that a rejected row leaves no trace.
        let start = self.pref_kg.len();
        for (i, p) in row.preferences.iter().enumerate() {
            let Some(kg) = self.kg_index.get(p.0) else {
                self.pref_kg.truncate(start);
                return Err(BuildError::UnknownPreference(*p));
            };
            if row.preferences[..i].contains(p) {
                self.pref_kg.truncate(start);
                return Err(BuildError::DuplicatePreference(*p));
            }
            self.pref_kg.push(kg);
        }
        let idx = self.child_ids.len() as u32;
        if !self.child_index.insert(row.id.0, idx) {
            self.pref_kg.truncate(start);
            return Err(BuildError::DuplicateChild(row.id));
        }
        self.pref_start.push(self.pref_kg.len() as u32);
        self.child_ids.push(row.id.0);
        self.birth.push(row.birth_date);
        self.band
            .push(self.rules.band_of(row.birth_date).unwrap_or(u8::MAX));
        self.lang.push(row.language);
        self.registered_at.push(row.registered_at);
        self.registration_no.push(row.registration_no);
        self.priority.push(row.priority.code());
        self.sibling.push(sibling);
        Ok(())
    }

    /// Ranks the children and lists each child's eligible groups with its ranking key there.
    pub fn build(self) -> Result<Instance, BuildError> {
        let n = self.child_ids.len();
        let by_number = registration_order(&self.registration_no, &self.child_ids)?;
        let keys = RankingKeys::compute(
            &self.rules.ranking,
            &self.priority,
            &self.registered_at,
            &by_number,
        )?;

        let n_bands = self.rules.bands.len();
        let mut lookup = vec![NONE; self.kg_ids.len() * n_bands * Language::ALL.len()];
        for (&(kg, band, lang), &g) in &self.group_lookup {
            lookup[(kg as usize * n_bands + usize::from(band)) * Language::ALL.len()
                + lang.index()] = g;
        }
        let mut elig_start = Vec::with_capacity(n + 1);
        elig_start.push(0u32);
        let mut elig_group = Vec::with_capacity(self.pref_kg.len());
        let mut elig_key = Vec::with_capacity(self.pref_kg.len());
        let mut applicants = vec![0u32; self.group_ids.len()];
        for c in 0..n {
            let band = self.band[c];
            if band != u8::MAX {
                let prefs =
                    &self.pref_kg[self.pref_start[c] as usize..self.pref_start[c + 1] as usize];
                for &kg in prefs {
                    let g = lookup[(kg as usize * n_bands + usize::from(band))
                        * Language::ALL.len()
                        + self.lang[c].index()];
                    if g != NONE {
                        elig_group.push(g);
                        elig_key.push(keys.key(c, self.sibling[c] == kg));
                        applicants[g as usize] += 1;
                    }
                }
            }
            elig_start.push(elig_group.len() as u32);
        }
        Ok(Instance {
            rules: self.rules,
            kg_ids: self.kg_ids,
            kg_index: self.kg_index,
            group_ids: self.group_ids,
            group_index: self.group_index,
            group_kg: self.group_kg,
            group_band: self.group_band,
            group_lang: self.group_lang,
            group_cap: self.group_cap,
            group_applicants: applicants,
            child_ids: self.child_ids,
            child_index: self.child_index,
            birth: self.birth,
            band: self.band,
            lang: self.lang,
            registered_at: self.registered_at,
            registration_no: self.registration_no,
            priority: self.priority,
            sibling: self.sibling,
            pref_start: self.pref_start,
            pref_kg: self.pref_kg,
            elig_start,
            elig_group,
            elig_key,
            child_of_rank: keys.child_of_rank,
        })
    }
}

/// Children in the order of their registration numbers. The ranking is strict only because
/// registration numbers are unique (FORMAT.md), so a repeated number is refused rather than
/// broken arbitrarily.
fn registration_order(numbers: &[u64], ids: &[u64]) -> Result<Vec<u32>, BuildError> {
    let n = numbers.len();
    let max = numbers.iter().copied().max().unwrap_or(0);
    let dup = |a: usize, b: usize| BuildError::DuplicateRegistrationNo {
        number: numbers[a],
        first: ChildId(ids[a]),
        second: ChildId(ids[b]),
        first_row: a,
        second_row: b,
    };
    if max <= (n as u64).saturating_mul(8).saturating_add(64) {
        // Numbers are dense (the usual case): a counting pass instead of a sort.
        let mut holder = vec![NONE; max as usize + 1];
        for (c, &no) in numbers.iter().enumerate() {
            let h = &mut holder[no as usize];
            if *h != NONE {
                return Err(dup(*h as usize, c));
            }
            *h = c as u32;
        }
        holder.retain(|&c| c != NONE);
        Ok(holder)
    } else {
        let mut sorted: Vec<(u64, u32)> = numbers
            .iter()
            .enumerate()
            .map(|(c, &no)| (no, c as u32))
            .collect();
        sorted.sort_unstable();
        if let Some(w) = sorted.windows(2).find(|w| w[0].0 == w[1].0) {
            return Err(dup(w[0].1 as usize, w[1].1 as usize));
        }
        Ok(sorted.into_iter().map(|(_, c)| c).collect())
    }
}

/// One allocation round, validated and ranked. Children, groups and kindergartens are addressed
/// by dense indices (`u32`) in the order they were added.
#[derive(Debug)]
pub struct Instance {
    pub(crate) rules: RoundRules,
    pub(crate) kg_ids: Vec<u64>,
    pub(crate) kg_index: IdIndex,
    pub(crate) group_ids: Vec<u64>,
    pub(crate) group_index: IdIndex,
    pub(crate) group_kg: Vec<u32>,
    pub(crate) group_band: Vec<u8>,
    pub(crate) group_lang: Vec<Language>,
    pub(crate) group_cap: Vec<u32>,
    /// Number of children eligible for each group (bounds the places that can ever be filled).
    pub(crate) group_applicants: Vec<u32>,
    pub(crate) child_ids: Vec<u64>,
    pub(crate) child_index: IdIndex,
    pub(crate) birth: Vec<Date>,
    /// Band index, or `u8::MAX` when the child's age fits no band.
    pub(crate) band: Vec<u8>,
    pub(crate) lang: Vec<Language>,
    pub(crate) registered_at: Vec<i64>,
    pub(crate) registration_no: Vec<u64>,
    pub(crate) priority: Vec<u8>,
    pub(crate) sibling: Vec<u32>,
    pub(crate) pref_start: Vec<u32>,
    pub(crate) pref_kg: Vec<u32>,
    /// Eligible groups of child `c` are `elig_group[elig_start[c]..elig_start[c + 1]]`, in the
    /// child's order, with the child's ranking key at each in `elig_key` (smaller ranks first).
    pub(crate) elig_start: Vec<u32>,
    pub(crate) elig_group: Vec<u32>,
    pub(crate) elig_key: Vec<u64>,
    /// The low 31 bits of a key are the child's overall rank; this maps them back to the child.
    pub(crate) child_of_rank: Vec<u32>,
}

impl Instance {
    pub fn rules(&self) -> &RoundRules {
        &self.rules
    }
    pub fn child_count(&self) -> usize {
        self.child_ids.len()
    }
    pub fn group_count(&self) -> usize {
        self.group_ids.len()
    }
    pub fn kindergarten_count(&self) -> usize {
        self.kg_ids.len()
    }
    /// Number of (child, eligible group) pairs.
    pub fn eligible_pairs(&self) -> usize {
        self.elig_group.len()
    }
    pub fn child_id(&self, c: u32) -> ChildId {
        ChildId(self.child_ids[c as usize])
    }
    pub fn child_index(&self, id: ChildId) -> Option<u32> {
        self.child_index.get(id.0)
    }
    pub fn group_id(&self, g: u32) -> GroupId {
        GroupId(self.group_ids[g as usize])
    }
    pub fn group_index(&self, id: GroupId) -> Option<u32> {
        self.group_index.get(id.0)
    }
    pub fn kindergarten_index(&self, id: KindergartenId) -> Option<u32> {
        self.kg_index.get(id.0)
    }
    pub fn child_birth_date(&self, c: u32) -> Date {
        self.birth[c as usize]
    }
    pub fn group_kindergarten(&self, g: u32) -> KindergartenId {
        KindergartenId(self.kg_ids[self.group_kg[g as usize] as usize])
    }
    pub fn group_band(&self, g: u32) -> u8 {
        self.group_band[g as usize]
    }
    pub fn group_language(&self, g: u32) -> Language {
        self.group_lang[g as usize]
    }
    pub fn free_places(&self, g: u32) -> u32 {
        self.group_cap[g as usize]
    }
    /// The child's band index, `None` when its age fits no band (it takes no part).
    pub fn child_band(&self, c: u32) -> Option<u8> {
        let b = self.band[c as usize];
        (b != u8::MAX).then_some(b)
    }
    pub fn child_priority(&self, c: u32) -> PriorityClass {
        PriorityClass::from_index(self.priority[c as usize])
    }
    /// The child's eligible groups, most preferred first.
    pub fn eligible_groups(&self, c: u32) -> &[u32] {
        &self.elig_group
            [self.elig_start[c as usize] as usize..self.elig_start[c as usize + 1] as usize]
    }
    pub(crate) fn eligible_keys(&self, c: u32) -> &[u64] {
        &self.elig_key
            [self.elig_start[c as usize] as usize..self.elig_start[c as usize + 1] as usize]
    }
    /// The child's preferred kindergartens (indices), most preferred first.
    pub(crate) fn preferred_kindergartens(&self, c: u32) -> &[u32] {
        &self.pref_kg
            [self.pref_start[c as usize] as usize..self.pref_start[c as usize + 1] as usize]
    }
    pub(crate) fn child_of_key(&self, key: u64) -> u32 {
        self.child_of_rank[(key & super::ranking::RANK_MASK) as usize]
    }
}
