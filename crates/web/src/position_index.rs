//! Position reads from memory: for each region, the waiting children's ranking keys sorted per
//! (kindergarten, age band, language) and split by priority class, so "how many rank ahead"
//! is a binary search instead of a scan of the region.
//!
//! An index is valid for one version of the region's queue: the queue-log head's sequence
//! number (every change of a registration, preference, claim, referral or enrolment appends an
//! event in its own transaction), the day (confirmed claims lapse at midnight without an event),
//! the reference date of the child's school year, and the region's bands and ranking. Each read
//! checks the head with one query and rebuilds the index when any of these moved, so it answers
//! exactly what [`crate::queue::positions`] answers. Free places are not cached: heads publish
//! places without a queue event, so each read takes them from the database.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use kezek_domain::allocation::{self, Band, PriorityClass, Ranking};
use kezek_domain::queue::{Standing, rank_key, school_year_start};
use kezek_store::Db;
use kezek_store::queue::EntryRow;
use time::{Date, OffsetDateTime};

use crate::problem::Problem;
use crate::queue::{Position, local_today, settings_of};

/// What an index was built from; a read whose version differs rebuilds it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Version {
    seq: i64,
    today: Date,
    reference: Date,
    bands: String,
    ranking: String,
}

/// A waiting child as the index keeps it.
struct Child {
    /// The standing without its kindergarten (`sibling_here` is set per kindergarten).
    standing: Standing,
    sibling: Option<i64>,
    language: String,
    band: Option<usize>,
    preferences: Vec<i64>,
}

/// The ranking keys of the children who want one kindergarten, in one band and language,
/// sorted, one list per priority class (index = class code).
#[derive(Default)]
struct Bucket {
    by_class: [Vec<[i128; 4]>; 3],
}

struct RegionIndex {
    version: Version,
    children: HashMap<i64, Child>,
    buckets: HashMap<(i64, Option<usize>, String), Bucket>,
}

/// The indexes of every region and school year read so far, shared by all requests.
#[derive(Default)]
pub struct PositionIndex {
    /// By (region, reference date).
    built: Mutex<HashMap<(i64, Date), Arc<RegionIndex>>>,
    /// One builder per region at a time: concurrent reads of a moved queue wait for one
    /// rebuild instead of each scanning the region.
    building: Mutex<HashMap<i64, Arc<tokio::sync::Mutex<()>>>>,
}

impl std::fmt::Debug for PositionIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.built.lock().map(|b| b.len()).unwrap_or(0);
        f.debug_struct("PositionIndex").field("indexes", &n).finish()
    }
}

fn band_index(bands: &[Band], birth: Date, reference: Date) -> Option<usize> {
    let age = allocation::age_on(birth, reference);
    bands.iter().position(|b| i32::from(b.min_age()) <= age && age < i32::from(b.max_age()))
}

impl PositionIndex {
    fn cached(&self, region: i64, version: &Version) -> Option<Arc<RegionIndex>> {
        let built = self.built.lock().ok()?;
        built.get(&(region, version.reference)).filter(|i| &i.version == version).cloned()
    }

    async fn index(&self, db: &Db, region: i64, version: Version, bands: &[Band], ranking: &Ranking) -> Result<Arc<RegionIndex>, Problem> {
        if let Some(i) = self.cached(region, &version) {
            return Ok(i);
        }
        let gate = {
            let mut building = self.building.lock().map_err(|_| Problem::internal())?;
            building.entry(region).or_default().clone()
        };
        let _one_builder = gate.lock().await;
        if let Some(i) = self.cached(region, &version) {
            return Ok(i);
        }
        let index = Arc::new(build(db, region, version, bands, ranking).await?);
        let mut built = self.built.lock().map_err(|_| Problem::internal())?;
        // Indexes of older versions of the region are of no further use.
        built.retain(|(r, _), i| *r != region || (i.version.seq == index.version.seq && i.version.today == index.version.today));
        built.insert((region, index.version.reference), index.clone());
        Ok(index)
    }
}

/// Reads the region's waiting children and preferences (the same queries as the scan).
async fn build(db: &Db, region: i64, version: Version, bands: &[Band], ranking: &Ranking) -> Result<RegionIndex, Problem> {
    let waiting = db.waiting_children(region, version.today).await?;
    let prefs = db.waiting_preferences(region).await?;
    let mut children: HashMap<i64, Child> = HashMap::with_capacity(waiting.len());
    for w in waiting {
        let standing = Standing {
            priority: PriorityClass::from_code(w.priority as u64).unwrap_or(PriorityClass::None),
            sibling_here: false,
            registered_at: w.registered_at.unix_timestamp(),
            registration_no: w.registration_no as u64,
        };
        let band = band_index(bands, w.child_birth_date, version.reference);
        children.insert(w.id, Child { standing, sibling: w.sibling_kindergarten_id, language: w.language, band, preferences: Vec::new() });
    }
    let mut buckets: HashMap<(i64, Option<usize>, String), Bucket> = HashMap::new();
    for (entry, k) in prefs {
        let Some(c) = children.get_mut(&entry) else { continue };
        c.preferences.push(k);
        let standing = Standing { sibling_here: c.sibling == Some(k), ..c.standing };
        let key = rank_key(ranking, &standing);
        let bucket = buckets.entry((k, c.band, c.language.clone())).or_default();
        bucket.by_class[usize::from(standing.priority.code())].push(key);
    }
    for b in buckets.values_mut() {
        for keys in &mut b.by_class {
            keys.sort_unstable();
        }
    }
    tracing::debug!(region, children = children.len(), buckets = buckets.len(), seq = version.seq, "position index built");
    Ok(RegionIndex { version, children, buckets })
}

/// Where a child stands at each preferred kindergarten: the same answer as
/// [`crate::queue::positions`], from the region's index.
pub async fn positions(index: &PositionIndex, db: &Db, now: OffsetDateTime, entry: &EntryRow) -> Result<Vec<Position>, Problem> {
    let (seq, settings_row) = db.queue_position_context(entry.region_id).await?.ok_or_else(Problem::not_found)?;
    let settings = settings_of(&settings_row)?;
    let today = local_today(now);
    let reference = school_year_start(today.max(entry.desired_start));
    let version = Version { seq, today, reference, bands: settings_row.bands, ranking: settings_row.ranking };
    let index = index.index(db, entry.region_id, version, &settings.bands, &settings.ranking).await?;

    let me = index.children.get(&entry.id);
    let my_band = band_index(&settings.bands, entry.child_birth_date, reference);
    let mine = match me {
        Some(c) => c.preferences.clone(),
        None => db.preferences(entry.id).await?,
    };
    let band_name = my_band.map(|b| settings.bands[b].name().to_owned());
    let groups = match &band_name {
        Some(band) if !mine.is_empty() => db.position_groups(entry.region_id, &mine, band, &entry.language).await?,
        _ => Vec::new(),
    };
    let mut out = Vec::with_capacity(mine.len());
    for (rank, k) in mine.iter().enumerate() {
        let group = groups.iter().find(|g| g.organization_id == *k);
        let ahead_by_class = match me {
            Some(c) => {
                let mine = rank_key(&settings.ranking, &Standing { sibling_here: c.sibling == Some(*k), ..c.standing });
                match index.buckets.get(&(*k, my_band, entry.language.clone())) {
                    // Strictly smaller keys rank ahead; the child's own key is equal, so not counted.
                    Some(b) => b.by_class.each_ref().map(|keys| keys.partition_point(|key| *key < mine) as u64),
                    None => [0; 3],
                }
            }
            None => [0; 3],
        };
        out.push(Position {
            kindergarten_id: *k,
            preference_rank: rank + 1,
            group_id: group.map(|g| g.id),
            age_band: band_name.clone(),
            free_places: group.map_or(0, |g| g.free()),
            ahead: ahead_by_class.iter().sum(),
            ahead_by_class,
        });
    }
    Ok(out)
}
