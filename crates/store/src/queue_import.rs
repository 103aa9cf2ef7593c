//! Bringing a region's existing queue in: reads what the region holds, has the domain check
//! every row ([`kezek_domain::queue_import`]), and writes the accepted rows in one audited
//! transaction that also appends one `imported` event to the region's queue log.
//!
//! Rows are written in multi-row statements (a few hundred rows each) so that a city of
//! 100,000 children loads in seconds on both engines.

use std::collections::{HashMap, HashSet};

use kezek_domain::access::{OrganizationKind, UserId};
use kezek_domain::allocation::SourceFile;
use kezek_domain::queue_import::{
    self as rules, ClassMapping, FileError, Plan, RegionState, Rejection, Source, entry_salt, files_digest,
};
use time::OffsetDateTime;

use crate::{AuditRecord, Db, NewOrganization, StoreError, WriteTx, conflict_as, db_time, on_pool, on_tx};

/// Code of the out-of-turn category created for instance-format imports when the region has
/// none: the instance format knows only class numbers, and a class-2 child needs a category.
pub const IMPORTED_OUT_OF_TURN: &str = "imported-out-of-turn";

/// Opening hours given to a kindergarten the import creates; its head corrects them in kezek.
const KINDERGARTEN_HOURS: &str = "08:00-19:00";

/// Most bound values in one statement: below SQLite's limit of 32,766 and PostgreSQL's 65,535.
const MAX_BINDS: usize = 30_000;

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(transparent)]
    File(#[from] FileError),
    #[error("region {0} has no queue settings: set the queue up before importing into it")]
    NoQueueSettings(i64),
    #[error("priority category {0:?} is not a first-priority (class 1) category of the region")]
    FirstPriorityCategory(String),
    #[error("region's bands {0:?} cannot be read")]
    Bands(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The input files: for [`Source::Csv`] kindergartens, groups, children; for
/// [`Source::Instance`] meta, kindergartens, groups, children.
pub struct ImportRequest<'a> {
    pub region_id: i64,
    pub source: Source,
    pub files: Vec<SourceFile<'a>>,
    /// Instance format: the category class-1 children get.
    pub first_priority_category: &'a str,
    /// Write the valid rows even if some were rejected.
    pub skip_invalid: bool,
    /// Check only; write nothing.
    pub dry_run: bool,
    /// Drawn at random by the caller for each import; the entries' log salts derive from it.
    pub salt_secret: [u8; 32],
    pub actor: Option<UserId>,
    pub now: OffsetDateTime,
}

/// What an import found and did.
#[derive(Debug, Clone)]
pub struct ImportReport {
    pub rows_read: usize,
    pub new_kindergartens: usize,
    pub groups: usize,
    pub children: usize,
    pub claims: usize,
    /// Applicant accounts created (without a password).
    pub new_applicants: usize,
    pub rejected: Vec<Rejection>,
    /// SHA-256 of each file, and of all together.
    pub file_digests: Vec<(String, String)>,
    pub digest: String,
    /// `Some` once written: the import's id.
    pub import_id: Option<i64>,
    /// The out-of-turn category created for this import, if one was.
    pub created_category: Option<String>,
    pub placeholder_identities: bool,
}

impl Db {
    /// What an import into `region` must know: bands, categories, and what was imported or
    /// registered before.
    pub async fn queue_import_state(&self, region: i64) -> Result<RegionState, ImportError> {
        let settings = self.queue_settings(region).await?.ok_or(ImportError::NoQueueSettings(region))?;
        let bands = settings.bands.split(',').map(|b| b.trim().to_owned()).collect::<Vec<_>>();
        if bands.iter().any(String::is_empty) {
            return Err(ImportError::Bands(settings.bands));
        }
        let categories = self
            .priority_categories(region)
            .await?
            .into_iter()
            .map(|c| (c.code, c.class as u8))
            .collect();
        let kindergartens: Vec<String> = on_pool!(self, p => sqlx::query_scalar(
            "SELECT external_id FROM imported_kindergartens WHERE region_id = $1").bind(region).fetch_all(p).await)
            .map_err(StoreError::from)?;
        let groups: Vec<(String, String, String)> = on_pool!(self, p => sqlx::query_as(
            "SELECT k.external_id, g.age_band, g.language FROM imported_kindergartens k \
             JOIN kindergarten_groups g ON g.organization_id = k.organization_id WHERE k.region_id = $1")
            .bind(region).fetch_all(p).await).map_err(StoreError::from)?;
        let numbers: Vec<i64> = on_pool!(self, p => sqlx::query_scalar(
            "SELECT registration_no FROM queue_entries WHERE region_id = $1").bind(region).fetch_all(p).await)
            .map_err(StoreError::from)?;
        let iins: Vec<String> = on_pool!(self, p => sqlx::query_scalar(
            "SELECT child_iin FROM queue_entries WHERE region_id = $1 AND status IN ('waiting', 'referred')")
            .bind(region).fetch_all(p).await).map_err(StoreError::from)?;
        let children: Vec<String> = on_pool!(self, p => sqlx::query_scalar(
            "SELECT external_id FROM imported_entries WHERE region_id = $1").bind(region).fetch_all(p).await)
            .map_err(StoreError::from)?;
        Ok(RegionState {
            bands,
            max_preferences: usize::try_from(settings.max_preferences).unwrap_or(5),
            categories,
            kindergartens: kindergartens.into_iter().collect(),
            groups: groups.into_iter().collect(),
            registration_nos: numbers.into_iter().collect(),
            active_child_iins: iins.into_iter().collect(),
            children: children.into_iter().collect(),
        })
    }

    /// Organization ids of the kindergartens imported into `region`, by external id.
    pub async fn imported_kindergartens(&self, region: i64) -> Result<HashMap<String, i64>, StoreError> {
        let rows: Vec<(String, i64)> = on_pool!(self, p => sqlx::query_as(
            "SELECT external_id, organization_id FROM imported_kindergartens WHERE region_id = $1")
            .bind(region).fetch_all(p).await)?;
        Ok(rows.into_iter().collect())
    }

    /// Queue entry ids of the children imported into `region`, by external id.
    pub async fn imported_entries(&self, region: i64) -> Result<HashMap<String, i64>, StoreError> {
        let rows: Vec<(String, i64)> = on_pool!(self, p => sqlx::query_as(
            "SELECT external_id, entry_id FROM imported_entries WHERE region_id = $1")
            .bind(region).fetch_all(p).await)?;
        Ok(rows.into_iter().collect())
    }
}

/// Checks the files against the region and, unless told not to or a row was rejected (without
/// `skip_invalid`), writes every accepted row in one transaction.
pub async fn import_queue(db: &Db, req: &ImportRequest<'_>) -> Result<ImportReport, ImportError> {
    let mut state = db.queue_import_state(req.region_id).await?;
    let categories = db.priority_categories(req.region_id).await?;
    let mut out_of_turn_to_create = None;
    let plan = match req.source {
        Source::Csv => {
            let [k, g, c] = req.files[..] else {
                return Err(FileError { file: "(csv)".into(), problem: "three files expected".into() }.into());
            };
            rules::plan_csv(k, g, c, &state, req.now)?
        }
        Source::Instance => {
            let [m, k, g, c] = req.files[..] else {
                return Err(FileError { file: "(instance)".into(), problem: "four files expected".into() }.into());
            };
            if !categories.iter().any(|c| c.code == req.first_priority_category && c.class == 1) {
                return Err(ImportError::FirstPriorityCategory(req.first_priority_category.to_owned()));
            }
            // The region's first out-of-turn category, or one created for the import.
            let out_of_turn = match categories.iter().find(|c| c.class == 2) {
                Some(c) => c.code.clone(),
                None => {
                    state.categories.insert(IMPORTED_OUT_OF_TURN.to_owned(), 2);
                    out_of_turn_to_create = Some(IMPORTED_OUT_OF_TURN.to_owned());
                    IMPORTED_OUT_OF_TURN.to_owned()
                }
            };
            let classes = ClassMapping { first: req.first_priority_category.to_owned(), out_of_turn };
            rules::plan_instance(m, k, g, c, &state, &classes, req.now)?
        }
    };
    if let Some(code) = &out_of_turn_to_create
        && !plan.children.iter().any(|c| c.claim.as_ref().is_some_and(|cl| &cl.category == code))
    {
        out_of_turn_to_create = None;
    }
    let (file_digests, digest) = files_digest(&req.files);
    let mut report = ImportReport {
        rows_read: plan.rows_read,
        new_kindergartens: plan.new_kindergartens.len(),
        groups: plan.groups.len(),
        children: plan.children.len(),
        claims: plan.children.iter().filter(|c| c.claim.is_some()).count(),
        new_applicants: 0,
        rejected: plan.rejected.clone(),
        file_digests,
        digest,
        import_id: None,
        created_category: out_of_turn_to_create.clone(),
        placeholder_identities: req.source == Source::Instance,
    };
    let refused = !plan.rejected.is_empty() && !req.skip_invalid;
    let empty = plan.new_kindergartens.is_empty() && plan.groups.is_empty() && plan.children.is_empty();
    if refused || req.dry_run || empty {
        return Ok(report);
    }
    let mut tx = db.begin_write(req.actor, req.now).await?;
    let written = tx.write_import(req, &plan, &categories, out_of_turn_to_create.as_deref(), &report).await?;
    tx.commit().await?;
    report.import_id = Some(written.import_id);
    report.new_applicants = written.new_applicants;
    Ok(report)
}

struct Written {
    import_id: i64,
    new_applicants: usize,
}

/// How bound values are written in a generated statement. SQLite finds a named parameter
/// (`$1` is a name to it) by a linear search, on preparing and again on binding, so a statement
/// with thousands of them costs quadratic time; anonymous `?` cost nothing. PostgreSQL needs `$n`.
#[derive(Clone, Copy)]
enum Params {
    Numbered,
    Anonymous,
}

impl Params {
    /// The `i`-th (1-based) bound value.
    fn at(self, i: usize) -> String {
        match self {
            Params::Numbered => format!("${i}"),
            Params::Anonymous => "?".to_owned(),
        }
    }
}

/// `(p1, p2, ...), (...)` for `rows` rows of `cols` values; `literal` places fixed SQL text
/// (e.g. `'import'`) before the value of the given column index, numbering only bound values.
fn values(params: Params, cols: usize, rows: usize, literals: &[(usize, &str)]) -> String {
    let mut s = String::with_capacity(rows * (cols + literals.len()) * 6);
    for r in 0..rows {
        if r > 0 {
            s.push_str(", ");
        }
        s.push('(');
        let mut first = true;
        for c in 0..=cols {
            for (_, lit) in literals.iter().filter(|(at, _)| *at == c) {
                if !first {
                    s.push_str(", ");
                }
                s.push_str(lit);
                first = false;
            }
            if c == cols {
                break;
            }
            if !first {
                s.push_str(", ");
            }
            s.push_str(&params.at(r * cols + c + 1));
            first = false;
        }
        s.push(')');
    }
    s
}

impl WriteTx {
    async fn write_import(
        &mut self,
        req: &ImportRequest<'_>,
        plan: &Plan,
        categories: &[crate::queue::CategoryRow],
        create_category: Option<&str>,
        report: &ImportReport,
    ) -> Result<Written, StoreError> {
        let region = req.region_id;
        let now = self.now();
        let params = match self.tx {
            crate::Tx::Sqlite(_) => Params::Anonymous,
            crate::Tx::Postgres(_) => Params::Numbered,
        };
        let by = self.actor().map(|u| u.0);

        let mut category_ids: HashMap<&str, i64> = categories.iter().map(|c| (c.code.as_str(), c.id)).collect();
        if let Some(code) = create_category {
            let id = self
                .insert_priority_category(
                    region,
                    code,
                    2,
                    [
                        "Кезектен тыс құқық (импортталған)",
                        "Внеочередное право (импортировано)",
                        "Out-of-turn right (imported)",
                    ],
                    "Recorded by the region's previous queue; re-check on the next claim review",
                    "imported out-of-turn",
                )
                .await?;
            category_ids.insert(code, id);
        }

        let import_id: i64 = on_tx!(&mut self.tx, c => sqlx::query_scalar(
            "INSERT INTO queue_imports (region_id, source, digest, imported_at, imported_by, kindergartens, groups_count, \
             children, rejected, placeholder_identities) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id")
            .bind(region).bind(req.source.as_str()).bind(&report.digest).bind(now).bind(by)
            .bind(plan.new_kindergartens.len() as i64).bind(plan.groups.len() as i64).bind(plan.children.len() as i64)
            .bind(plan.rejected.len() as i64).bind(report.placeholder_identities)
            .fetch_one(c).await)?;

        // Kindergartens: few (one per ~100 children), so one statement each.
        let mut org_of: HashMap<String, i64> = on_tx!(&mut self.tx, c => sqlx::query_as::<_, (String, i64)>(
            "SELECT external_id, organization_id FROM imported_kindergartens WHERE region_id = $1")
            .bind(region).fetch_all(c).await)?.into_iter().collect();
        for k in &plan.new_kindergartens {
            let bin = k.bin.map(|b| b.as_string());
            let id = self
                .insert_organization(&NewOrganization {
                    region_id: region,
                    district_id: None,
                    kind: OrganizationKind::Kindergarten,
                    bin: bin.as_deref(),
                    names: [&k.names[0], &k.names[1], &k.names[2]],
                    address: &k.address,
                    office_hours: KINDERGARTEN_HOURS,
                    office_breaks: "",
                })
                .await?;
            on_tx!(&mut self.tx, c => sqlx::query(
                "INSERT INTO imported_kindergartens (region_id, external_id, organization_id, import_id) VALUES ($1, $2, $3, $4)")
                .bind(region).bind(&k.external_id).bind(id).bind(import_id).execute(c).await.map(|r| r.rows_affected()))
                .map_err(conflict_as("imported kindergarten with this id"))?;
            org_of.insert(k.external_id.clone(), id);
        }
        let org = |ext: &str| {
            org_of.get(ext).copied().ok_or_else(|| StoreError::Corrupt(format!("kindergarten {ext} vanished during the import")))
        };

        for chunk in plan.groups.chunks(MAX_BINDS / 5) {
            let rows = chunk
                .iter()
                .map(|g| Ok((org(&g.kindergarten)?, g)))
                .collect::<Result<Vec<_>, StoreError>>()?;
            let sql = format!(
                "INSERT INTO kindergarten_groups (organization_id, age_band, language, capacity, enrolled) VALUES {}",
                values(params, 5, rows.len(), &[])
            );
            on_tx!(&mut self.tx, c => {
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                for (o, g) in &rows {
                    q = q.bind(*o).bind(&g.band).bind(g.language.code()).bind(i64::from(g.capacity)).bind(i64::from(g.enrolled));
                }
                q.execute(c).await.map(|r| r.rows_affected())
            })
            .map_err(conflict_as("group of this age band and language"))?;
        }

        // Applicants: an account each, found by IIN or created without a password (the parent
        // sets one through the ordinary sign-in recovery).
        let mut applicants: Vec<(String, &str, &'static str)> = Vec::new();
        let mut seen = HashSet::new();
        for c in &plan.children {
            let iin = c.identity.applicant_iin.as_string();
            if seen.insert(iin.clone()) {
                applicants.push((iin, &c.identity.applicant_name, if c.language.code() == "kk" { "kk" } else { "ru" }));
            }
        }
        let mut user_of: HashMap<String, i64> = HashMap::with_capacity(applicants.len());
        for chunk in applicants.chunks(MAX_BINDS / 4) {
            let sql = format!("SELECT iin, id FROM users WHERE iin IN ({})", (1..=chunk.len()).map(|i| params.at(i)).collect::<Vec<_>>().join(", "));
            let found: Vec<(String, i64)> = on_tx!(&mut self.tx, c => {
                let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql));
                for (iin, _, _) in chunk {
                    q = q.bind(iin);
                }
                q.fetch_all(c).await
            })?;
            user_of.extend(found);
        }
        let missing: Vec<&(String, &str, &str)> = applicants.iter().filter(|a| !user_of.contains_key(&a.0)).collect();
        for chunk in missing.chunks(MAX_BINDS / 4) {
            let sql = format!(
                "INSERT INTO users (iin, full_name, password_hash, language, created_at) VALUES {} RETURNING iin, id",
                // password_hash is NULL in every row: written as a literal, not bound.
                values(params, 4, chunk.len(), &[(2, "NULL")])
            );
            let created: Vec<(String, i64)> = on_tx!(&mut self.tx, c => {
                let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql));
                for (iin, name, lang) in chunk {
                    q = q.bind(iin).bind(*name).bind(*lang).bind(now);
                }
                q.fetch_all(c).await
            })
            .map_err(conflict_as("account with this IIN"))?;
            let ids: Vec<i64> = created.iter().map(|(_, id)| *id).collect();
            user_of.extend(created);
            let sql = format!(
                "INSERT INTO memberships (user_id, organization_id, role) VALUES {}",
                values(params, 1, ids.len(), &[(1, "NULL"), (1, "'citizen'")])
            );
            on_tx!(&mut self.tx, c => {
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                for id in &ids {
                    q = q.bind(*id);
                }
                q.execute(c).await.map(|r| r.rows_affected())
            })?;
        }

        // Entries, keyed back by their registration number (unique in the region).
        let mut entry_of: HashMap<i64, i64> = HashMap::with_capacity(plan.children.len());
        for chunk in plan.children.chunks(MAX_BINDS / 14) {
            let mut rows = Vec::with_capacity(chunk.len());
            for ch in chunk {
                let user = *user_of
                    .get(&ch.identity.applicant_iin.as_string())
                    .ok_or_else(|| StoreError::Corrupt("an applicant account vanished during the import".into()))?;
                let sibling = ch.sibling.as_deref().map(org).transpose()?;
                rows.push((ch, user, sibling, entry_salt(&req.salt_secret, ch.registration_no)));
            }
            let sql = format!(
                "INSERT INTO queue_entries (region_id, registration_no, registered_at, child_iin, child_birth_date, child_name, \
                 applicant_user_id, applicant_relation, language, desired_start, channel, accepted_by, sibling_kindergarten_id, \
                 status, log_salt) VALUES {} RETURNING registration_no, id",
                // channel and status as literals before the 11th and the 13th bound value.
                values(params, 13, chunk.len(), &[(10, "'import'"), (12, "'waiting'")])
            );
            let ids: Vec<(i64, i64)> = on_tx!(&mut self.tx, c => {
                let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql));
                for (ch, user, sibling, salt) in &rows {
                    q = q.bind(region).bind(ch.registration_no).bind(db_time(ch.registered_at)).bind(ch.identity.child_iin.as_string())
                        .bind(ch.birth_date).bind(&ch.identity.child_name).bind(*user).bind(ch.identity.relation.as_str())
                        .bind(ch.language.code()).bind(ch.desired_start).bind(by).bind(*sibling).bind(salt);
                }
                q.fetch_all(c).await
            })
            .map_err(conflict_as("registration (number or active child) in the region"))?;
            entry_of.extend(ids);
        }
        let entry = |no: i64| entry_of.get(&no).copied().ok_or_else(|| StoreError::Corrupt(format!("entry {no} vanished during the import")));
        if let Some(max) = plan.children.iter().map(|c| c.registration_no).max() {
            // New registrations continue after the highest imported number.
            on_tx!(&mut self.tx, c => sqlx::query(
                "UPDATE queue_settings SET next_registration_no = CASE WHEN next_registration_no > $2 THEN next_registration_no ELSE $2 + 1 END WHERE region_id = $1")
                .bind(region).bind(max).execute(c).await.map(|r| r.rows_affected()))?;
        }

        let mut prefs: Vec<(i64, i64, i64)> = Vec::with_capacity(plan.children.len() * 4);
        for ch in &plan.children {
            let e = entry(ch.registration_no)?;
            for (i, k) in ch.preferences.iter().enumerate() {
                prefs.push((e, i as i64 + 1, org(k)?));
            }
        }
        for chunk in prefs.chunks(MAX_BINDS / 3) {
            let sql = format!("INSERT INTO queue_preferences (entry_id, rank, kindergarten_id) VALUES {}", values(params, 3, chunk.len(), &[]));
            on_tx!(&mut self.tx, c => {
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                for (e, r, k) in chunk {
                    q = q.bind(*e).bind(*r).bind(*k);
                }
                q.execute(c).await.map(|r| r.rows_affected())
            })?;
        }

        let mut claims = Vec::new();
        for ch in &plan.children {
            if let Some(cl) = &ch.claim {
                let cat = *category_ids
                    .get(cl.category.as_str())
                    .ok_or_else(|| StoreError::Corrupt(format!("category {} vanished during the import", cl.category)))?;
                claims.push((entry(ch.registration_no)?, cat, cl));
            }
        }
        for chunk in claims.chunks(MAX_BINDS / 7) {
            let sql = format!(
                "INSERT INTO priority_claims (entry_id, category_id, status, evidence_kind, evidence_ref, submitted_at, decided_by, \
                 decided_at, expires_on) VALUES {}",
                values(params, 7, chunk.len(), &[(2, "'confirmed'"), (2, "'document'")])
            );
            on_tx!(&mut self.tx, c => {
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                for (e, cat, cl) in chunk {
                    q = q.bind(*e).bind(*cat).bind(&cl.evidence_ref).bind(now).bind(by).bind(now).bind(cl.expires_on);
                }
                q.execute(c).await.map(|r| r.rows_affected())
            })?;
        }

        let marks = plan
            .children
            .iter()
            .map(|ch| Ok((ch.external_id.as_str(), entry(ch.registration_no)?, ch.identity.placeholder)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        for chunk in marks.chunks(MAX_BINDS / 5) {
            let sql = format!(
                "INSERT INTO imported_entries (region_id, external_id, entry_id, import_id, placeholder_identity) VALUES {}",
                values(params, 5, chunk.len(), &[])
            );
            on_tx!(&mut self.tx, c => {
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                for (ext, e, placeholder) in chunk {
                    q = q.bind(region).bind(*ext).bind(*e).bind(import_id).bind(*placeholder);
                }
                q.execute(c).await.map(|r| r.rows_affected())
            })
            .map_err(conflict_as("imported child with this id"))?;
        }

        let files: Vec<serde_json::Value> = report
            .file_digests
            .iter()
            .map(|(name, sha)| serde_json::json!({ "name": name, "sha256": sha }))
            .collect();
        let details = serde_json::json!({
            "import": import_id,
            "source": req.source.as_str(),
            "sha256": report.digest,
            "files": files,
            "kindergartens": plan.new_kindergartens.len(),
            "groups": plan.groups.len(),
            "children": plan.children.len(),
            "claims": claims.len(),
            "rejected": plan.rejected.len(),
            "placeholder_identities": report.placeholder_identities,
        });
        self.append_queue_event(region, "imported", None, &details).await?;
        let new_applicants = missing.len();
        let mut audit = details;
        audit["region"] = region.into();
        audit["new_applicants"] = new_applicants.into();
        self.audit(AuditRecord {
            action: "queue.imported",
            object_type: "queue_import",
            object_id: import_id.to_string(),
            organization_id: None,
            details: audit,
        })
        .await?;
        Ok(Written { import_id, new_applicants })
    }
}
