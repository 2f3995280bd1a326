//! The table catalog: the seven Entra ID and Azure log tables that kqlflow knows, and the four
//! enrichment tables that detection rules join them with (IdentityInfo, DeviceInfo,
//! ThreatIntelIndicators, BehaviorAnalytics), built into the binary from the schema files; and
//! the mapping from Azure Monitor diagnostic records (`time`, `category`, `properties{…}`) onto
//! their columns.

mod diagnostic;

pub use diagnostic::{DiagnosticMapping, is_diagnostic_record, table_for_category, table_for_path};

use serde::Deserialize;
use std::sync::{Arc, OnceLock, RwLock};

use crate::model::{Column, Schema, Str, Type};

/// The schema files built into the binary: (table name, JSON text). The seven log tables come
/// first (their positions are their ids); the enrichment tables follow.
const SCHEMA_FILES: [(&str, &str); 11] = [
    ("SigninLogs", include_str!("schemas/SigninLogs.json")),
    (
        "AADNonInteractiveUserSignInLogs",
        include_str!("schemas/AADNonInteractiveUserSignInLogs.json"),
    ),
    (
        "AADServicePrincipalSignInLogs",
        include_str!("schemas/AADServicePrincipalSignInLogs.json"),
    ),
    (
        "AADManagedIdentitySignInLogs",
        include_str!("schemas/AADManagedIdentitySignInLogs.json"),
    ),
    ("AuditLogs", include_str!("schemas/AuditLogs.json")),
    (
        "AADProvisioningLogs",
        include_str!("schemas/AADProvisioningLogs.json"),
    ),
    ("AzureActivity", include_str!("schemas/AzureActivity.json")),
    ("IdentityInfo", include_str!("schemas/IdentityInfo.json")),
    ("DeviceInfo", include_str!("schemas/DeviceInfo.json")),
    (
        "ThreatIntelIndicators",
        include_str!("schemas/ThreatIntelIndicators.json"),
    ),
    (
        "BehaviorAnalytics",
        include_str!("schemas/BehaviorAnalytics.json"),
    ),
];

/// A table: its name, schema and where its event time comes from.
#[derive(Clone, Debug)]
pub struct Table {
    /// The table's name as KQL writes it (`SigninLogs`).
    pub name: Str,
    /// Its columns.
    pub schema: Schema,
    /// The position of `TimeGenerated` in the schema.
    pub time_column: usize,
    /// Columns to take the event time from when a record has no `TimeGenerated` (e.g.
    /// `CreatedDateTime` for sign-ins), in order of preference.
    pub time_fallbacks: Vec<usize>,
}

/// The process's catalog once a custom table was added to it (see
/// [`Catalog::add_custom_table`]); `None` until then.
static EXTENDED: RwLock<Option<&'static Catalog>> = RwLock::new(None);

/// The set of known tables.
#[derive(Clone, Debug)]
pub struct Catalog {
    tables: Vec<Arc<Table>>,
}

#[derive(Deserialize)]
struct SchemaFile {
    #[serde(rename = "Name")]
    name: String,
    #[serde(rename = "Properties")]
    properties: Vec<SchemaProperty>,
}

#[derive(Deserialize)]
struct SchemaProperty {
    #[serde(rename = "Name")]
    name: String,
    #[serde(rename = "Type")]
    ty: String,
}

/// An error in a schema file: which table and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaError(pub String);

impl std::fmt::Display for SchemaError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SchemaError {}

/// The columns every Log Analytics table has, added to a schema that lacks them: `Type` (the
/// table's name), `TenantId`, `SourceSystem`, `_ResourceId`, `_SubscriptionId`, `_ItemId`,
/// `_BilledSize`, `_IsBillable`, and `TimeGenerated`.
pub const STANDARD_COLUMNS: [(&str, Type); 9] = [
    ("TimeGenerated", Type::DateTime),
    ("Type", Type::String),
    ("TenantId", Type::String),
    ("SourceSystem", Type::String),
    ("_ResourceId", Type::String),
    ("_SubscriptionId", Type::String),
    ("_ItemId", Type::String),
    ("_BilledSize", Type::Real),
    ("_IsBillable", Type::String),
];

/// Builds a table from a schema file's JSON text (`{"Name": …, "Properties": [{"Name", "Type"}]}`).
/// The [`STANDARD_COLUMNS`] are added when the file lacks them, since every Log Analytics table
/// has them.
pub fn table_from_schema_json(text: &str) -> Result<Table, SchemaError> {
    let file: SchemaFile =
        serde_json::from_str(text).map_err(|e| SchemaError(format!("schema file: {e}")))?;
    let mut columns = Vec::with_capacity(file.properties.len() + STANDARD_COLUMNS.len());
    for p in &file.properties {
        let ty = Type::parse(&p.ty).ok_or_else(|| {
            SchemaError(format!(
                "table {}: column {} has unknown type {:?}",
                file.name, p.name, p.ty
            ))
        })?;
        columns.push(Column {
            name: Str::from(p.name.as_str()),
            ty,
        });
    }
    table_from_columns(&file.name, columns)
}

/// Builds a table from its name and columns, adding the [`STANDARD_COLUMNS`] it lacks and
/// finding its event-time columns.
pub fn table_from_columns(name: &str, mut columns: Vec<Column>) -> Result<Table, SchemaError> {
    for (col, ty) in STANDARD_COLUMNS {
        if !columns.iter().any(|c| c.name.as_ref() == col) {
            columns.push(Column {
                name: Str::from(col),
                ty,
            });
        }
    }
    let schema = Schema::new(columns);
    let time_column = schema
        .index_of("TimeGenerated")
        .ok_or_else(|| SchemaError(format!("table {name}: no TimeGenerated")))?;
    if schema.columns()[time_column].ty != Type::DateTime {
        return Err(SchemaError(format!(
            "table {name}: TimeGenerated is not a datetime"
        )));
    }
    let time_fallbacks = [
        "CreatedDateTime",
        "ActivityDateTime",
        "EventSubmissionTimestamp",
    ]
    .iter()
    .filter_map(|n| schema.index_of(n))
    .filter(|&i| schema.columns()[i].ty == Type::DateTime)
    .collect();
    Ok(Table {
        name: Str::from(name),
        schema,
        time_column,
        time_fallbacks,
    })
}

/// The Sentinel tables kqlflow knows beyond its own schemas, in the compact form of
/// `sentinel_tables.txt`: one table a line, `Table column:type column:type …`, `#` comments.
/// Generated by `tools/gen_sentinel_tables.py` from the Azure/Azure-Sentinel repository's KQL
/// validation tables (MIT licence).
const SENTINEL_TABLES: &str = include_str!("sentinel_tables.txt");

/// Reads tables in the compact form of `sentinel_tables.txt`.
pub fn tables_from_compact(text: &str) -> Result<Vec<Table>, SchemaError> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut words = line.split_ascii_whitespace();
        let Some(name) = words.next() else { continue };
        let mut columns: Vec<Column> = Vec::new();
        for w in words {
            let (col, ty) = w
                .split_once(':')
                .ok_or_else(|| SchemaError(format!("line {}: {w:?} is not column:type", n + 1)))?;
            let ty = Type::parse(ty).ok_or_else(|| {
                SchemaError(format!(
                    "line {}: table {name}: column {col} has unknown type {ty:?}",
                    n + 1
                ))
            })?;
            if !columns.iter().any(|c| c.name.as_ref() == col) {
                columns.push(Column {
                    name: Str::from(col),
                    ty,
                });
            }
        }
        out.push(table_from_columns(name, columns)?);
    }
    Ok(out)
}

impl Catalog {
    /// The built-in tables: the seven log tables SigninLogs, AADNonInteractiveUserSignInLogs,
    /// AADServicePrincipalSignInLogs, AADManagedIdentitySignInLogs, AuditLogs,
    /// AADProvisioningLogs and AzureActivity (ids 0 to 6), then the enrichment tables
    /// IdentityInfo, DeviceInfo, ThreatIntelIndicators and BehaviorAnalytics, then the Sentinel
    /// tables of `sentinel_tables.txt` (SecurityEvent, OfficeActivity, CommonSecurityLog, …) in
    /// name order.
    ///
    /// Custom (`_CL`) tables added by [`Catalog::add_custom_table`] (their columns taken from
    /// the logs a run reads) follow, in the order added.
    pub fn builtin() -> &'static Catalog {
        if let Ok(extended) = EXTENDED.read()
            && let Some(c) = *extended
        {
            return c;
        }
        Catalog::base()
    }

    /// The built-in tables without any added custom table.
    fn base() -> &'static Catalog {
        static CATALOG: OnceLock<Catalog> = OnceLock::new();
        CATALOG.get_or_init(|| {
            let mut tables: Vec<Arc<Table>> = SCHEMA_FILES
                .iter()
                .filter_map(|(_, text)| table_from_schema_json(text).ok())
                .map(Arc::new)
                .collect();
            // The generated file cannot fail to load (a unit test reads it): were it to, only
            // the own schemas above would be known.
            for t in tables_from_compact(SENTINEL_TABLES).unwrap_or_default() {
                if !tables.iter().any(|k| k.name == t.name) {
                    tables.push(Arc::new(t));
                }
            }
            Catalog { tables }
        })
    }

    /// Adds a custom (`_CL`) table to the process's catalog (what [`Catalog::builtin`] returns
    /// from then on), at the end, so that the ids of the tables already known do not change;
    /// the table as the catalog now holds it. A table of that name added before keeps its
    /// columns, positions and types, and gains the columns of `table` it lacks at its end (so a
    /// plan bound against it earlier stays valid). A built-in table is never changed: adding
    /// one returns it as it is.
    pub fn add_custom_table(table: Table) -> Arc<Table> {
        let Ok(mut extended) = EXTENDED.write() else {
            // A panic while the lock was held: the table is still usable, only not added.
            return Arc::new(table);
        };
        let current: &'static Catalog = match *extended {
            Some(c) => c,
            None => Catalog::base(),
        };
        let mut tables = current.tables.clone();
        let added = match current.id_of(&table.name) {
            Some(id) => {
                let old = &tables[id];
                let missing: Vec<Column> = table
                    .schema
                    .columns()
                    .iter()
                    .filter(|c| old.schema.index_of(&c.name).is_none())
                    .cloned()
                    .collect();
                if missing.is_empty() || Catalog::base().id_of(&table.name).is_some() {
                    return old.clone();
                }
                let mut columns = old.schema.columns().to_vec();
                columns.extend(missing);
                let merged = Arc::new(Table {
                    name: old.name.clone(),
                    schema: Schema::new(columns),
                    time_column: old.time_column,
                    time_fallbacks: old.time_fallbacks.clone(),
                });
                tables[id] = merged.clone();
                merged
            }
            None => {
                let t = Arc::new(table);
                tables.push(t.clone());
                t
            }
        };
        // Each addition leaks one catalog (a list of shared pointers): catalogs are handed out
        // as `&'static`, and a process adds a handful of custom tables at most.
        *extended = Some(Box::leak(Box::new(Catalog { tables })));
        added
    }

    /// True when `name` is one of the built-in tables (not a custom table added by
    /// [`Catalog::add_custom_table`]).
    pub fn is_base_table(name: &str) -> bool {
        Catalog::base().id_of(name).is_some()
    }

    /// A catalog of the given tables.
    pub fn new(tables: Vec<Table>) -> Catalog {
        Catalog {
            tables: tables.into_iter().map(Arc::new).collect(),
        }
    }

    /// The tables, in a fixed order; a table's position is its id.
    pub fn tables(&self) -> &[Arc<Table>] {
        &self.tables
    }

    /// The id of the table named exactly `name`.
    pub fn id_of(&self, name: &str) -> Option<usize> {
        self.tables.iter().position(|t| t.name.as_ref() == name)
    }

    /// The id of the table whose name equals `name` ignoring ASCII case.
    pub fn id_of_ignore_case(&self, name: &str) -> Option<usize> {
        self.id_of(name).or_else(|| {
            self.tables
                .iter()
                .position(|t| t.name.eq_ignore_ascii_case(name))
        })
    }

    /// The table named exactly `name`.
    pub fn table(&self, name: &str) -> Option<&Arc<Table>> {
        self.id_of(name).map(|i| &self.tables[i])
    }

    /// The table with id `id`.
    pub fn by_id(&self, id: usize) -> Option<&Arc<Table>> {
        self.tables.get(id)
    }

    /// The names of the tables closest to `name`, for "did you mean" hints.
    pub fn closest(&self, name: &str, n: usize) -> Vec<Str> {
        let names = Schema::new(
            self.tables
                .iter()
                .map(|t| Column {
                    name: t.name.clone(),
                    ty: Type::String,
                })
                .collect(),
        );
        names.closest(name, n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_schema_loads() {
        for (name, text) in SCHEMA_FILES {
            let t = table_from_schema_json(text).unwrap();
            assert_eq!(t.name.as_ref(), name);
            assert!(t.schema.len() > 20, "{name} has {} columns", t.schema.len());
            assert_eq!(t.schema.columns()[t.time_column].ty, Type::DateTime);
            assert!(t.schema.index_of("Type").is_some());
        }
        let c = Catalog::base();
        assert_eq!(c.tables().len(), 11 + 113);
        let names: Vec<&str> = c.tables().iter().map(|t| t.name.as_ref()).collect();
        assert_eq!(
            names[..7],
            [
                "SigninLogs",
                "AADNonInteractiveUserSignInLogs",
                "AADServicePrincipalSignInLogs",
                "AADManagedIdentitySignInLogs",
                "AuditLogs",
                "AADProvisioningLogs",
                "AzureActivity"
            ]
        );
    }

    #[test]
    fn enrichment_tables_have_their_reference_columns() {
        let c = Catalog::builtin();
        let ty = |t: &str, col: &str| c.table(t).and_then(|t| t.schema.column(col)).map(|c| c.ty);
        assert_eq!(ty("IdentityInfo", "AccountUPN"), Some(Type::String));
        assert_eq!(ty("IdentityInfo", "GroupMembership"), Some(Type::Dynamic));
        assert_eq!(ty("IdentityInfo", "IsAccountEnabled"), Some(Type::Bool));
        assert_eq!(ty("IdentityInfo", "InvestigationPriority"), Some(Type::Int));
        assert_eq!(ty("DeviceInfo", "OnboardingStatus"), Some(Type::String));
        assert_eq!(ty("DeviceInfo", "OSBuild"), Some(Type::Long));
        assert_eq!(ty("DeviceInfo", "SensorHealthState"), Some(Type::String));
        assert_eq!(
            ty("ThreatIntelIndicators", "ValidUntil"),
            Some(Type::DateTime)
        );
        assert_eq!(ty("ThreatIntelIndicators", "IsActive"), Some(Type::Bool));
        assert_eq!(ty("ThreatIntelIndicators", "Confidence"), Some(Type::Int));
        assert_eq!(
            ty("BehaviorAnalytics", "UsersInsights"),
            Some(Type::Dynamic)
        );
        assert_eq!(
            ty("BehaviorAnalytics", "TimeProcessed"),
            Some(Type::DateTime)
        );
        assert_eq!(
            ty("AADServicePrincipalSignInLogs", "UserAgent"),
            Some(Type::String)
        );
        for t in [
            "IdentityInfo",
            "DeviceInfo",
            "ThreatIntelIndicators",
            "BehaviorAnalytics",
        ] {
            let t = c.table(t).unwrap();
            assert_eq!(&*t.schema.columns()[t.time_column].name, "TimeGenerated");
        }
    }

    #[test]
    fn column_types_follow_the_schema_files() {
        let c = Catalog::builtin();
        let s = &c.table("SigninLogs").unwrap().schema;
        assert_eq!(s.column("LocationDetails").unwrap().ty, Type::Dynamic);
        assert_eq!(s.column("DurationMs").unwrap().ty, Type::Long);
        assert_eq!(s.column("IsInteractive").unwrap().ty, Type::Bool);
        let sp = &c.table("AADServicePrincipalSignInLogs").unwrap().schema;
        assert_eq!(sp.column("DurationMs").unwrap().ty, Type::Real);
        let audit = &c.table("AuditLogs").unwrap().schema;
        assert_eq!(audit.column("InitiatedBy").unwrap().ty, Type::Dynamic);
        assert_eq!(audit.column("TargetResources").unwrap().ty, Type::Dynamic);
        let t = c.table("SigninLogs").unwrap();
        assert_eq!(
            t.time_fallbacks
                .first()
                .map(|&i| t.schema.columns()[i].name.as_ref()),
            Some("CreatedDateTime")
        );
    }

    #[test]
    fn lookups_and_hints() {
        let c = Catalog::builtin();
        assert!(c.id_of("signinlogs").is_none());
        assert_eq!(c.id_of_ignore_case("signinlogs"), c.id_of("SigninLogs"));
        assert_eq!(c.closest("SignInLog", 1), vec![Str::from("SigninLogs")]);
    }

    #[test]
    fn sentinel_tables_load_with_standard_columns() {
        let all = tables_from_compact(SENTINEL_TABLES).unwrap();
        assert_eq!(all.len(), 113);
        let c = Catalog::builtin();
        let ty = |t: &str, col: &str| c.table(t).and_then(|t| t.schema.column(col)).map(|c| c.ty);
        assert_eq!(ty("SecurityEvent", "EventID"), Some(Type::Int));
        assert_eq!(ty("OfficeActivity", "Operation"), Some(Type::String));
        assert_eq!(
            ty("ThreatIntelligenceIndicator", "ExpirationDateTime"),
            Some(Type::DateTime)
        );
        assert_eq!(
            ty("AzureActivity", "ActivitySubstatusValue"),
            Some(Type::String)
        );
        assert_eq!(ty("DeviceInfo", "Timestamp"), Some(Type::DateTime));
        for t in c.tables() {
            for (col, _) in STANDARD_COLUMNS {
                assert!(t.schema.index_of(col).is_some(), "{} lacks {col}", t.name);
            }
            assert_eq!(t.schema.columns()[t.time_column].ty, Type::DateTime);
        }
        // The fuller schema wins over the generated one.
        assert!(c.table("SigninLogs").unwrap().schema.len() > 60);
    }

    #[test]
    fn bad_compact_tables_are_errors() {
        assert!(tables_from_compact("T a:blob").is_err());
        assert!(tables_from_compact("T a").is_err());
        assert!(tables_from_compact("T TimeGenerated:string").is_err());
        let t = tables_from_compact("# c\n\nT a:long a:string").unwrap();
        assert_eq!(t[0].schema.column("a").map(|c| c.ty), Some(Type::Long));
    }

    #[test]
    fn bad_schema_files_are_errors() {
        assert!(table_from_schema_json("{").is_err());
        let e = table_from_schema_json(r#"{"Name":"T","Properties":[{"Name":"a","Type":"blob"}]}"#)
            .unwrap_err();
        assert!(e.0.contains("unknown type"), "{e}");
    }
}
