//! `internal-store seed-demo`: the documented JKL Holdings demo group (see README). Idempotent:
//! everything is keyed by its natural key (company code, tier code, email, sku), so a second run
//! adds nothing.

mod feedback;
mod shop;
mod trade;

use diesel::prelude::*;
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl};
use rust_decimal::Decimal;
use serde::Serialize;
use uuid::Uuid;

use crate::config::Settings;
use crate::db;
use crate::db::schema::{
    categories, companies, discount_tiers, employees, products, tier_category_discounts,
};
use crate::identity::password::{PasswordHasher, Secret};
use crate::ids::GroupId;

/// The password of every demo account.
pub const DEMO_PASSWORD: &str = "demo-password-2026";

#[derive(Debug, Serialize, Default)]
pub struct Seeded {
    /// What happened to the group: `created` (a new JKL group) or `existing` (the demo's rows
    /// were added to the JKL group already in the database, e.g. one `bootstrap` made; rows it
    /// already had, found by code, email or sku, were left as they were).
    pub group: &'static str,
    pub group_id: Uuid,
    pub companies: usize,
    pub tiers: usize,
    pub categories: usize,
    pub employees: usize,
    pub products: usize,
    pub fx_rates: usize,
    pub transfer_pricing_policies: usize,
    pub intercompany_orders: usize,
    pub employee_orders: usize,
    pub feedback: usize,
}

/// (email, full name, company code, employment type, client type, roles)
type Person = (
    String,
    String,
    &'static str,
    &'static str,
    &'static str,
    Vec<&'static str>,
);

struct CompanySeed {
    code: &'static str,
    name: &'static str,
    parent: Option<&'static str>,
    currency: &'static str,
    country: &'static str,
    rule: &'static str,
    gp: Option<i64>,
}

/// The group's root company, which the rest of the seed hangs from.
const ROOT_CODE: &str = "JKL";

const COMPANIES: &[CompanySeed] = &[
    CompanySeed {
        code: ROOT_CODE,
        name: "JKL Holdings",
        parent: None,
        currency: "USD",
        country: "US",
        rule: "none",
        gp: None,
    },
    CompanySeed {
        code: "ABC",
        name: "ABC Manufacturing",
        parent: Some("JKL"),
        currency: "USD",
        country: "US",
        rule: "us_irc_132",
        gp: Some(35),
    },
    CompanySeed {
        code: "XYZ",
        name: "XYZ Retail",
        parent: Some("JKL"),
        currency: "EUR",
        country: "DE",
        rule: "none",
        gp: None,
    },
];

/// (code, name, percent, allowance, eligible employment types)
const TIERS: &[(&str, &str, i64, i64, &[&str])] = &[
    (
        "operational",
        "Operational staff",
        15,
        1000,
        &["direct", "outsourced"],
    ),
    (
        "commercial",
        "Commercial staff",
        20,
        1500,
        &["direct", "outsourced"],
    ),
    ("executive", "Executives", 25, 3000, &["direct"]),
];

const CATEGORIES: &[(&str, &str)] = &[
    ("electronics", "Electronics"),
    ("home", "Home & kitchen"),
    ("apparel", "Apparel"),
    ("grocery", "Grocery"),
    ("services", "Services"),
];

/// (email, full name, company, employment, client type, roles)
type NamedSeed = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static [&'static str],
);

const NAMED: &[NamedSeed] = &[
    (
        "ada.admin@jkl.example",
        "Ada Admin",
        "JKL",
        "direct",
        "executive",
        &["employee", "admin"],
    ),
    (
        "fiona.finance@jkl.example",
        "Fiona Finance",
        "JKL",
        "direct",
        "operational",
        &["employee", "finance"],
    ),
    (
        "paul.purchaser@abc.example",
        "Paul Purchaser",
        "ABC",
        "direct",
        "commercial",
        &["employee", "purchaser"],
    ),
    (
        "petra.purchaser@xyz.example",
        "Petra Purchaser",
        "XYZ",
        "direct",
        "commercial",
        &["employee", "purchaser"],
    ),
    (
        "olga.outsourced@abc.example",
        "Olga Outsourced",
        "ABC",
        "outsourced",
        "executive",
        &["employee"],
    ),
    (
        "eric.executive@jkl.example",
        "Eric Executive",
        "JKL",
        "direct",
        "executive",
        &["employee"],
    ),
];

const FIRST_NAMES: &[&str] = &[
    "Alex", "Bea", "Carl", "Dana", "Emil", "Freya", "Gus", "Hana", "Ivan", "Jade", "Kai", "Lena",
    "Milo", "Nora", "Otto", "Pia", "Quinn", "Rosa", "Sven", "Tara", "Uma", "Vik", "Wendy", "Yusuf",
];

const ADJECTIVES: &[&str] = &[
    "Compact",
    "Classic",
    "Pro",
    "Eco",
    "Smart",
    "Deluxe",
    "Mini",
    "Ultra",
    "Essential",
    "Premium",
];

/// (category, seller, sku prefix, nouns, kind, purchase limit)
type LineSeed = (
    &'static str,
    &'static str,
    &'static str,
    &'static [&'static str],
    &'static str,
    Option<(i32, &'static str)>,
);

const LINES: &[LineSeed] = &[
    (
        "electronics",
        "ABC",
        "ABC-EL",
        &[
            "Headphones",
            "Speaker",
            "Charger",
            "Monitor",
            "Keyboard",
            "Webcam",
            "Router",
            "Tablet",
        ],
        "goods",
        Some((2, "year")),
    ),
    (
        "home",
        "ABC",
        "ABC-HM",
        &[
            "Kettle",
            "Blender",
            "Lamp",
            "Toaster",
            "Pan",
            "Knife set",
            "Vacuum",
        ],
        "goods",
        None,
    ),
    (
        "apparel",
        "XYZ",
        "XYZ-AP",
        &[
            "T-shirt", "Jacket", "Sneakers", "Scarf", "Jeans", "Cap", "Sweater",
        ],
        "goods",
        Some((5, "month")),
    ),
    (
        "grocery",
        "XYZ",
        "XYZ-GR",
        &["Coffee", "Tea", "Olive oil", "Chocolate", "Pasta", "Honey"],
        "goods",
        Some((10, "month")),
    ),
    (
        "services",
        "JKL",
        "JKL-SV",
        &["Gym pass", "Language course", "Car wash", "Travel booking"],
        "service",
        None,
    ),
];

fn percent(value: i64) -> Decimal {
    Decimal::from(value)
}

pub async fn run(settings: &Settings) -> anyhow::Result<Seeded> {
    let located = db::locate(settings.database_url.as_deref()).await?;
    db::migrate(&located.url).await?;
    let hash = PasswordHasher::new(1)
        .hash(&Secret::new(DEMO_PASSWORD))
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut conn = db::connect(&located.url).await?;
    let today = crate::clock::wall_time().date_naive();
    let seeded = conn
        .transaction::<_, crate::error::ApiError, _>(async move |conn| {
            let mut seeded = seed(conn, &hash).await?;
            let group: GroupId = companies::table
                .filter(companies::parent_id.is_null())
                .filter(companies::code.eq(ROOT_CODE))
                .select(companies::id)
                .first(conn)
                .await?;
            let traded = trade::seed(conn, group, today).await?;
            seeded.fx_rates = traded.fx_rates;
            seeded.transfer_pricing_policies = traded.policies;
            seeded.intercompany_orders = traded.intercompany_orders;
            seeded.feedback = feedback::seed(conn, group).await?;
            let (orders, rated) = shop::seed(conn, group, crate::clock::wall_time()).await?;
            seeded.employee_orders = orders;
            seeded.feedback += rated;
            Ok(seeded)
        })
        .await
        .map_err(|e| match e {
            crate::error::ApiError::Internal(cause) => cause,
            other => anyhow::anyhow!("{}", other.to_problem().detail),
        })?;
    // Fresh rows: give the planner statistics before anyone reads them.
    diesel::sql_query("ANALYZE").execute(&mut conn).await?;
    Ok(seeded)
}

/// The company `code` of `group`.
async fn company_id(conn: &mut AsyncPgConnection, group: GroupId, code: &str) -> QueryResult<Uuid> {
    companies::table
        .filter(companies::group_id.eq(group))
        .filter(companies::code.eq(code))
        .select(companies::id)
        .first(conn)
        .await
}

/// The demo group's root (`JKL`, as `bootstrap` may already have made it), created when
/// missing.
async fn demo_group(
    conn: &mut AsyncPgConnection,
    root: &CompanySeed,
) -> QueryResult<(Uuid, usize)> {
    let existing: Option<Uuid> = companies::table
        .filter(companies::parent_id.is_null())
        .filter(companies::code.eq(root.code))
        .select(companies::id)
        .first(conn)
        .await
        .optional()?;
    if let Some(id) = existing {
        return Ok((id, 0));
    }
    let id = crate::ids::fresh();
    diesel::insert_into(companies::table)
        .values((
            companies::id.eq(id),
            companies::code.eq(root.code),
            companies::name.eq(root.name),
            companies::group_id.eq(id),
            companies::currency.eq(root.currency),
            companies::country.eq(root.country),
            companies::benefit_tax_rule.eq(root.rule),
            companies::qualified_discount_gp_percent.eq(root.gp.map(percent)),
        ))
        .execute(conn)
        .await?;
    Ok((id, 1))
}

async fn seed(conn: &mut AsyncPgConnection, hash: &str) -> QueryResult<Seeded> {
    let mut seeded = Seeded::default();
    let Some((root, subsidiaries)) = COMPANIES.split_first() else {
        return Ok(seeded);
    };
    let (group, created) = demo_group(conn, root).await?;
    let group = GroupId::from(group);
    seeded.companies += created;
    seeded.group_id = group.uuid();
    seeded.group = if created > 0 { "created" } else { "existing" };
    seeded.companies += seed_companies(conn, group, root, subsidiaries).await?;
    (seeded.categories, seeded.tiers) = seed_categories_and_tiers(conn, group).await?;
    seeded.employees = seed_people(conn, group, hash).await?;
    seeded.products = seed_products(conn, group).await?;
    Ok(seeded)
}

/// The subsidiaries, under their parents; answers how many were new.
async fn seed_companies(
    conn: &mut AsyncPgConnection,
    group: GroupId,
    root: &CompanySeed,
    subsidiaries: &[CompanySeed],
) -> QueryResult<usize> {
    let mut created = 0;
    for company in subsidiaries {
        let parent = company_id(conn, group, company.parent.unwrap_or(root.code)).await?;
        created += diesel::insert_into(companies::table)
            .values((
                companies::code.eq(company.code),
                companies::name.eq(company.name),
                companies::parent_id.eq(parent),
                companies::group_id.eq(group),
                companies::currency.eq(company.currency),
                companies::country.eq(company.country),
                companies::benefit_tax_rule.eq(company.rule),
                companies::qualified_discount_gp_percent.eq(company.gp.map(percent)),
            ))
            .on_conflict((companies::group_id, companies::code))
            .do_nothing()
            .execute(conn)
            .await?;
    }
    Ok(created)
}

/// The categories and tiers (with the commercial tier's electronics rate); answers how many
/// of each were new.
async fn seed_categories_and_tiers(
    conn: &mut AsyncPgConnection,
    group: GroupId,
) -> QueryResult<(usize, usize)> {
    let (mut categories_created, mut tiers_created) = (0, 0);
    for (code, name) in CATEGORIES {
        categories_created += diesel::insert_into(categories::table)
            .values((
                categories::group_id.eq(group),
                categories::code.eq(code),
                categories::name.eq(name),
            ))
            .on_conflict((categories::group_id, categories::code))
            .do_nothing()
            .execute(conn)
            .await?;
    }
    for (code, name, discount, allowance, eligible) in TIERS {
        tiers_created += diesel::insert_into(discount_tiers::table)
            .values((
                discount_tiers::group_id.eq(group),
                discount_tiers::code.eq(code),
                discount_tiers::name.eq(name),
                discount_tiers::discount_percent.eq(percent(*discount)),
                discount_tiers::annual_allowance.eq(Some(Decimal::new(allowance * 100, 2))),
                discount_tiers::eligible_employment_types.eq(eligible
                    .iter()
                    .map(|e| Some((*e).to_owned()))
                    .collect::<Vec<_>>()),
            ))
            .on_conflict((discount_tiers::group_id, discount_tiers::code))
            .do_nothing()
            .execute(conn)
            .await?;
    }
    // Commercial staff get less on electronics.
    let commercial: Uuid = discount_tiers::table
        .filter(discount_tiers::group_id.eq(group))
        .filter(discount_tiers::code.eq("commercial"))
        .select(discount_tiers::id)
        .first(conn)
        .await?;
    let electronics: Uuid = categories::table
        .filter(categories::group_id.eq(group))
        .filter(categories::code.eq("electronics"))
        .select(categories::id)
        .first(conn)
        .await?;
    diesel::insert_into(tier_category_discounts::table)
        .values((
            tier_category_discounts::group_id.eq(group),
            tier_category_discounts::tier_id.eq(commercial),
            tier_category_discounts::category_id.eq(electronics),
            tier_category_discounts::discount_percent.eq(percent(10)),
        ))
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;

    Ok((categories_created, tiers_created))
}

/// The named employees and one per first name across the companies and client types;
/// answers how many were new.
async fn seed_people(
    conn: &mut AsyncPgConnection,
    group: GroupId,
    hash: &str,
) -> QueryResult<usize> {
    let mut created = 0;
    let tiers: Vec<(String, Uuid)> = discount_tiers::table
        .filter(discount_tiers::group_id.eq(group))
        .select((discount_tiers::code, discount_tiers::id))
        .load(conn)
        .await?;
    let tier_of = |client: &str| {
        tiers
            .iter()
            .find(|(code, _)| code == client)
            .map(|(_, id)| *id)
    };
    let mut people: Vec<Person> = NAMED
        .iter()
        .map(|(email, name, company, employment, client, roles)| {
            (
                (*email).to_owned(),
                (*name).to_owned(),
                *company,
                *employment,
                *client,
                roles.to_vec(),
            )
        })
        .collect();
    let companies = ["JKL", "ABC", "XYZ"].into_iter().cycle();
    let clients = ["operational", "commercial", "executive"]
        .into_iter()
        .cycle();
    for (n, ((first, company), client)) in
        FIRST_NAMES.iter().zip(companies).zip(clients).enumerate()
    {
        let employment = if n % 4 == 3 { "outsourced" } else { "direct" };
        let email = format!(
            "{}.{}@{}.example",
            first.to_lowercase(),
            client,
            company.to_lowercase()
        );
        people.push((
            email,
            format!("{first} {company}"),
            company,
            employment,
            client,
            vec!["employee"],
        ));
    }
    for (email, name, company, employment, client, roles) in &people {
        let company = company_id(conn, group, company).await?;
        created += diesel::insert_into(employees::table)
            .values((
                employees::group_id.eq(group),
                employees::email.eq(email),
                employees::full_name.eq(name),
                employees::company_id.eq(company),
                employees::employment_type.eq(employment),
                employees::client_type.eq(client),
                employees::tier_id.eq(tier_of(client)),
                employees::roles.eq(roles
                    .iter()
                    .map(|r| Some((*r).to_owned()))
                    .collect::<Vec<_>>()),
                employees::password_hash.eq(hash),
            ))
            .on_conflict_do_nothing()
            .execute(conn)
            .await?;
    }

    Ok(created)
}

/// Each line's products, priced and stocked by a fixed pattern; answers how many were new.
async fn seed_products(conn: &mut AsyncPgConnection, group: GroupId) -> QueryResult<usize> {
    let mut created = 0;
    for (category_code, seller_code, prefix, nouns, kind, limit) in LINES {
        let category: Uuid = categories::table
            .filter(categories::group_id.eq(group))
            .filter(categories::code.eq(category_code))
            .select(categories::id)
            .first(conn)
            .await?;
        let seller = company_id(conn, group, seller_code).await?;
        let mut rows = Vec::new();
        let mut index = 0_i64;
        for noun in *nouns {
            for adjective in ADJECTIVES {
                index += 1;
                let list = Decimal::new(499 + (index * 3_731) % 49_000, 2);
                let cost = (list * Decimal::new(55, 2)).round_dp(2);
                rows.push((
                    products::group_id.eq(group),
                    products::sku.eq(format!("{prefix}-{index:04}")),
                    products::name.eq(format!("{adjective} {noun}")),
                    products::description.eq(format!(
                        "{adjective} {} from the {category_code} range.",
                        noun.to_lowercase()
                    )),
                    products::category_id.eq(category),
                    products::seller_company_id.eq(seller),
                    products::kind.eq(*kind),
                    products::list_price.eq(list),
                    products::unit_cost.eq(cost),
                    products::stock_on_hand.eq(i32::try_from(20 + (index * 7) % 180).unwrap_or(20)),
                    products::employee_eligible.eq(index % 17 != 0),
                    products::active.eq(index % 23 != 0),
                    products::purchase_limit_quantity.eq(limit.map(|(q, _)| q)),
                    products::purchase_limit_period.eq(limit.map(|(_, p)| p)),
                ));
            }
        }
        created += diesel::insert_into(products::table)
            .values(&rows)
            .on_conflict((products::group_id, products::sku))
            .do_nothing()
            .execute(conn)
            .await?;
    }
    Ok(created)
}
