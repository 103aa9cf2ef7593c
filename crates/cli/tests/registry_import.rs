//! `kezek import registry …` on the real binary, on SQLite and PostgreSQL: the demo files import,
//! a file with bad rows is refused with every bad line named and leaves the database untouched.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use kezek_store::testing::TestDatabase;
use kezek_store::{DatabaseTarget, Db, RegistryCounts};

fn kezek(db: &DatabaseTarget) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kezek"));
    cmd.env_remove("DATABASE_URL").env_remove("KEZEK_DATA_DIR");
    match db {
        DatabaseTarget::SqliteFile(path) => {
            cmd.env(
                "KEZEK_DATA_DIR",
                path.parent()
                    .expect("the test database file is in a folder"),
            );
        }
        DatabaseTarget::Postgres(url) => {
            cmd.env("DATABASE_URL", url);
        }
    }
    cmd
}

fn import(db: &DatabaseTarget, kind: &str, file: &Path) -> Output {
    kezek(db)
        .args(["import", "registry", kind])
        .arg(file)
        .output()
        .expect("kezek runs")
}

fn demo_file(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../catalog/registries")
        .join(name)
}

async fn counts(target: &DatabaseTarget) -> RegistryCounts {
    let db = Db::connect(target).await.unwrap();
    let c = db.registry_counts().await.unwrap();
    db.close().await;
    c
}

async fn scenario(t: &TestDatabase) {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("persons.csv");
    std::fs::write(
        &bad,
        "iin,full_name,birth_date,death_date,parent_iins,representative_iins\n\
         930413401529,Ахметова Гүлнар,1993-04-13,,,\n\
         930413401520,Bad Check Digit,1993-04-13,,,\n\
         210903602018,Ахметова Айлин,2021-09-03,,930413401529,\n\
         220630502031,Иванов Тимур,30.06.2022,,,\n",
    )
    .unwrap();
    let out = import(&t.target, "person", &bad);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a file with bad rows is refused");
    assert!(
        stderr.contains("persons.csv:3: iin is not a valid IIN"),
        "{stderr}"
    );
    assert!(
        stderr.contains("persons.csv:5: birth_date \"30.06.2022\" is not a date"),
        "{stderr}"
    );
    assert!(
        stderr.contains("2 row(s) rejected; nothing was imported"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("930413401529"),
        "no raw IIN in the report: {stderr}"
    );
    // The command migrated the database, and imported nothing.
    assert_eq!(counts(&t.target).await, RegistryCounts::default());

    let out = import(&t.target, "person", &demo_file("persons.csv"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(
            "imported 10 record(s) and 8 parent or representative links into the person registry"
        ),
        "{stdout}"
    );
    for (kind, file) in [
        ("entity", "entities.csv"),
        ("notary", "powers_of_attorney.csv"),
    ] {
        let out = import(&t.target, kind, &demo_file(file));
        assert!(
            out.status.success(),
            "{kind}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(
        counts(&t.target).await,
        RegistryCounts {
            persons: 10,
            links: 8,
            entities: 7,
            powers_of_attorney: 4
        }
    );

    let out = import(&t.target, "notary", &dir.path().join("missing.csv"));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read"));
    let out = kezek(&t.target)
        .args(["import", "registry", "cadastre"])
        .arg(&bad)
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "an unknown registry is a usage error"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_registry_on_sqlite() {
    scenario(&TestDatabase::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_registry_on_postgres() {
    scenario(&TestDatabase::postgres().await).await;
}
