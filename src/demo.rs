//! The built-in demo: a small tenant in which every detection of the rule pack fires, the rule
//! pack itself (the `dataflows/` files, built into the binary) and the IP allowlist watchlist
//! its volume rule reads. `kqlflow demo` runs the rules over the tenant; tests use the tenant as
//! ground truth.

use crate::catalog::Catalog;
use crate::eval::Watchlist;
use crate::model::{Row, TICKS_PER_HOUR as H, TICKS_PER_SECOND as S, Value, parse_json};

/// 2024-05-01T00:00:00Z: the tenant's first hour.
pub const T0: i64 = 1_714_521_600 * S;

/// The rule pack built into the binary: (file name, YAML text).
pub const RULES: [(&str, &str); 9] = [
    (
        "failed_signins_with_audit_details.yaml",
        include_str!("../dataflows/failed_signins_with_audit_details.yaml"),
    ),
    (
        "sp_signin_volume_anomaly.yaml",
        include_str!("../dataflows/sp_signin_volume_anomaly.yaml"),
    ),
    (
        "provisioning_failures_by_job_error.yaml",
        include_str!("../dataflows/provisioning_failures_by_job_error.yaml"),
    ),
    (
        "rare_audit_activity_by_app.yaml",
        include_str!("../dataflows/rare_audit_activity_by_app.yaml"),
    ),
    (
        "sp_graph_signins.yaml",
        include_str!("../dataflows/sp_graph_signins.yaml"),
    ),
    (
        "sp_signin_failures.yaml",
        include_str!("../dataflows/sp_signin_failures.yaml"),
    ),
    (
        "sp_credential_added_while_active.yaml",
        include_str!("../dataflows/sp_credential_added_while_active.yaml"),
    ),
    (
        "sp_signins_with_audit_actions.yaml",
        include_str!("../dataflows/sp_signins_with_audit_actions.yaml"),
    ),
    (
        "sp_signins_with_azure_activity.yaml",
        include_str!("../dataflows/sp_signins_with_azure_activity.yaml"),
    ),
];

/// The NetworkAllowlist watchlist: a CIDR, an address and a range.
pub fn allowlist() -> Watchlist {
    Watchlist {
        columns: vec!["IPOrRange".into(), "Comment".into()],
        rows: vec![
            vec!["10.0.0.0/8".into(), "lab".into()],
            vec!["192.0.2.44".into(), "scanner".into()],
            vec!["198.51.100.1-198.51.100.20".into(), "partner".into()],
        ],
        updates: Vec::new(),
    }
}

/// A row of `table` at time `t` with the given columns set (the rest empty), in the table's
/// schema order. Unknown tables or columns are left out.
pub fn row(table: &str, t: i64, cols: &[(&str, Value)]) -> (i64, Row) {
    let Some(def) = Catalog::builtin().table(table) else {
        return (t, Vec::new());
    };
    let mut row = def.schema.empty_row();
    let mut set = |c: &str, v: Value| {
        if let Some(i) = def.schema.index_of(c) {
            row[i] = v;
        }
    };
    set("TimeGenerated", Value::DateTime(t));
    set("Type", Value::str(table));
    for (c, v) in cols {
        set(c, v.clone());
    }
    (t, row)
}

/// A dynamic value from JSON text.
pub fn json(s: &str) -> Value {
    parse_json(&Value::str(s))
}

/// A tenant where every seed query fires: a password spray on alice followed by changes to
/// her account, a service principal whose hourly rhythm bursts from an unlisted address,
/// sustained provisioning failures, an app making a change it never made in the trail, and
/// Microsoft Graph sign-ins.
pub fn attack_tenant() -> Vec<(String, Vec<(i64, Row)>)> {
    let mut signins = Vec::new();
    for k in 0..12 {
        signins.push(row(
            "SigninLogs",
            T0 + 50 * H + k * 60 * S,
            &[
                ("UserPrincipalName", Value::str("Alice@contoso.com")),
                (
                    "IPAddress",
                    Value::str(["203.0.113.5", "198.51.100.99", "192.0.2.10"][(k % 3) as usize]),
                ),
                ("ResultType", Value::str("50126")),
                ("ResultDescription", Value::str("Invalid password")),
                ("AppDisplayName", Value::str("Azure Portal")),
                ("LocationDetails", json(r#"{"city":"Oslo","state":"Oslo"}"#)),
                ("ClientAppUsed", Value::str("Browser")),
                ("Location", Value::str("NO")),
                ("CorrelationId", Value::str("spray")),
                ("OperationName", Value::str("Sign-in activity")),
                ("Category", Value::str("SignInLogs")),
            ],
        ));
    }
    let audit = |t: i64, i: usize, initiated: &str, op: &str, target: &str| {
        row(
            "AuditLogs",
            t,
            &[
                ("Category", Value::str("UserManagement")),
                ("OperationName", Value::str(op)),
                ("InitiatedBy", json(initiated)),
                (
                    "TargetResources",
                    json(&format!(
                        r#"[{{"userPrincipalName":"{target}","displayName":"{target}","modifiedProperties":[{{"displayName":"StrongAuthenticationMethod","oldValue":"[]","newValue":"[\"PhoneAppNotification\"]"}}]}}]"#
                    )),
                ),
                ("CorrelationId", Value::str(format!("a{i}"))),
                ("Id", Value::str(format!("id{i}"))),
            ],
        )
    };
    let app = r#"{"app":{"displayName":"Deployer","ipAddress":"203.0.113.9"}}"#;
    let admin = r#"{"user":{"userPrincipalName":"admin@contoso.com"}}"#;
    let audits = vec![
        audit(T0 + 2 * H, 0, app, "Update user", "bob@contoso.com"),
        audit(T0 + 51 * H, 1, admin, "Update user", "alice@contoso.com"),
        audit(
            T0 + 52 * H,
            2,
            app,
            "Reset user password",
            "alice@contoso.com",
        ),
        // A user adds a secret to sp-a, two hours after its last successful sign-in.
        row(
            "AuditLogs",
            T0 + 97 * H + 30 * 60 * S,
            &[
                ("Category", Value::str("ApplicationManagement")),
                (
                    "OperationName",
                    Value::str("Update application \u{2013} Certificates and secrets management "),
                ),
                ("Result", Value::str("success")),
                (
                    "InitiatedBy",
                    json(
                        r#"{"user":{"userPrincipalName":"mallory@contoso.com","ipAddress":"198.51.100.66"}}"#,
                    ),
                ),
                (
                    "TargetResources",
                    json(r#"[{"id":"app-obj-a","displayName":"sp-a","type":"Application"}]"#),
                ),
                ("CorrelationId", Value::str("cred-1")),
                ("Id", Value::str("id-cred-1")),
            ],
        ),
        // sp-a adds a member to a directory role.
        row(
            "AuditLogs",
            T0 + 95 * H + 30 * 60 * S,
            &[
                ("Category", Value::str("RoleManagement")),
                ("OperationName", Value::str("Add member to role")),
                ("Result", Value::str("success")),
                (
                    "InitiatedBy",
                    json(r#"{"app":{"displayName":"sp-a","servicePrincipalId":"sp-a-id"}}"#),
                ),
                (
                    "TargetResources",
                    json(
                        r#"[{"id":"role-ga","displayName":"Global Administrator","type":"Role"}]"#,
                    ),
                ),
                ("CorrelationId", Value::str("role-1")),
                ("Id", Value::str("id-role-1")),
            ],
        ),
    ];
    let provisioning = (0..12)
        .map(|k| {
            row(
                "AADProvisioningLogs",
                T0 + k * 7 * H,
                &[
                    ("JobId", Value::str("job-1")),
                    ("ResultType", Value::str("Failure")),
                    ("ServicePrincipal", Value::str(r#"{"Name":"Workday"}"#)),
                    ("TargetIdentity", Value::str(format!("t{}", k % 4))),
                    ("ResultDescription", Value::str("schema mismatch")),
                    ("OperationName", Value::str("Create")),
                    ("ResultSignature", Value::str("SchemaMismatch")),
                ],
            )
        })
        .collect();
    let sp = |t: i64, ip: &str, res: &str| {
        row(
            "AADServicePrincipalSignInLogs",
            t,
            &[
                ("ServicePrincipalName", Value::str("sp-a")),
                ("ServicePrincipalId", Value::str("sp-a-id")),
                ("AppId", Value::str("sp-a-app")),
                ("IPAddress", Value::str(ip)),
                ("ResultType", Value::str("0")),
                ("ResourceDisplayName", Value::str(res)),
                ("ClientCredentialType", Value::str("clientSecret")),
            ],
        )
    };
    let mut sp_rows: Vec<(i64, Row)> = (0..96)
        .map(|h| sp(T0 + h * H + 5 * 60 * S, "203.0.113.50", "Microsoft Graph"))
        .collect();
    sp_rows.extend((0..60).map(|k| {
        sp(
            T0 + 100 * H + k * 30 * S,
            "198.51.100.200",
            "Azure Key Vault",
        )
    }));
    // sp-b fails to sign in with an expired secret, three times.
    sp_rows.extend((0..3).map(|k| {
        row(
            "AADServicePrincipalSignInLogs",
            T0 + 60 * H + k * 60 * S,
            &[
                ("ServicePrincipalName", Value::str("sp-b")),
                ("ServicePrincipalId", Value::str("sp-b-id")),
                ("AppId", Value::str("sp-b-app")),
                ("IPAddress", Value::str("203.0.113.77")),
                ("ResultType", Value::str("7000222")),
                ("ResourceDisplayName", Value::str("Azure Key Vault")),
                ("ClientCredentialType", Value::str("clientSecret")),
            ],
        )
    }));
    // Allow-listed traffic does not count.
    sp_rows.extend((0..60).map(|k| {
        sp(
            T0 + 100 * H + k * 30 * S + 1,
            "192.0.2.44",
            "Azure Key Vault",
        )
    }));
    // A managed identity signs in; it and sp-a then operate on Azure resources.
    let managed = vec![row(
        "AADManagedIdentitySignInLogs",
        T0 + 95 * H + 10 * 60 * S,
        &[
            ("ServicePrincipalId", Value::str("mi-1-id")),
            ("ServicePrincipalName", Value::str("mi-1")),
            ("IPAddress", Value::str("10.2.3.4")),
            ("ResultType", Value::str("0")),
            ("ResourceDisplayName", Value::str("Azure Resource Manager")),
        ],
    )];
    let arm = |t: i64, caller: &str, ip: &str, op: &str, id: &str| {
        row(
            "AzureActivity",
            t,
            &[
                ("Caller", Value::str(caller)),
                ("CallerIpAddress", Value::str(ip)),
                ("OperationNameValue", Value::str(op)),
                ("ActivityStatusValue", Value::str("Success")),
                ("ResourceGroup", Value::str("prod-rg")),
                ("CorrelationId", Value::str(id)),
            ],
        )
    };
    let activity = vec![
        arm(
            T0 + 95 * H + 20 * 60 * S,
            "mi-1-id",
            "10.2.3.4",
            "MICROSOFT.KEYVAULT/VAULTS/SECRETS/READ",
            "arm-1",
        ),
        arm(
            T0 + 95 * H + 40 * 60 * S,
            "sp-a-id",
            "203.0.113.50",
            "MICROSOFT.COMPUTE/VIRTUALMACHINES/RUNCOMMAND/ACTION",
            "arm-2",
        ),
    ];
    vec![
        ("AADManagedIdentitySignInLogs".to_string(), managed),
        ("AzureActivity".to_string(), activity),
        ("SigninLogs".to_string(), signins),
        ("AuditLogs".to_string(), audits),
        ("AADProvisioningLogs".to_string(), provisioning),
        ("AADServicePrincipalSignInLogs".to_string(), sp_rows),
    ]
}

/// Writes the tenant as Log Analytics JSON Lines, one `<Table>.jsonl` file per table in `dir`
/// (empty values left out), and returns the files written.
pub fn write_tenant(dir: &std::path::Path) -> std::io::Result<Vec<std::path::PathBuf>> {
    let mut files = Vec::new();
    for (table, rows) in attack_tenant() {
        let Some(def) = Catalog::builtin().table(&table) else {
            continue;
        };
        let mut text = String::new();
        for (_, row) in rows {
            let mut fields = Vec::new();
            for (c, v) in def.schema.columns().iter().zip(&row) {
                let empty = v.is_null() || v.as_str().is_some_and(str::is_empty);
                if !empty {
                    let mut f = String::new();
                    crate::model::write_json(&Value::str(&c.name), &mut f);
                    f.push(':');
                    crate::model::write_json(v, &mut f);
                    fields.push(f);
                }
            }
            text.push('{');
            text.push_str(&fields.join(","));
            text.push_str("}\n");
        }
        let path = dir.join(format!("{table}.jsonl"));
        std::fs::write(&path, text)?;
        files.push(path);
    }
    Ok(files)
}
