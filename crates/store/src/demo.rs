//! Demo data loaded on the first start of an empty database: Almaty city with its education
//! department, a State Corporation office, an oversight body and twenty kindergartens, plus a
//! small Astana so that the separation of regions can be seen.

use kezek_domain::access::{OrganizationKind, Role};
use kezek_domain::identity::{Iin, Sex, bin_for, iin_for};
use time::{Date, Month};

use crate::{Db, NewOrganization, NewUser, Result, WriteTx};

/// One demo login to print at start-up.
#[derive(Clone, Debug)]
pub struct DemoLogin {
    pub role: Role,
    pub organization: String,
    pub iin: String,
}

pub const DEMO_PASSWORD: &str = "kezek-demo";

const ALMATY_DISTRICTS: [[&str; 3]; 5] = [
    ["Алмалы ауданы", "Алмалинский район", "Almaly district"],
    ["Әуезов ауданы", "Ауэзовский район", "Auezov district"],
    ["Бостандық ауданы", "Бостандыкский район", "Bostandyk district"],
    ["Медеу ауданы", "Медеуский район", "Medeu district"],
    ["Жетісу ауданы", "Жетысуский район", "Zhetysu district"],
];

/// The age bands of the default allocation rules (age in full years on 1 September).
pub const AGE_BANDS: [&str; 5] = ["1-2", "2-3", "3-4", "4-5", "5-6"];

/// Whether the database holds no region yet (a first start).
pub async fn is_empty(db: &Db) -> Result<bool> {
    Ok(db.regions().await?.is_empty())
}

/// Loads the demo data in one audited transaction. `password_hash` is the argon2 hash of
/// [`DEMO_PASSWORD`]; every demo account shares it, since the password is published anyway.
pub async fn load(db: &Db, now: time::OffsetDateTime, password_hash: &str) -> Result<Vec<DemoLogin>> {
    let mut tx = db.begin_write(None, now).await?;
    let mut people = People { tx: &mut tx, password_hash, logins: Vec::new(), next_serial: 100 };

    let almaty = people.tx.insert_region("almaty-city", ["Алматы қаласы", "город Алматы", "Almaty city"]).await?;
    let mut districts = Vec::new();
    for names in ALMATY_DISTRICTS {
        districts.push(people.tx.insert_district(almaty, names).await?);
    }
    let provider = people.org(almaty, Some(districts[0]), OrganizationKind::Provider, [
        "Алматы қаласының Білім басқармасы",
        "Управление образования города Алматы",
        "Education Department of Almaty city",
    ], "ул. Шевченко, 85", "09:00-18:00", "13:00-14:00").await?;
    let con = people.org(almaty, Some(districts[0]), OrganizationKind::StateCorporation, [
        "«Азаматтарға арналған үкімет» МК Алмалы бөлімі",
        "Алмалинский отдел ГК «Правительство для граждан»",
        "Government for Citizens, Almaly office",
    ], "пр. Абылай хана, 60", "09:00-20:00", "").await?;
    let oversight = people.org(almaty, None, OrganizationKind::Oversight, [
        "Алматы қаласы бойынша білім саласындағы сапаны қамтамасыз ету департаменті",
        "Департамент по обеспечению качества в сфере образования города Алматы",
        "Department for Quality Assurance in Education, Almaty city",
    ], "ул. Жамбыла, 14", "09:00-18:00", "13:00-14:00").await?;

    let p = "Education Department of Almaty city";
    people.person(Role::RegionalAdmin, Some(provider), p, "Сейітқали Айгерім", 1985).await?;
    people.person(Role::Head, Some(provider), p, "Жұмабеков Ерлан", 1975).await?;
    people.person(Role::Clerk, Some(provider), p, "Омарова Динара", 1990).await?;
    people.person(Role::Specialist, Some(provider), p, "Ким Наталья", 1988).await?;
    people.person(Role::Specialist, Some(provider), p, "Нұрланұлы Асхат", 1992).await?;
    let c = "Government for Citizens, Almaly office";
    people.person(Role::Operator, Some(con), c, "Абенова Сәуле", 1994).await?;
    people.person(Role::Operator, Some(con), c, "Петров Игорь", 1991).await?;
    people.person(Role::Auditor, Some(oversight), "Department for Quality Assurance", "Тұрсынов Марат", 1980).await?;

    for i in 0..20usize {
        let district = districts[i % districts.len()];
        let n = i + 1;
        let names = [
            format!("№{n} «Балапан» бөбекжайы"),
            format!("Ясли-сад №{n} «Балапан»"),
            format!("Kindergarten No. {n} \"Balapan\""),
        ];
        let k = people.org(almaty, Some(district), OrganizationKind::Kindergarten,
            [&names[0], &names[1], &names[2]], &format!("мкр. Самал-{}, {}", i % 3 + 1, 10 + i),
            "08:00-19:00", "").await?;
        // Half Kazakh only, a fifth Russian only, the rest both (as in the city's real mix).
        let languages: &[&str] = match i % 10 { 0..=4 => &["kk"], 5 | 6 => &["ru"], _ => &["kk", "ru"] };
        for (b, band) in AGE_BANDS.iter().enumerate() {
            for (l, language) in languages.iter().enumerate() {
                let capacity = 20 + ((i + b * 3 + l) % 3) as i64 * 5;
                let enrolled = capacity - ((i + b + l) % 4) as i64;
                people.tx.insert_group(k, band, language, capacity, enrolled).await?;
            }
        }
        people.person(Role::KindergartenHead, Some(k), &names[2], &format!("Меңгеруші {n}"), 1970 + (i % 20) as i32).await?;
    }

    for (name, year) in [("Ахметова Гүлнар", 1993), ("Иванова Мария", 1990), ("Серікбаев Данияр", 1987)] {
        people.person(Role::Citizen, None, "", name, year).await?;
    }

    let astana = people.tx.insert_region("astana", ["Астана қаласы", "город Астана", "Astana city"]).await?;
    let astana_provider = people.org(astana, None, OrganizationKind::Provider, [
        "Астана қаласының Білім басқармасы", "Управление образования города Астаны", "Education Department of Astana",
    ], "пр. Республики, 60", "09:00-18:00", "13:00-14:00").await?;
    let astana_k = people.org(astana, None, OrganizationKind::Kindergarten, [
        "№1 «Ақбота» бөбекжайы", "Ясли-сад №1 «Акбота»", "Kindergarten No. 1 \"Akbota\"",
    ], "ул. Кенесары, 40", "08:00-19:00", "").await?;
    for band in AGE_BANDS {
        people.tx.insert_group(astana_k, band, "kk", 25, 20).await?;
    }
    people.person(Role::RegionalAdmin, Some(astana_provider), "Education Department of Astana", "Қасымова Әсел", 1984).await?;
    people.person(Role::KindergartenHead, Some(astana_k), "Kindergarten No. 1 \"Akbota\" (Astana)", "Меңгеруші Астана", 1979).await?;

    // 003 App. 3: a referral lapses after five days (kezek counts working days so that a holiday
    // does not eat the term); 004 App. 10: one month in Astana.
    people.tx.insert_queue_settings(almaty, 5, "working_days").await?;
    people.tx.insert_queue_settings(astana, 1, "months").await?;
    for region in [almaty, astana] {
        seed_priority_categories(people.tx, region).await?;
    }

    let logins = people.logins;
    tx.audit(crate::AuditRecord {
        action: "demo.loaded",
        object_type: "database",
        object_id: "demo".into(),
        organization_id: None,
        details: serde_json::json!({ "regions": 2, "kindergartens": 21, "accounts": logins.len() }),
    })
    .await?;
    tx.commit().await?;
    Ok(logins)
}

/// The default priority categories (catalog/queue/priority-categories.toml) for a region.
pub async fn seed_priority_categories(tx: &mut WriteTx, region: i64) -> Result<()> {
    let defs = kezek_domain::queue::parse_categories(include_str!("../../../catalog/queue/priority-categories.toml"))
        .map_err(crate::StoreError::Corrupt)?;
    for c in defs {
        let id = tx
            .insert_priority_category(region, &c.code, i64::from(c.class), [&c.name.kk, &c.name.ru, &c.name.en], &c.evidence, &c.clause)
            .await?;
        if c.expires {
            tx.set_category_expires(id).await?;
        }
    }
    Ok(())
}

struct People<'t> {
    tx: &'t mut WriteTx,
    password_hash: &'t str,
    logins: Vec<DemoLogin>,
    next_serial: u16,
}

impl People<'_> {
    #[allow(clippy::too_many_arguments)]
    async fn org(&mut self, region: i64, district: Option<i64>, kind: OrganizationKind, names: [&str; 3],
                 address: &str, hours: &str, breaks: &str) -> Result<i64> {
        let bin = loop {
            self.next_serial += 1;
            if let Some(b) = bin_for(2005, 3, u32::from(self.next_serial)) {
                break b;
            }
        };
        self.tx.insert_organization(&NewOrganization {
            region_id: region, district_id: district, kind, bin: Some(&bin.as_string()), names,
            address, office_hours: hours, office_breaks: breaks,
        }).await
    }

    async fn person(&mut self, role: Role, organization: Option<i64>, org_label: &str, name: &str, year: i32) -> Result<()> {
        let iin = self.fresh_iin(year);
        let id = self.tx.insert_user(&NewUser { iin: &iin, full_name: name, password_hash: Some(self.password_hash), language: "ru" }).await?;
        self.tx.insert_membership(id, organization, role).await?;
        self.logins.push(DemoLogin { role, organization: org_label.to_owned(), iin: iin.as_string() });
        Ok(())
    }

    fn fresh_iin(&mut self, year: i32) -> Iin {
        loop {
            self.next_serial += 1;
            let birth = Date::from_calendar_date(year, Month::April, 1 + (self.next_serial % 28) as u8)
                .expect("days 1..=28 exist in April");
            let sex = if self.next_serial.is_multiple_of(2) { Sex::Female } else { Sex::Male };
            if let Some(iin) = iin_for(birth, sex, self.next_serial) {
                return iin;
            }
        }
    }
}
