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
//! ([`Db::queue_version`]) and compared; whatever moved is brought up to date. That query runs
//! - whenever this process has committed any write since the index was last checked
//!   ([`kezek_store::local_commits`] moves after each commit, before the writer answers): a read
//!   that follows a write made through this server never sees the queue before it;
//! - and otherwise at most [`RECHECK_AFTER`] after the last check: a write made through another
//!   server (or `kezek` commands) on the same database shows in this server's reads within
//!   that time, never later.
//!
//! Catching up. When only the queue-log head moved, by a few events each naming the child it
//! concerns (every event but an import's and a round's own record does; a round's referrals
//! have one event each), the index reloads just those registrations and the ones registered
//! since, and moves their keys in the sorted lists: a registration costs the next read a
//! couple of small queries instead of the region's rebuild (1.7 s for 100,000 children).
//! Anything else — a new day, other bands or ranking, an event naming no child or a child the
//! index cannot find, a burst of events such as a round's — rebuilds the region. Places are
//! reloaded when their version moved or an event may hold or free a place.
//!
//! Answers are exactly what the scan in [`crate::queue::positions`] answers
//! (`tests/queue_positions.rs`).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard};
use std::time::{Duration, Instant};

use kezek_domain::allocation::{self, Band, PriorityClass, Ranking};
use kezek_domain::queue::{Standing, child_ref, rank_key, school_year_start};
use kezek_store::queue::{EntryRow, PositionEntryRow, QueueLogRow, QueueSettingsRow, QueueVersionRow};
use kezek_store::{Db, local_commits};
use time::{Date, OffsetDateTime};

use crate::problem::Problem;
use crate::queue::{Position, local_today, settings_of};

/// The longest a read may go without checking the region's version in the database when this
/// process wrote nothing: the bound on staleness for writes made through another server.
pub const RECHECK_AFTER: Duration = Duration::from_millis(500);

/// Beyond this many new events since the index was built, rebuilding the region costs less
/// than following them one registration at a time.
const MAX_CATCH_UP_EVENTS: i64 = 1_000;

/// Events that change no group's free places: the places need no reload for them.
const PLACE_NEUTRAL_EVENTS: &[&str] =
    &["registered", "changed", "claim_submitted", "claim_confirmed", "claim_rejected", "claim_revoked", "claim_expired"];

/// What the queue part of an index was built from.
#[derive(Clone, Debug, PartialEq, Eq)]
struct QueueVersion {
    seq: i64,
    today: Date,
    bands: String,
    ranking: String,
}

impl QueueVersion {
    fn of(row: &QueueVersionRow, today: Date) -> QueueVersion {
        QueueVersion { seq: row.seq, today, bands: row.settings.bands.clone(), ranking: row.settings.ranking.clone() }
    }

    /// Whether an index built at `self` can follow the log to `to`: the same day, bands and
    /// ranking, and a log that only grew.
    fn can_catch_up_to(&self, to: &QueueVersion) -> bool {
        self.today == to.today && self.bands == to.bands && self.ranking == to.ranking && self.seq <= to.seq
    }
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
    /// The child's reference in the queue log, by which events name the registration.
    log_ref: String,
}

impl Entry {
    fn of(r: PositionEntryRow) -> Entry {
        let standing = (r.status == "waiting").then(|| Standing {
            priority: PriorityClass::from_code(r.priority as u64).unwrap_or(PriorityClass::None),
            sibling_here: false,
            registered_at: r.registered_at.unix_timestamp(),
            registration_no: r.registration_no as u64,
        });
        Entry {
            applicant_user_id: r.applicant_user_id,
            status: r.status,
            birth: r.child_birth_date,
            desired_start: r.desired_start,
            language: r.language,
            preferences: r.preferences.0,
            standing,
            sibling: r.sibling_kindergarten_id,
            log_ref: child_ref(&r.log_salt, &r.child_iin),
        }
    }
}

/// Which sorted list a key goes in: (kindergarten, band index on the reference date, language).
type BucketKey = (i64, Option<usize>, String);

/// The ranking keys of the children who want one kindergarten, in one band and language,
/// sorted, one list per priority class (index = class code).
#[derive(Default)]
struct Bucket {
    by_class: [Vec<[i128; 4]>; 3],
}

type Buckets = HashMap<BucketKey, Bucket>;

struct Queue {
    version: QueueVersion,
    bands: Vec<Band>,
    ranking: Ranking,
    entries: HashMap<i64, Entry>,
    /// Registration by its queue-log reference.
    by_ref: HashMap<String, i64>,
    /// The highest registration id held: registrations made since have higher ones.
    max_id: i64,
    /// Buckets per reference date (1 September of the school year a child starts in), built on
    /// the first read that needs them and kept up to date with the entries.
    buckets: HashMap<Date, Buckets>,
}

/// The region's groups by (kindergarten, band name, language): (group id, free places).
struct Places {
    version: i64,
    groups: HashMap<(i64, String, String), (i64, i64)>,
}

struct IndexState {
    queue: Queue,
    places: Places,
}

/// When an index was last found current: the process's commit count and the time.
#[derive(Clone, Copy)]
struct Checked {
    commits: u64,
    at: Instant,
}

struct RegionIndex {
    /// Reads hold the read lock for the microseconds of a binary search; a catch-up holds the
    /// write lock only to move the keys it has already loaded.
    state: RwLock<IndexState>,
    checked: Mutex<Checked>,
}

impl RegionIndex {
    fn read(&self) -> Result<RwLockReadGuard<'_, IndexState>, Problem> {
        self.state.read().map_err(|_| Problem::internal())
    }

    /// Current without asking the database: nothing written by this process since the last
    /// check, which is recent enough, on the same day.
    fn is_current(&self, today: Date) -> bool {
        let Ok(c) = self.checked.lock() else { return false };
        let Ok(state) = self.state.read() else { return false };
        state.queue.version.today == today && c.commits == local_commits() && c.at.elapsed() < RECHECK_AFTER
    }

    fn holds(&self, entry: i64) -> bool {
        self.state.read().is_ok_and(|s| s.queue.entries.contains_key(&entry))
    }

    fn mark_checked(&self, commits: u64) -> Result<(), Problem> {
        *self.checked.lock().map_err(|_| Problem::internal())? = Checked { commits, at: Instant::now() };
        Ok(())
    }
}

/// How far a refresh goes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Refresh {
    /// Bring up to date what the version query shows has moved.
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
    /// version query and one catch-up instead of each scanning the region.
    gates: Mutex<HashMap<i64, Arc<tokio::sync::Mutex<()>>>>,
    /// How many times a region was read in full (first reads included), and how many times an
    /// index followed new events instead.
    rebuilds: AtomicU64,
    catch_ups: AtomicU64,
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
    /// Full reads of a region so far, the first one of each region included.
    pub fn rebuilds(&self) -> u64 {
        self.rebuilds.load(Ordering::Relaxed)
    }

    /// Times an index followed new events by reloading only the registrations they name.
    pub fn catch_ups(&self) -> u64 {
        self.catch_ups.load(Ordering::Relaxed)
    }

    fn cached(&self, region: i64) -> Option<Arc<RegionIndex>> {
        self.regions.lock().ok()?.get(&region).cloned()
    }

    /// The region whose index holds this registration, if any index does.
    fn region_holding(&self, entry: i64) -> Option<i64> {
        let regions = self.regions.lock().ok()?;
        regions.iter().find(|(_, i)| i.holds(entry)).map(|(r, _)| *r)
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
        let version = QueueVersion::of(&row, today);
        let index = match old {
            Some(index) => {
                let counter = match bring_up_to_date(&index, db, region, version, &row, refresh).await? {
                    Brought::Unchanged => None,
                    Brought::CaughtUp => Some(&self.catch_ups),
                    Brought::Rebuilt => Some(&self.rebuilds),
                };
                if let Some(c) = counter {
                    c.fetch_add(1, Ordering::Relaxed);
                }
                index
            }
            None => {
                self.rebuilds.fetch_add(1, Ordering::Relaxed);
                let state = IndexState { queue: build_queue(db, region, version, &row.settings).await?, places: load_places(db, region, row.places_version).await? };
                let index = Arc::new(RegionIndex { state: RwLock::new(state), checked: Mutex::new(Checked { commits, at: Instant::now() }) });
                self.regions.lock().map_err(|_| Problem::internal())?.insert(region, index.clone());
                index
            }
        };
        index.mark_checked(commits)?;
        Ok(index)
    }
}

/// What the events since the index's version touched.
#[derive(Default)]
struct CatchUp {
    /// Registrations the index holds that changed.
    changed: Vec<i64>,
    /// Children named by events whom the index does not hold: registered since, unless
    /// something is wrong.
    unknown_refs: HashSet<String>,
    /// Whether an event may have held or freed a place.
    places: bool,
}

/// Sorts out what `events` touched; `None` when the index cannot follow them.
fn catch_up_plan(queue: &Queue, events: &[QueueLogRow]) -> Option<CatchUp> {
    let mut changed = HashSet::new();
    let mut plan = CatchUp::default();
    for e in events {
        match &e.child_ref {
            Some(r) => match queue.by_ref.get(r) {
                Some(id) => {
                    changed.insert(*id);
                }
                None => {
                    plan.unknown_refs.insert(r.clone());
                }
            },
            // A round's own record: each of its referrals has an event naming the child.
            None if e.kind == "round" => {}
            None => return None,
        }
        plan.places |= !PLACE_NEUTRAL_EVENTS.contains(&e.kind.as_str());
    }
    plan.changed = changed.into_iter().collect();
    Some(plan)
}

/// What [`bring_up_to_date`] had to do.
enum Brought {
    Unchanged,
    CaughtUp,
    Rebuilt,
}

/// Brings an index up to `version`: nothing if nothing moved, the events' registrations if it
/// can follow them, a rebuild otherwise. Only the holder of the region's gate calls this, so
/// the state read at the start is still the index's when it is written.
async fn bring_up_to_date(
    index: &RegionIndex,
    db: &Db,
    region: i64,
    version: QueueVersion,
    row: &QueueVersionRow,
    refresh: Refresh,
) -> Result<Brought, Problem> {
    let (held, places_version, max_id) = {
        let state = index.read()?;
        (state.queue.version.clone(), state.places.version, state.queue.max_id)
    };
    if refresh == Refresh::Queue || !held.can_catch_up_to(&version) || version.seq - held.seq > MAX_CATCH_UP_EVENTS {
        return rebuild(index, db, region, version, row).await.map(|()| Brought::Rebuilt);
    }
    let events = if version.seq > held.seq { db.queue_log(region, held.seq, version.seq - held.seq).await? } else { Vec::new() };
    let plan = {
        let state = index.read()?;
        catch_up_plan(&state.queue, &events)
    };
    let Some(plan) = plan else {
        return rebuild(index, db, region, version, row).await.map(|()| Brought::Rebuilt);
    };
    let unchanged = events.is_empty() && places_version == row.places_version;
    let reloaded = if plan.changed.is_empty() && plan.unknown_refs.is_empty() {
        None
    } else {
        Some(db.position_entries_changed(region, version.today, max_id, &plan.changed).await?)
    };
    let places = if plan.places || places_version != row.places_version {
        Some(load_places(db, region, row.places_version).await?)
    } else {
        None
    };
    let followed = {
        let mut state = index.state.write().map_err(|_| Problem::internal())?;
        let reloaded_refs = reloaded.map(|rows| state.queue.replace_entries(rows)).unwrap_or_default();
        if let Some(p) = places {
            state.places = p;
        }
        state.queue.version = version.clone();
        plan.unknown_refs.is_subset(&reloaded_refs)
    };
    if !followed {
        // An event names a child the index cannot find: rebuild rather than guess.
        return rebuild(index, db, region, version, row).await.map(|()| Brought::Rebuilt);
    }
    Ok(if unchanged { Brought::Unchanged } else { Brought::CaughtUp })
}

async fn rebuild(index: &RegionIndex, db: &Db, region: i64, version: QueueVersion, row: &QueueVersionRow) -> Result<(), Problem> {
    let fresh = IndexState { queue: build_queue(db, region, version, &row.settings).await?, places: load_places(db, region, row.places_version).await? };
    *index.state.write().map_err(|_| Problem::internal())? = fresh;
    Ok(())
}

/// Reads the region's registrations and preferences.
async fn build_queue(db: &Db, region: i64, version: QueueVersion, settings: &QueueSettingsRow) -> Result<Queue, Problem> {
    let parsed = settings_of(settings)?;
    let rows = db.position_entries(region, version.today).await?;
    let mut queue = Queue {
        version,
        bands: parsed.bands,
        ranking: parsed.ranking,
        entries: HashMap::with_capacity(rows.len()),
        by_ref: HashMap::with_capacity(rows.len()),
        max_id: 0,
        buckets: HashMap::new(),
    };
    queue.replace_entries(rows);
    tracing::debug!(region, entries = queue.entries.len(), seq = queue.version.seq, "position index built");
    Ok(queue)
}

async fn load_places(db: &Db, region: i64, version: i64) -> Result<Places, Problem> {
    let groups = db
        .groups_with_holds(region)
        .await?
        .into_iter()
        .map(|g| ((g.organization_id, g.age_band.clone(), g.language.clone()), (g.id, g.free())))
        .collect();
    Ok(Places { version, groups })
}

impl Queue {
    /// Where an entry's keys go on `reference`: one per preferred kindergarten, for a waiting child.
    fn keys_of(&self, e: &Entry, reference: Date) -> Vec<(BucketKey, usize, [i128; 4])> {
        let Some(standing) = &e.standing else { return Vec::new() };
        let band = band_index(&self.bands, e.birth, reference);
        let class = usize::from(standing.priority.code());
        e.preferences
            .iter()
            .map(|k| {
                let key = rank_key(&self.ranking, &Standing { sibling_here: e.sibling == Some(*k), ..*standing });
                ((*k, band, e.language.clone()), class, key)
            })
            .collect()
    }

    /// The waiting children's keys with bands counted on `reference`, built on first use.
    fn build_buckets(&mut self, reference: Date) {
        if self.buckets.contains_key(&reference) {
            return;
        }
        let mut buckets = Buckets::new();
        for e in self.entries.values() {
            for (bucket, class, key) in self.keys_of(e, reference) {
                buckets.entry(bucket).or_default().by_class[class].push(key);
            }
        }
        for b in buckets.values_mut() {
            for keys in &mut b.by_class {
                keys.sort_unstable();
            }
        }
        self.buckets.insert(reference, buckets);
    }

    /// Puts reloaded registrations in place of what the index held of them, moving their keys
    /// in every bucket list built so far; returns their queue-log references.
    fn replace_entries(&mut self, rows: Vec<PositionEntryRow>) -> HashSet<String> {
        let references: Vec<Date> = self.buckets.keys().copied().collect();
        let mut refs = HashSet::with_capacity(rows.len());
        for row in rows {
            let id = row.id;
            let entry = Entry::of(row);
            if let Some(old) = self.entries.remove(&id) {
                for reference in &references {
                    for (bucket, class, key) in self.keys_of(&old, *reference) {
                        if let Some(keys) = self.buckets.get_mut(reference).and_then(|b| b.get_mut(&bucket)).map(|b| &mut b.by_class[class])
                            && let Ok(at) = keys.binary_search(&key)
                        {
                            keys.remove(at);
                        }
                    }
                }
                self.by_ref.remove(&old.log_ref);
            }
            for reference in &references {
                for (bucket, class, key) in self.keys_of(&entry, *reference) {
                    if let Some(buckets) = self.buckets.get_mut(reference) {
                        let keys = &mut buckets.entry(bucket).or_default().by_class[class];
                        let at = keys.partition_point(|k| *k < key);
                        keys.insert(at, key);
                    }
                }
            }
            refs.insert(entry.log_ref.clone());
            self.by_ref.insert(entry.log_ref.clone(), id);
            self.max_id = self.max_id.max(id);
            self.entries.insert(id, entry);
        }
        refs
    }
}

/// A registration found in a current index: what authorizes reading it, and its positions.
pub struct Located {
    index: Arc<RegionIndex>,
    region_id: i64,
    entry_id: i64,
    applicant_user_id: i64,
    status: String,
}

impl Located {
    fn new(index: Arc<RegionIndex>, region_id: i64, entry_id: i64) -> Result<Option<Located>, Problem> {
        let (applicant_user_id, status) = match index.read()?.queue.entries.get(&entry_id) {
            Some(e) => (e.applicant_user_id, e.status.clone()),
            None => return Ok(None),
        };
        Ok(Some(Located { index, region_id, entry_id, applicant_user_id, status }))
    }

    pub fn region_id(&self) -> i64 {
        self.region_id
    }

    pub fn applicant_user_id(&self) -> i64 {
        self.applicant_user_id
    }

    pub fn status(&self) -> &str {
        &self.status
    }

    /// Where the child stands at each preferred kindergarten: the same answer as
    /// [`crate::queue::positions`].
    pub fn positions(&self) -> Result<Vec<Position>, Problem> {
        let reference = {
            let state = self.index.read()?;
            let Some(e) = state.queue.entries.get(&self.entry_id) else { return Err(Problem::not_found()) };
            let reference = school_year_start(state.queue.version.today.max(e.desired_start));
            if e.standing.is_none() || state.queue.buckets.contains_key(&reference) {
                return positions_in(&state, e, reference);
            }
            reference
        };
        self.index.state.write().map_err(|_| Problem::internal())?.queue.build_buckets(reference);
        let state = self.index.read()?;
        let e = state.queue.entries.get(&self.entry_id).ok_or_else(Problem::not_found)?;
        positions_in(&state, e, reference)
    }
}

/// The positions of `e`; the buckets of `reference` are built if the child is waiting.
fn positions_in(state: &IndexState, e: &Entry, reference: Date) -> Result<Vec<Position>, Problem> {
    let queue = &state.queue;
    let my_band = band_index(&queue.bands, e.birth, reference);
    let band_name = my_band.map(|b| queue.bands[b].name().to_owned());
    let buckets = match e.standing {
        Some(_) => Some(queue.buckets.get(&reference).ok_or_else(Problem::internal)?),
        None => None,
    };
    let mut out = Vec::with_capacity(e.preferences.len());
    for (rank, k) in e.preferences.iter().enumerate() {
        let group = band_name.as_ref().and_then(|b| state.places.groups.get(&(*k, b.clone(), e.language.clone())));
        let ahead_by_class = match (&e.standing, buckets) {
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

/// Finds a registration in its region's current index; `None` when there is no such
/// registration. Asks the database nothing when the index is current; the first read of a
/// registration no index holds yet looks its region up (one query) and builds that region's index.
pub async fn locate(index: &PositionIndex, db: &Db, now: OffsetDateTime, entry_id: i64) -> Result<Option<Located>, Problem> {
    let today = local_today(now);
    if let Some(region) = index.region_holding(entry_id) {
        let current = index.region(db, region, today, Refresh::IfMoved).await?;
        if current.holds(entry_id) {
            return Located::new(current, region, entry_id);
        }
    }
    let Some(row) = db.queue_entry(entry_id).await? else { return Ok(None) };
    let mut current = index.region(db, row.region_id, today, Refresh::IfMoved).await?;
    if !current.holds(entry_id) {
        current = index.region(db, row.region_id, today, Refresh::Queue).await?;
    }
    Located::new(current, row.region_id, entry_id)
}

/// Where a child stands at each preferred kindergarten, from the region's index.
pub async fn positions(index: &PositionIndex, db: &Db, now: OffsetDateTime, entry: &EntryRow) -> Result<Vec<Position>, Problem> {
    locate(index, db, now, entry.id).await?.ok_or_else(Problem::not_found)?.positions()
}
