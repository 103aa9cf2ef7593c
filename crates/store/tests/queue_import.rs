//! Bringing an existing queue in, on SQLite and on PostgreSQL: a generated instance keeps each
//! child's registration time and number, class and preferences; a file with bad rows writes
//! nothing and names each row; importing the same data again is refused row by row.

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use kezek_domain::allocation::SourceFile;
use kezek_domain::identity::{Iin, Sex, iin_for};
use kezek_domain::queue_import::Source;
use kezek_store::queue_import::{IMPORTED_OUT_OF_TURN, ImportReport, ImportRequest, import_queue};
use kezek_store::testing::TestDatabase;
use kezek_store::{AuditRecord, Db, NewUser, demo};
use time::macros::{date, datetime};
use time::{Date, OffsetDateTime};

macro_rules! on_both_engines {
    ($($scenario:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $scenario() {
                let t = kezek_store::testing::TestDatabase::sqlite();
                super::$scenario(&t).await;
            })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $scenario() {
                let t = kezek_store::testing::TestDatabase::postgres().await;
                super::$scenario(&t).await;
            })*
        }
    };
}

on_both_engines!(
    a_generated_instance_keeps_numbers_times_classes_and_preferences,
    a_file_with_bad_rows_imports_nothing_and_names_each_row,
    skip_invalid_writes_the_valid_rows_and_still_names_the_others,
    importing_the_same_instance_again_is_refused_row_by_row,
    csv_import_keeps_identities_and_gives_applicants_accounts_without_password,
    a_dry_run_checks_everything_and_writes_nothing,
);

const NOW: OffsetDateTime = datetime!(2026-11-25 12:00:00 UTC);

/// A region with queue settings and the shipped categories (none of them out-of-turn).
async fn region(db: &Db) -> i64 {
    let mut tx = db.begin_write(None, NOW).await.unwrap();
    let id = tx.insert_region("test-city", ["Сынақ", "Тест", "Test city"]).await.unwrap();
    tx.insert_queue_settings(id, 5, "working_days").await.unwrap();
    demo::seed_priority_categories(&mut tx, id).await.unwrap();
    tx.audit(AuditRecord { action: "region.created", object_type: "region", object_id: id.to_string(), organization_id: None, details: serde_json::json!({}) })
        .await
        .unwrap();
    tx.commit().await.unwrap();
    id
}

struct Files {
    names: Vec<&'static str>,
    bytes: Vec<Vec<u8>>,
}

impl Files {
    fn instance(dir: &Path) -> Files {
        let names = vec!["meta.json", "kindergartens.csv", "groups.csv", "children.csv"];
        let bytes = names.iter().map(|n| std::fs::read(dir.join(n)).unwrap()).collect();
        Files { names, bytes }
    }

    fn csv(kindergartens: &str, groups: &str, children: &str) -> Files {
        Files {
            names: vec!["kindergartens.csv", "groups.csv", "children.csv"],
            bytes: vec![kindergartens.into(), groups.into(), children.into()],
        }
    }

    fn text(&self, name: &str) -> String {
        let i = self.names.iter().position(|n| *n == name).unwrap();
        String::from_utf8(self.bytes[i].clone()).unwrap()
    }
}

/// A directory removed when dropped.
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn generate(children: u32, seed: u32) -> (TempDir, Files) {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let dir = TempDir(std::env::temp_dir().join(format!(
        "kezek-import-{}-{}",
        std::process::id(),
        N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    )));
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/bench/gen_instance.py");
    let status = Command::new("python3")
        .arg(script)
        .args(["--children", &children.to_string(), "--seed", &seed.to_string(), "--out"])
        .arg(dir.path())
        .stdout(std::process::Stdio::null())
        .status()
        .expect("python3 runs");
    assert!(status.success(), "gen_instance.py failed: it needs python3 with numpy installed");
    let files = Files::instance(dir.path());
    (dir, files)
}

async fn import(db: &Db, region: i64, source: Source, files: &Files, flags: (bool, bool)) -> ImportReport {
    let request = ImportRequest {
        region_id: region,
        source,
        files: files.names.iter().zip(&files.bytes).map(|(n, b)| SourceFile { name: n, bytes: b }).collect(),
        first_priority_category: "large-family",
        skip_invalid: flags.0,
        dry_run: flags.1,
        salt_secret: [7; 32],
        actor: None,
        now: NOW,
    };
    import_queue(db, &request).await.unwrap()
}

const WRITE: (bool, bool) = (false, false);

fn lines(report: &ImportReport) -> Vec<String> {
    report.rejected.iter().map(|r| r.to_string()).collect()
}

async fn a_generated_instance_keeps_numbers_times_classes_and_preferences(t: &TestDatabase) {
    let db = t.open().await;
    let region = region(&db).await;
    let (_dir, files) = generate(200, 11);
    let report = import(&db, region, Source::Instance, &files, WRITE).await;
    assert_eq!(lines(&report), Vec::<String>::new());
    assert!(report.import_id.is_some());

    let entries = db.imported_entries(region).await.unwrap();
    let kindergartens = db.imported_kindergartens(region).await.unwrap();
    assert_eq!(entries.len(), 200);
    assert_eq!(kindergartens.len(), files.text("kindergartens.csv").lines().count() - 1);
    let groups = db.groups_with_holds(region).await.unwrap();
    assert_eq!(groups.len(), files.text("groups.csv").lines().count() - 1);
    let free: i64 = groups.iter().map(|g| g.free()).sum();
    let file_free: i64 = files.text("groups.csv").lines().skip(1).map(|l| l.rsplit(',').next().unwrap().parse::<i64>().unwrap()).sum();
    assert_eq!(free, file_free, "free places become capacity with nobody enrolled");

    let waiting: HashMap<i64, _> = db.waiting_children(region, date!(2026 - 11 - 25)).await.unwrap().into_iter().map(|w| (w.id, w)).collect();
    assert_eq!(waiting.len(), 200);
    let mut out_of_turn = 0;
    for line in files.text("children.csv").lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let entry = db.queue_entry(entries[f[0]]).await.unwrap().unwrap();
        assert_eq!(entry.registration_no.to_string(), f[4], "child {} keeps its number", f[0]);
        let at = OffsetDateTime::parse(f[3], &time::format_description::well_known::Rfc3339).unwrap();
        assert_eq!(entry.registered_at, at, "child {} keeps its registration time", f[0]);
        assert_eq!(entry.child_birth_date.to_string(), f[1]);
        assert_eq!(entry.language, f[2]);
        assert_eq!(entry.channel, "import");
        assert_eq!(Iin::parse(&entry.child_iin).unwrap().birth_date(), entry.child_birth_date);
        assert!(entry.child_name.contains("no identity"));
        assert_eq!(waiting[&entry.id].priority.to_string(), f[5], "child {} keeps its class", f[0]);
        out_of_turn += usize::from(f[5] == "2");
        let prefs: Vec<String> = db.preferences(entry.id).await.unwrap().iter().map(|k| {
            kindergartens.iter().find(|(_, o)| *o == k).unwrap().0.clone()
        }).collect();
        assert_eq!(prefs.join(";"), f[7]);
        let sibling = entry.sibling_kindergarten_id.map(|k| kindergartens.iter().find(|(_, o)| **o == k).unwrap().0.clone());
        assert_eq!(sibling.unwrap_or_default(), f[6]);
        let applicant = db.user(kezek_domain::access::UserId(entry.applicant_user_id)).await.unwrap().unwrap();
        assert!(applicant.password_hash.is_none());
        assert!(Iin::parse(&applicant.iin).unwrap().birth_date().year() < 1900, "a placeholder applicant is no living person");
    }
    let categories = db.priority_categories(region).await.unwrap();
    assert_eq!(categories.iter().any(|c| c.code == IMPORTED_OUT_OF_TURN && c.class == 2), out_of_turn > 0);

    // One `imported` event carrying the files' digest; the audit chain holds.
    let log = db.queue_log(region, 0, 10).await.unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].kind, "imported");
    let payload: serde_json::Value = serde_json::from_str(&log[0].payload).unwrap();
    assert_eq!(payload["sha256"], report.digest.as_str());
    assert_eq!(payload["children"], 200);
    assert!(db.verify_audit_chain().await.unwrap().is_ok());

    // New registrations continue after the highest imported number.
    let max_no = files.text("children.csv").lines().skip(1).map(|l| l.split(',').nth(4).unwrap().parse::<i64>().unwrap()).max().unwrap();
    let mut tx = db.begin_write(None, NOW).await.unwrap();
    let iin = iin_for(date!(2024 - 03 - 03), Sex::Male, 42).or_else(|| iin_for(date!(2024 - 03 - 03), Sex::Male, 43)).unwrap();
    let user = db.user(kezek_domain::access::UserId(db.queue_entry(entries["1"]).await.unwrap().unwrap().applicant_user_id)).await.unwrap().unwrap();
    let (_, number) = tx
        .insert_queue_entry(&kezek_store::queue::NewEntry {
            region_id: region,
            child_iin: &iin.as_string(),
            child_birth_date: date!(2024 - 03 - 03),
            child_name: "New",
            applicant_user_id: user.id,
            applicant_relation: "mother",
            language: "kk",
            desired_start: date!(2027 - 09 - 01),
            channel: "portal",
            accepted_by: None,
            sibling_kindergarten_id: None,
            log_salt: "s",
            original: None,
        })
        .await
        .unwrap();
    assert_eq!(number, max_no + 1);
}

fn iin(birth: Date, serial: u16) -> String {
    (serial..).find_map(|s| iin_for(birth, Sex::Female, s)).unwrap().as_string()
}

const KG: &str = "kindergarten_id,bin,name_kk,name_ru,name_en,address\n\
K1,,№1 бөбекжай,Ясли-сад №1,,\"ул. Абая, 10\"\n\
K2,,№2 бөбекжай,Ясли-сад №2,Kindergarten 2,\n";
const GROUPS: &str = "kindergarten_id,band,language,capacity,enrolled\nK1,3-4,kk,25,20\nK2,3-4,ru,20,20\n";
const HEADER: &str = "child_id,registration_no,registered_at,child_iin,birth_date,child_name,applicant_iin,applicant_name,relation,language,desired_start,category,evidence,category_expires_on,sibling_kindergarten_id,preferences";

fn child(id: &str, no: i64, serial: u16, applicant: &str, extra: &str) -> String {
    let birth = date!(2022 - 04 - 10);
    format!("{id},{no},2023-01-15T09:00:00Z,{},{birth},Child {id},{applicant},Parent of {id},mother,kk,2026-09-01,{extra}", iin(birth, serial))
}

async fn a_file_with_bad_rows_imports_nothing_and_names_each_row(t: &TestDatabase) {
    let db = t.open().await;
    let region = region(&db).await;
    let parent = iin(date!(1990 - 01 - 01), 1);
    let children = [
        HEADER.to_owned(),
        child("C1", 10, 100, &parent, ",,,,K1;K2"),
        child("C2", 10, 200, &parent, ",,,,K1"),                // number of line 2 again
        child("C3", 12, 300, &parent, ",,,,K9"),                // unknown kindergarten
        child("C4", 13, 400, &parent, "orphan,,,,K1"),          // category without evidence
        child("C5", 14, 500, &parent, "no-such,doc 1,,,K2"),    // unknown category
        "C6,15,2023-01-15T09:00:00Z,123456789012,2022-04-10,X,1,Y,mother,kk,2026-09-01,,,,,K1".to_owned(),
        child("C7", 16, 600, &parent, ",,,,K1;K1"),             // listed twice
        "C8,17,yesterday".to_owned(),
    ]
    .join("\n");
    let groups = format!("{GROUPS}K3,3-4,kk,10,0\nK1,9-10,kk,10,0\nK1,4-5,kk,5,6\n");
    let files = Files::csv(KG, &groups, &children);
    let report = import(&db, region, Source::Csv, &files, WRITE).await;
    assert_eq!(
        lines(&report),
        [
            "groups.csv:4: kindergarten K3 is neither in the file nor imported before",
            "groups.csv:5: band \"9-10\" is not one of the region's bands (1-2, 2-3, 3-4, 4-5, 5-6)",
            "groups.csv:6: enrolled 6 is more than the capacity 5",
            "children.csv:3: registration_no 10 is already on line 2",
            "children.csv:4: kindergarten K9 is neither in the file nor imported before",
            "children.csv:5: evidence is empty",
            "children.csv:6: category \"no-such\" is not a priority category of the region",
            "children.csv:7: child_iin: the seventh digit must be 1-6 (century and sex)",
            "children.csv:8: kindergarten K1 is listed twice in the preferences",
            "children.csv:9: 3 fields, expected 16",
        ]
        .map(str::to_owned)
    );
    assert_eq!(report.import_id, None);
    assert!(db.entries_of_region(region).await.unwrap().is_empty());
    assert!(db.imported_kindergartens(region).await.unwrap().is_empty());
    assert!(db.organizations_of_region(region).await.unwrap().is_empty());
    assert_eq!(db.queue_log_head(region).await.unwrap().0, 0);
}

async fn skip_invalid_writes_the_valid_rows_and_still_names_the_others(t: &TestDatabase) {
    let db = t.open().await;
    let region = region(&db).await;
    let parent = iin(date!(1990 - 01 - 01), 1);
    let children = [HEADER.to_owned(), child("C1", 10, 100, &parent, ",,,,K1"), child("C2", 11, 200, &parent, ",,,,K7")].join("\n");
    let report = import(&db, region, Source::Csv, &Files::csv(KG, GROUPS, &children), (true, false)).await;
    assert_eq!(lines(&report), ["children.csv:3: kindergarten K7 is neither in the file nor imported before"]);
    assert!(report.import_id.is_some());
    let entries = db.imported_entries(region).await.unwrap();
    assert_eq!(entries.keys().collect::<Vec<_>>(), ["C1"]);
    let payload: serde_json::Value = serde_json::from_str(&db.queue_log(region, 0, 1).await.unwrap()[0].payload).unwrap();
    assert_eq!(payload["rejected"], 1);
}

async fn importing_the_same_instance_again_is_refused_row_by_row(t: &TestDatabase) {
    let db = t.open().await;
    let region = region(&db).await;
    let (_dir, files) = generate(60, 5);
    let first = import(&db, region, Source::Instance, &files, WRITE).await;
    assert!(first.import_id.is_some());
    let second = import(&db, region, Source::Instance, &files, WRITE).await;
    assert_eq!(second.import_id, None);
    let rejected = lines(&second);
    let groups = files.text("groups.csv").lines().count() - 1;
    assert_eq!(rejected.len(), groups + 60, "every group and every child is named");
    assert!(rejected.iter().any(|l| l.starts_with("groups.csv:2: kindergarten 1 already has")));
    assert!(rejected.contains(&"children.csv:2: child 1 was imported before".to_owned()));
    assert_eq!(db.entries_of_region(region).await.unwrap().len(), 60);
    assert_eq!(db.queue_log_head(region).await.unwrap().0, 1);
}

async fn csv_import_keeps_identities_and_gives_applicants_accounts_without_password(t: &TestDatabase) {
    let db = t.open().await;
    let region = region(&db).await;
    // One applicant already has an account (with a password); the other has none.
    let known = iin(date!(1988 - 02 - 02), 1);
    let mut tx = db.begin_write(None, NOW).await.unwrap();
    let known_id = tx
        .insert_user(&NewUser { iin: &Iin::parse(&known).unwrap(), full_name: "Known", password_hash: Some("$argon2id$x"), language: "kk" })
        .await
        .unwrap();
    tx.audit(AuditRecord { action: "user.registered", object_type: "user", object_id: known_id.to_string(), organization_id: None, details: serde_json::json!({}) })
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let new = iin(date!(1991 - 03 - 03), 1);
    let children = [
        HEADER.to_owned(),
        child("C1", 501, 100, &known, "orphan,Decision 12/2024,2027-12-31,K2,K1;K2"),
        child("C2", 502, 200, &new, ",,,,K2"),
        child("C3", 503, 300, &new, ",,,,K1"),
    ]
    .join("\n");
    let report = import(&db, region, Source::Csv, &Files::csv(KG, GROUPS, &children), WRITE).await;
    assert_eq!(lines(&report), Vec::<String>::new());
    assert_eq!((report.new_kindergartens, report.groups, report.children, report.claims, report.new_applicants), (2, 2, 3, 1, 1));
    let entries = db.imported_entries(region).await.unwrap();
    let c1 = db.queue_entry(entries["C1"]).await.unwrap().unwrap();
    assert_eq!((c1.registration_no, c1.applicant_user_id, c1.child_name.as_str()), (501, known_id, "Child C1"));
    assert_eq!(c1.registered_at, datetime!(2023-01-15 09:00:00 UTC));
    assert_eq!(c1.child_iin, iin(date!(2022 - 04 - 10), 100));
    let orgs = db.imported_kindergartens(region).await.unwrap();
    assert_eq!(c1.sibling_kindergarten_id, Some(orgs["K2"]));
    let claims = db.claims(c1.id).await.unwrap();
    assert_eq!(claims.len(), 1);
    assert_eq!((claims[0].status.as_str(), claims[0].expires_on), ("confirmed", Some(date!(2027 - 12 - 31))));
    assert_eq!(claims[0].evidence_ref, "Decision 12/2024");
    let k1 = db.organization(orgs["K1"]).await.unwrap().unwrap();
    assert_eq!((k1.kind.as_str(), k1.name_en.as_str(), k1.address.as_str()), ("kindergarten", "Ясли-сад №1", "ул. Абая, 10"));
    let applicant = db.user_by_iin(&Iin::parse(&new).unwrap()).await.unwrap().unwrap();
    assert!(applicant.password_hash.is_none());
    assert_eq!(db.entries_of_applicant(applicant.id).await.unwrap().len(), 2);
    // A child registered again in the same region is refused.
    let again = [HEADER.to_owned(), child("C9", 600, 100, &new, ",,,,K1")].join("\n");
    let empty_kg = "kindergarten_id,bin,name_kk,name_ru,name_en,address\n";
    let empty_groups = "kindergarten_id,band,language,capacity,enrolled\n";
    let report = import(&db, region, Source::Csv, &Files::csv(empty_kg, empty_groups, &again), WRITE).await;
    assert_eq!(lines(&report), ["children.csv:2: the child already has an active registration in the region"]);
}

async fn a_dry_run_checks_everything_and_writes_nothing(t: &TestDatabase) {
    let db = t.open().await;
    let region = region(&db).await;
    let (_dir, files) = generate(40, 3);
    let report = import(&db, region, Source::Instance, &files, (false, true)).await;
    assert_eq!((report.children, report.import_id), (40, None));
    assert!(db.entries_of_region(region).await.unwrap().is_empty());
    assert_eq!(db.verify_audit_chain().await.unwrap(), Ok(1));
}
