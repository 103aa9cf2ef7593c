//! Position reads from memory: for each region, every registration with what authorizes a read
//! of it (the applicant's account, the region), the waiting children's ranking keys sorted per
//! (kindergarten, age band, language) and split by priority class, so "how many rank ahead" is
//! a binary search, and the free places of every group. A read that finds its region's index
//! current asks the database nothing.
//!
//! Freshness. An index holds the region's queue as of one version: the queue-log head's
//! sequence number (every change of a registration, preference, claim, referral or enrolment
//! appends an event in its own transaction), the places version (a trigger moves it with every
//! change of the region's groups), the region's bands and ranking, and the Almaty day
//! (confirmed claims lapse at midnight without an event). All of it is read in one query
//! ([`Db::queue_version`]) and compared; whatever moved is rebuilt. That query runs
//! - whenever this process has committed any write since the index was last checked
//!   ([`kezek_store::local_commits`] moves after each commit, before the writer answers): a read
//!   that follows a write made through this server never sees the queue before it;
//! - and otherwise at most [`RECHECK_AFTER`] after the last check: a write made through another
//!   server (or `kezek` commands) on the same database shows in this server's reads within
//!   that time, never later.
//!
//! Answers are exactly what the scan in [`crate::queue::positions`] answers
//! (`tests/queue_positions.rs`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kezek_domain::allocation::{self, Band, PriorityClass, Ranking};
use kezek_domain::queue::{Standing, rank_key, school_year_start};
use kezek_store::queue::{EntryRow, QueueSettingsRow};
use kezek_store::{Db, local_commits};
use time::{Date, OffsetDateTime};

use crate::problem::Problem;
use crate::queue::{Position, local_today, settings_of};

/// The longest a read may go without checking the region's version in the database when this
/// process wrote nothing: the bound on staleness for writes made through another server.
pub const RECHECK_AFTER: Duration = Duration::from_millis(500);

/// What the queue part of an index was built from.
#[derive(Clone, Debug, PartialEq, Eq)]
struct QueueVersion {
    seq: i64,
    today: Date,
    bands: String,
    ranking: String,
}

/// A registration as the index keeps it, whatever its status.
struct Entry {
    applicant_user_id: i64,
    status: String,
    birth: Date,
    desired_start: Date,
    language: String,
    preferences: Vec<i64>,
    /// Waiting children only: the standing without its kindergarten (`sibling_here` is set per
    /// kindergarten).
    standing: Option<Standing>,
    sibling: Option<i64>,
}

/// The ranking keys of the children who want one kindergarten, in one band and language,
/// sorted, one list per priority class (index = class code).
#[derive(Default)]
struct Bucket {
    by_class: [Vec<[i128; 4]>; 3],
}

type Buckets = HashMap<(i64, Option<usize>, String), Bucket>;

struct Queue {
    version: QueueVersion,
    bands: Vec<Band>,
    ranking: Ranking,
    entries: HashMap<i64, Entry>,
    /// Buckets per reference date (1 September of the school year a child starts in), built on
    /// the first read that needs them.
    buckets: Mutex<HashMap<Date, Arc<Buckets>>>,
}

/// The region's groups by (kindergarten, band name, language): (group id, free places).
struct Places {
    seq: i64,
    version: i64,
    groups: HashMap<(i64, String, String), (i64, i64)>,
}

/// When an index was last found current: the process's commit count and the time.
#[derive(Clone, Copy)]
struct Checked {
    commits: u64,
    at: Instant,
}

struct RegionIndex {
    queue: Arc<Queue>,
    places: Arc<Places>,
    checked: Mutex<Checked>,
}

impl RegionIndex {
    /// Current without asking the database: nothing written by this process since the last
    /// check, which is recent enough, on the same day.
    fn is_current(&self, today: Date) -> bool {
        let Ok(c) = self.checked.lock() else { return false };
        self.queue.version.today == today && c.commits == local_commits() && c.at.elapsed() < RECHECK_AFTER
    }
}

/// How far a refresh goes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Refresh {
    /// Rebuild what the version query shows has moved.
    IfMoved,
    /// Rebuild the queue even if its version did not move: the database has an entry the
    /// index lacks (a registration written without its queue event would be a bug elsewhere;
    /// answering it as missing would be a wrong 404).
    Queue,
}

/// The indexes of every region read so far, shared by all requests.
#[derive(Default)]
pub struct PositionIndex {
    regions: Mutex<HashMap<i64, Arc<RegionIndex>>>,
    /// One checker per region at a time: concurrent reads of a moved queue wait for one
    /// version query and one rebuild instead of each scanning the region.
    gates: Mutex<HashMap<i64, Arc<tokio::sync::Mutex<()>>>>,
}

impl std::fmt::Debug for PositionIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.regions.lock().map(|b| b.len()).unwrap_or(0);
        f.debug_struct("PositionIndex").field("regions", &n).finish()
    }
}

fn band_index(bands: &[Band], birth: Date, reference: Date) -> Option<usize> {
    let age = allocation::age_on(birth, reference);
    bands.iter().position(|b| i32::from(b.min_age()) <= age && age < i32::from(b.max_age()))
}

impl PositionIndex {
    fn cached(&self, region: i64) -> Option<Arc<RegionIndex>> {
        self.regions.lock().ok()?.get(&region).cloned()
    }

    /// The region whose index holds this registration, if any index does.
    fn region_holding(&self, entry: i64) -> Option<i64> {
        let regions = self.regions.lock().ok()?;
        regions.iter().find(|(_, i)| i.queue.entries.contains_key(&entry)).map(|(r, _)| *r)
    }

    /// The region's index, current as the module documentation defines it.
    async fn region(&self, db: &Db, region: i64, today: Date, refresh: Refresh) -> Result<Arc<RegionIndex>, Problem> {
        if refresh == Refresh::IfMoved
            && let Some(i) = self.cached(region).filter(|i| i.is_current(today))
        {
            return Ok(i);
        }
        let gate = {
            let mut gates = self.gates.lock().map_err(|_| Problem::internal())?;
            gates.entry(region).or_default().clone()
        };
        let _one_checker = gate.lock().await;
        let old = self.cached(region);
        if refresh == Refresh::IfMoved
            && let Some(i) = old.as_ref().filter(|i| i.is_current(today))
        {
            return Ok(i.clone());
        }
        // Taken before the query: a write committed after this point moves the count again.
        let commits = local_commits();
        let row = db.queue_version(region).await?.ok_or_else(Problem::not_found)?;
        let version = QueueVersion { seq: row.seq, today, bands: row.settings.bands.clone(), ranking: row.settings.ranking.clone() };
        let queue = match &old {
            Some(o) if refresh == Refresh::IfMoved && o.queue.version == version => o.queue.clone(),
            _ => Arc::new(build_queue(db, region, version, &row.settings).await?),
        };
        let places = match &old {
            Some(o) if o.places.seq == row.seq && o.places.version == row.places_version => o.places.clone(),
            _ => Arc::new(load_places(db, region, row.seq, row.places_version).await?),
        };
        let index = Arc::new(RegionIndex { queue, places, checked: Mutex::new(Checked { commits, at: Instant::now() }) });
        self.regions.lock().map_err(|_| Problem::internal())?.insert(region, index.clone());
        Ok(index)
    }
}

/// Reads the region's registrations and preferences.
async fn build_queue(db: &Db, region: i64, version: QueueVersion, settings: &QueueSettingsRow) -> Result<Queue, Problem> {
    let parsed = settings_of(settings)?;
    let rows = db.position_entries(region, version.today).await?;
    let prefs = db.region_preferences(region).await?;
    let mut entries: HashMap<i64, Entry> = HashMap::with_capacity(rows.len());
    for r in rows {
        let standing = (r.status == "waiting").then(|| Standing {
            priority: PriorityClass::from_code(r.priority as u64).unwrap_or(PriorityClass::None),
            sibling_here: false,
            registered_at: r.registered_at.unix_timestamp(),
            registration_no: r.registration_no as u64,
        });
        entries.insert(r.id, Entry {
            applicant_user_id: r.applicant_user_id,
            status: r.status,
            birth: r.child_birth_date,
            desired_start: r.desired_start,
            language: r.language,
            preferences: Vec::new(),
            standing,
            sibling: r.sibling_kindergarten_id,
        });
    }
    for (entry, k) in prefs {
        if let Some(e) = entries.get_mut(&entry) {
            e.preferences.push(k);
        }
    }
    tracing::debug!(region, entries = entries.len(), seq = version.seq, "position index built");
    Ok(Queue { version, bands: parsed.bands, ranking: parsed.ranking, entries, buckets: Mutex::default() })
}

async fn load_places(db: &Db, region: i64, seq: i64, version: i64) -> Result<Places, Problem> {
    let groups = db
        .groups_with_holds(region)
        .await?
        .into_iter()
        .map(|g| ((g.organization_id, g.age_band.clone(), g.language.clone()), (g.id, g.free())))
        .collect();
    Ok(Places { seq, version, groups })
}

impl Queue {
    /// The waiting children's keys with bands counted on `reference`.
    fn buckets(&self, reference: Date) -> Result<Arc<Buckets>, Problem> {
        let mut built = self.buckets.lock().map_err(|_| Problem::internal())?;
        if let Some(b) = built.get(&reference) {
            return Ok(b.clone());
        }
        let mut buckets = Buckets::new();
        for e in self.entries.values() {
            let Some(standing) = &e.standing else { continue };
            let band = band_index(&self.bands, e.birth, reference);
            for k in &e.preferences {
                let key = rank_key(&self.ranking, &Standing { sibling_here: e.sibling == Some(*k), ..*standing });
                let bucket = buckets.entry((*k, band, e.language.clone())).or_default();
                bucket.by_class[usize::from(standing.priority.code())].push(key);
            }
        }
        for b in buckets.values_mut() {
            for keys in &mut b.by_class {
                keys.sort_unstable();
            }
        }
        let buckets = Arc::new(buckets);
        built.insert(reference, buckets.clone());
        Ok(buckets)
    }
}

/// A registration found in a current index: what authorizes reading it, and its positions.
pub struct Located {
    index: Arc<RegionIndex>,
    region_id: i64,
    entry_id: i64,
}

impl Located {
    fn entry(&self) -> &Entry {
        &self.index.queue.entries[&self.entry_id]
    }

    pub fn region_id(&self) -> i64 {
        self.region_id
    }

    pub fn applicant_user_id(&self) -> i64 {
        self.entry().applicant_user_id
    }

    pub fn status(&self) -> &str {
        &self.entry().status
    }

    /// Where the child stands at each preferred kindergarten: the same answer as
    /// [`crate::queue::positions`].
    pub fn positions(&self) -> Result<Vec<Position>, Problem> {
        let queue = &self.index.queue;
        let e = self.entry();
        let reference = school_year_start(queue.version.today.max(e.desired_start));
        let my_band = band_index(&queue.bands, e.birth, reference);
        let band_name = my_band.map(|b| queue.bands[b].name().to_owned());
        let buckets = match e.standing {
            Some(_) => Some(queue.buckets(reference)?),
            None => None,
        };
        let mut out = Vec::with_capacity(e.preferences.len());
        for (rank, k) in e.preferences.iter().enumerate() {
            let group = band_name.as_ref().and_then(|b| self.index.places.groups.get(&(*k, b.clone(), e.language.clone())));
            let ahead_by_class = match (&e.standing, &buckets) {
                (Some(standing), Some(buckets)) => {
                    let mine = rank_key(&queue.ranking, &Standing { sibling_here: e.sibling == Some(*k), ..*standing });
                    match buckets.get(&(*k, my_band, e.language.clone())) {
                        // Strictly smaller keys rank ahead; the child's own key is equal, so not counted.
                        Some(b) => b.by_class.each_ref().map(|keys| keys.partition_point(|key| *key < mine) as u64),
                        None => [0; 3],
                    }
                }
                _ => [0; 3],
            };
            out.push(Position {
                kindergarten_id: *k,
                preference_rank: rank + 1,
                group_id: group.map(|g| g.0),
                age_band: band_name.clone(),
                free_places: group.map_or(0, |g| g.1),
                ahead: ahead_by_class.iter().sum(),
                ahead_by_class,
            });
        }
        Ok(out)
    }
}

/// Finds a registration in its region's current index; `None` when there is no such
/// registration. Asks the database nothing when the index is current; the first read of a
/// registration no index holds yet looks its region up (one query) and builds that region's index.
pub async fn locate(index: &PositionIndex, db: &Db, now: OffsetDateTime, entry_id: i64) -> Result<Option<Located>, Problem> {
    let today = local_today(now);
    if let Some(region) = index.region_holding(entry_id) {
        let current = index.region(db, region, today, Refresh::IfMoved).await?;
        if current.queue.entries.contains_key(&entry_id) {
            return Ok(Some(Located { index: current, region_id: region, entry_id }));
        }
    }
    let Some(row) = db.queue_entry(entry_id).await? else { return Ok(None) };
    let mut current = index.region(db, row.region_id, today, Refresh::IfMoved).await?;
    if !current.queue.entries.contains_key(&entry_id) {
        current = index.region(db, row.region_id, today, Refresh::Queue).await?;
    }
    Ok(current.queue.entries.contains_key(&entry_id).then(|| Located { index: current, region_id: row.region_id, entry_id }))
}

/// Where a child stands at each preferred kindergarten, from the region's index.
pub async fn positions(index: &PositionIndex, db: &Db, now: OffsetDateTime, entry: &EntryRow) -> Result<Vec<Position>, Problem> {
    locate(index, db, now, entry.id).await?.ok_or_else(Problem::not_found)?.positions()
}
