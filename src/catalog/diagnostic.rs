//! Azure Monitor diagnostic records (what Entra ID diagnostic settings send to an Event Hub or a
//! storage account): `{"time", "category", "operationName", …, "properties": {…}}`, and how they
//! map onto the Log Analytics tables' columns.

use serde_json::{Map, Value as Json};
use std::path::Path;

use super::Table;

/// The table that a diagnostic record's `category` belongs to (case-insensitive):
/// `SignInLogs` → SigninLogs, `NonInteractiveUserSignInLogs` → AADNonInteractiveUserSignInLogs,
/// `ServicePrincipalSignInLogs` → AADServicePrincipalSignInLogs, `ManagedIdentitySignInLogs` →
/// AADManagedIdentitySignInLogs, `AuditLogs` → AuditLogs, `ProvisioningLogs` →
/// AADProvisioningLogs, and the activity log's categories (`Administrative`, `Security`,
/// `Policy`, …) → AzureActivity.
pub fn table_for_category(category: &str) -> Option<&'static str> {
    let c = category.to_ascii_lowercase();
    Some(match c.as_str() {
        "signinlogs" => "SigninLogs",
        "noninteractiveusersigninlogs" => "AADNonInteractiveUserSignInLogs",
        "serviceprincipalsigninlogs" => "AADServicePrincipalSignInLogs",
        "managedidentitysigninlogs" => "AADManagedIdentitySignInLogs",
        "auditlogs" => "AuditLogs",
        "provisioninglogs" => "AADProvisioningLogs",
        "administrative" | "security" | "servicehealth" | "alert" | "recommendation" | "policy"
        | "autoscale" | "resourcehealth" => "AzureActivity",
        _ => return None,
    })
}

/// The table a file's path names, if any: a file name that starts with a table's name
/// (`SigninLogs.jsonl.gz`, `auditlogs-2024-05.json`, case-insensitive), or a storage-account
/// container folder `insights-logs-<category>` (`…/insights-logs-signinlogs/…/PT1H.json`) or
/// `insights-activity-logs`.
pub fn table_for_path(path: &Path, table_names: &[&str]) -> Option<String> {
    if let Some(name) = path.file_name().and_then(|n| n.to_str()) {
        // The longest table name the file name starts with, followed by a character that is
        // not a letter or digit (`Cisco_Umbrella_dns_CL.json` is that table, not
        // `Cisco_Umbrella`; `SigninLogs_2024.json` is SigninLogs).
        let best = table_names
            .iter()
            .filter(|t| {
                name.len() >= t.len()
                    && name.is_char_boundary(t.len())
                    && name[..t.len()].eq_ignore_ascii_case(t)
                    && !name[t.len()..]
                        .chars()
                        .next()
                        .is_some_and(|c| c.is_ascii_alphanumeric())
            })
            .max_by_key(|t| t.len());
        if let Some(t) = best {
            return Some((*t).to_string());
        }
    }
    for comp in path.components() {
        let comp = comp.as_os_str().to_string_lossy().to_ascii_lowercase();
        if let Some(cat) = comp.strip_prefix("insights-logs-")
            && let Some(t) = table_for_category(cat)
        {
            return Some(t.to_string());
        }
        if comp == "insights-activity-logs" {
            return Some("AzureActivity".to_string());
        }
    }
    None
}

/// True when a JSON object looks like a diagnostic record rather than a Log Analytics row: it
/// has `category` and `time` or `properties`, and no `TimeGenerated`.
pub fn is_diagnostic_record(obj: &Map<String, Json>) -> bool {
    obj.contains_key("category")
        && (obj.contains_key("time") || obj.contains_key("properties"))
        && !obj.contains_key("TimeGenerated")
}

/// How one table's columns are filled from a diagnostic record.
#[derive(Clone, Debug)]
pub struct DiagnosticMapping {
    table: std::sync::Arc<Table>,
}

/// Top-level record fields whose column name is not the field's name.
const TOP_LEVEL_RENAMES: [(&str, &[&str]); 6] = [
    ("time", &["TimeGenerated"]),
    ("tenantId", &["AADTenantId", "TenantId"]),
    ("resourceId", &["ResourceId", "_ResourceId"]),
    ("callerIpAddress", &["IPAddress", "CallerIpAddress"]),
    ("operationName", &["OperationName", "OperationNameValue"]),
    ("category", &["Category", "CategoryValue"]),
];

/// Fields of `properties` whose column name is not the field's name.
const PROPERTY_RENAMES: [(&str, &[&str]); 8] = [
    ("location", &["LocationDetails"]),
    (
        "appliedConditionalAccessPolicies",
        &["ConditionalAccessPolicies"],
    ),
    ("resourceId", &["ResourceIdentity"]),
    ("operationType", &["AADOperationType"]),
    ("tenantId", &["AADTenantId"]),
    ("durationInMilliseconds", &["DurationMs"]),
    ("resultType", &["ResultType", "ActivityStatusValue"]),
    ("caller", &["Caller"]),
];

impl DiagnosticMapping {
    /// The mapping onto `table`.
    pub fn new(table: std::sync::Arc<Table>) -> DiagnosticMapping {
        DiagnosticMapping { table }
    }

    fn targets(&self, renames: &[(&str, &[&str])], key: &str) -> Vec<usize> {
        let schema = &self.table.schema;
        if let Some((_, cols)) = renames.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)) {
            let found: Vec<usize> = cols.iter().filter_map(|c| schema.index_of(c)).collect();
            if !found.is_empty() {
                return found;
            }
        }
        schema.index_of_ignore_case(key).into_iter().collect()
    }

    /// The (column index, JSON value) pairs that `record` gives for the table's columns, and the
    /// names of record fields that match no column. Fields of `properties` take precedence over
    /// top-level ones (in AuditLogs, `properties.category` is the Category column). For
    /// AzureActivity the whole `properties` object also fills `Properties`, and `Caller` comes
    /// from `properties.caller` or else the identity's `upn` or `appid` claim.
    pub fn map<'a>(&self, record: &'a Map<String, Json>) -> (Vec<(usize, &'a Json)>, Vec<String>) {
        let mut out: Vec<(usize, &'a Json)> = Vec::new();
        let mut unknown = Vec::new();
        let schema = &self.table.schema;
        for (k, v) in record {
            if k == "properties" {
                continue;
            }
            let targets = self.targets(&TOP_LEVEL_RENAMES, k);
            if targets.is_empty() {
                unknown.push(k.clone());
            }
            out.extend(targets.into_iter().map(|i| (i, v)));
        }
        if let Some(Json::Object(props)) = record.get("properties") {
            if let Some(i) = schema.index_of("Properties") {
                out.push((i, record.get("properties").unwrap_or(&Json::Null)));
            }
            for (k, v) in props {
                let targets = self.targets(&PROPERTY_RENAMES, k);
                if targets.is_empty() && schema.index_of("Properties").is_none() {
                    unknown.push(format!("properties.{k}"));
                }
                out.extend(targets.into_iter().map(|i| (i, v)));
            }
        }
        if let Some(caller) = schema.index_of("Caller")
            && !out.iter().any(|(i, _)| *i == caller)
        {
            let claims = record.get("identity").and_then(|i| i.get("claims"));
            let claim = claims.and_then(|c| {
                c.get("http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn")
                    .or_else(|| c.get("appid"))
            });
            if let Some(v) = claim {
                out.push((caller, v));
            }
        }
        // Later entries win: keep the last value given for each column.
        let mut seen = vec![false; schema.len()];
        let mut dedup = Vec::with_capacity(out.len());
        for (i, v) in out.into_iter().rev() {
            if !seen[i] {
                seen[i] = true;
                dedup.push((i, v));
            }
        }
        dedup.reverse();
        (dedup, unknown)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Catalog;

    fn col<'a>(m: &DiagnosticMapping, pairs: &[(usize, &'a Json)], name: &str) -> Option<&'a Json> {
        let i = m.table.schema.index_of(name)?;
        pairs.iter().find(|(j, _)| *j == i).map(|(_, v)| *v)
    }

    #[test]
    fn categories() {
        assert_eq!(table_for_category("SignInLogs"), Some("SigninLogs"));
        assert_eq!(
            table_for_category("ServicePrincipalSignInLogs"),
            Some("AADServicePrincipalSignInLogs")
        );
        assert_eq!(table_for_category("Administrative"), Some("AzureActivity"));
        assert_eq!(table_for_category("KeyVaultLogs"), None);
    }

    #[test]
    fn paths() {
        let names = ["SigninLogs", "AuditLogs"];
        assert_eq!(
            table_for_path(Path::new("/x/SigninLogs.jsonl.gz"), &names).as_deref(),
            Some("SigninLogs")
        );
        assert_eq!(
            table_for_path(Path::new("auditlogs-2024.json"), &names).as_deref(),
            Some("AuditLogs")
        );
        assert_eq!(
            table_for_path(
                Path::new("c/insights-logs-auditlogs/y=2024/m=05/PT1H.json"),
                &names
            )
            .as_deref(),
            Some("AuditLogs")
        );
        assert_eq!(table_for_path(Path::new("data.json"), &names), None);
        let names = [
            "Cisco_Umbrella",
            "Cisco_Umbrella_dns_CL",
            "Event",
            "SigninLogs",
        ];
        let t = |p: &str| table_for_path(Path::new(p), &names);
        assert_eq!(
            t("cisco_umbrella_dns_CL.json").as_deref(),
            Some("Cisco_Umbrella_dns_CL")
        );
        assert_eq!(
            t("Cisco_Umbrella_2024.json").as_deref(),
            Some("Cisco_Umbrella")
        );
        assert_eq!(t("SigninLogs_2024.json").as_deref(), Some("SigninLogs"));
        assert_eq!(t("Events.json"), None);
        assert_eq!(t("Event.csv").as_deref(), Some("Event"));
    }

    #[test]
    fn signin_record_maps_location_and_status() {
        let t = Catalog::builtin().table("SigninLogs").unwrap().clone();
        let m = DiagnosticMapping::new(t);
        let rec: Json = serde_json::from_str(
            r#"{"time":"2024-05-01T10:00:00Z","category":"SignInLogs","resultType":"50126",
                "callerIpAddress":"203.0.113.9","location":"NO","tenantId":"t1",
                "properties":{"userPrincipalName":"a@b.c","location":{"city":"Oslo"},
                "status":{"errorCode":50126},"appliedConditionalAccessPolicies":[],"ipAddress":"203.0.113.9",
                "somethingNew":1}}"#,
        )
        .unwrap();
        let obj = rec.as_object().unwrap();
        assert!(is_diagnostic_record(obj));
        let (pairs, unknown) = m.map(obj);
        assert_eq!(
            col(&m, &pairs, "TimeGenerated"),
            Some(&Json::from("2024-05-01T10:00:00Z"))
        );
        assert_eq!(
            col(&m, &pairs, "UserPrincipalName"),
            Some(&Json::from("a@b.c"))
        );
        assert_eq!(col(&m, &pairs, "Location"), Some(&Json::from("NO")));
        assert!(col(&m, &pairs, "LocationDetails").unwrap().is_object());
        assert!(col(&m, &pairs, "Status").unwrap().is_object());
        assert_eq!(col(&m, &pairs, "AADTenantId"), Some(&Json::from("t1")));
        assert_eq!(col(&m, &pairs, "ResultType"), Some(&Json::from("50126")));
        assert!(col(&m, &pairs, "ConditionalAccessPolicies").is_some());
        assert_eq!(unknown, vec!["properties.somethingNew".to_string()]);
    }

    #[test]
    fn audit_record_takes_category_from_properties() {
        let t = Catalog::builtin().table("AuditLogs").unwrap().clone();
        let m = DiagnosticMapping::new(t);
        let rec: Json = serde_json::from_str(
            r#"{"time":"2024-05-01T10:00:00Z","category":"AuditLogs","operationName":"Add member to group",
                "properties":{"category":"GroupManagement","operationType":"Assign",
                "initiatedBy":{"user":{"userPrincipalName":"admin@b.c"}},"targetResources":[]}}"#,
        )
        .unwrap();
        let (pairs, _) = m.map(rec.as_object().unwrap());
        assert_eq!(
            col(&m, &pairs, "Category"),
            Some(&Json::from("GroupManagement"))
        );
        assert_eq!(
            col(&m, &pairs, "AADOperationType"),
            Some(&Json::from("Assign"))
        );
        assert_eq!(
            col(&m, &pairs, "OperationName"),
            Some(&Json::from("Add member to group"))
        );
        assert!(col(&m, &pairs, "InitiatedBy").unwrap().is_object());
    }

    #[test]
    fn activity_record_finds_the_caller() {
        let t = Catalog::builtin().table("AzureActivity").unwrap().clone();
        let m = DiagnosticMapping::new(t);
        let rec: Json = serde_json::from_str(
            r#"{"time":"2024-05-01T10:00:00Z","category":"Administrative","operationName":"MICROSOFT.COMPUTE/VIRTUALMACHINES/WRITE",
                "identity":{"claims":{"appid":"11111111-2222-3333-4444-555555555555"}},"properties":{"statusCode":"Created"}}"#,
        )
        .unwrap();
        let (pairs, _) = m.map(rec.as_object().unwrap());
        assert_eq!(
            col(&m, &pairs, "Caller"),
            Some(&Json::from("11111111-2222-3333-4444-555555555555"))
        );
        assert!(col(&m, &pairs, "Properties").unwrap().is_object());
        assert_eq!(
            col(&m, &pairs, "CategoryValue"),
            Some(&Json::from("Administrative"))
        );
    }
}
