//! The simulator's events and their rendering as Log Analytics rows (JSON objects with the
//! table's column names and types; dynamic columns as nested JSON, string columns that hold
//! JSON as JSON text, as the exports write them).

use super::json::{Obj, TICKS_PER_SECOND, ip_text, push_str_array, push_str_lit};
use super::rng::{Rng, guid_from};
use super::tenant::{City, Device, RESOURCES, Tenant, USER_APPS};
use std::fmt::Write;

/// The seven tables the simulator writes, in output order.
pub const TABLES: [&str; 7] = [
    "SigninLogs",
    "AADNonInteractiveUserSignInLogs",
    "AADServicePrincipalSignInLogs",
    "AADManagedIdentitySignInLogs",
    "AuditLogs",
    "AADProvisioningLogs",
    "AzureActivity",
];

/// A user's interactive or non-interactive sign-in.
#[derive(Clone, Debug)]
pub struct UserSignIn {
    /// Interactive (SigninLogs) or not (AADNonInteractiveUserSignInLogs).
    pub interactive: bool,
    /// Index of the user.
    pub user: usize,
    /// Index into [`USER_APPS`].
    pub app: usize,
    /// Index into [`RESOURCES`].
    pub resource: usize,
    /// Client address.
    pub ip: u32,
    /// Where the address is.
    pub city: &'static City,
    /// Index of the user's device; `None` for an unknown device (an attacker's).
    pub device: Option<usize>,
    /// The error code; 0 for success.
    pub result: u32,
    /// Seed of the correlation id: sign-ins of one flow share it.
    pub correlation: u64,
    /// Overrides the client app (legacy or scripted clients).
    pub client_app: Option<&'static str>,
    /// Overrides the user agent.
    pub user_agent: Option<&'static str>,
}

/// A service principal's sign-in.
#[derive(Clone, Debug)]
pub struct SpSignIn {
    /// Index of the service principal.
    pub sp: usize,
    /// Index into [`RESOURCES`].
    pub resource: usize,
    /// Client address.
    pub ip: u32,
    /// The error code; 0 for success.
    pub result: u32,
}

/// A managed identity's token request.
#[derive(Clone, Debug)]
pub struct MiSignIn {
    /// Index of the managed identity.
    pub mi: usize,
    /// Index into [`RESOURCES`].
    pub resource: usize,
}

/// Who started an audited change.
#[derive(Clone, Debug)]
pub enum Actor {
    /// A user, from an address.
    User(usize, u32),
    /// The directory sync account.
    Sync,
    /// A Microsoft first-party application: (display name, app id); its service principal
    /// never signs in to the tenant's sign-in logs.
    FirstParty(&'static str, &'static str),
    /// One of the tenant's service principals, from an address.
    App(usize, u32),
}

/// A change written to AuditLogs.
#[derive(Clone, Debug)]
pub struct Audit {
    /// Who made it.
    pub actor: Actor,
    /// Operation name (also the activity display name).
    pub operation: &'static str,
    /// Category.
    pub category: &'static str,
    /// The target.
    pub target: Target,
    /// Modified properties: (name, old value, new value) as the JSON texts the log holds.
    pub props: Vec<(&'static str, String, String)>,
    /// Seed of the correlation id.
    pub correlation: u64,
}

/// The first target of a change.
#[derive(Clone, Debug)]
pub enum Target {
    /// A user.
    User(usize),
    /// A user's device.
    Device(usize, usize),
    /// A service principal's application.
    Application(usize),
    /// A service principal.
    ServicePrincipal(usize),
    /// A user added to a directory role: (user, role name).
    RoleMember(usize, &'static str),
}

/// One object processed by a provisioning job.
#[derive(Clone, Debug)]
pub struct Provisioning {
    /// Index of the job.
    pub job: usize,
    /// Index of the user provisioned.
    pub user: usize,
    /// `Create`, `Update` or `Disable`.
    pub action: &'static str,
    /// `Success`, `Failure` or `Skipped`.
    pub result: &'static str,
    /// Error code and message for failures.
    pub error: Option<(&'static str, &'static str)>,
    /// The cycle it belongs to.
    pub cycle: u64,
}

/// Who called Azure Resource Manager.
#[derive(Clone, Debug)]
pub enum Caller {
    /// A user.
    User(usize),
    /// A service principal.
    Sp(usize),
    /// A managed identity.
    Mi(usize),
}

/// One Azure Resource Manager operation event (Started or Succeeded).
#[derive(Clone, Debug)]
pub struct Activity {
    /// Who called.
    pub caller: Caller,
    /// Caller address.
    pub ip: u32,
    /// Operation (upper case, as OperationNameValue holds it) and its display name.
    pub operation: (&'static str, &'static str),
    /// Resource group.
    pub resource_group: String,
    /// Resource name.
    pub resource: String,
    /// `Started` or `Succeeded`.
    pub status: &'static str,
    /// Seed of the correlation id (an operation's events share it).
    pub correlation: u64,
}

/// What happened.
#[derive(Clone, Debug)]
pub enum Body {
    /// A row of SigninLogs or AADNonInteractiveUserSignInLogs.
    UserSignIn(UserSignIn),
    /// A row of AADServicePrincipalSignInLogs.
    SpSignIn(SpSignIn),
    /// A row of AADManagedIdentitySignInLogs.
    MiSignIn(MiSignIn),
    /// A row of AuditLogs.
    Audit(Audit),
    /// A row of AADProvisioningLogs.
    Provisioning(Provisioning),
    /// A row of AzureActivity.
    Activity(Activity),
}

/// One record: its event time (100 ns ticks), a unique number that seeds its details, and what
/// happened.
#[derive(Clone, Debug)]
pub struct Event {
    /// Event time (TimeGenerated).
    pub time: i64,
    /// Unique within its table and day; seeds the record's random details.
    pub id: u64,
    /// The record.
    pub body: Body,
}

impl Event {
    /// The table the event belongs to (an index into [`TABLES`]).
    pub fn table(&self) -> usize {
        match &self.body {
            Body::UserSignIn(s) if s.interactive => 0,
            Body::UserSignIn(_) => 1,
            Body::SpSignIn(_) => 2,
            Body::MiSignIn(_) => 3,
            Body::Audit(_) => 4,
            Body::Provisioning(_) => 5,
            Body::Activity(_) => 6,
        }
    }
}

/// A correlation id from its seed.
pub fn correlation_id(seed: u64, c: u64) -> String {
    let mut r = Rng::derive(seed, "corr", &[c]);
    r.guid()
}

/// Renders `e` as one JSON object (no newline) into `out`.
pub fn render(t: &Tenant, seed: u64, e: &Event, out: &mut String) {
    let mut r = Rng::derive(seed, "record", &[e.table() as u64, e.id, e.time as u64]);
    match &e.body {
        Body::UserSignIn(s) => user_sign_in(t, seed, e.time, s, &mut r, out),
        Body::SpSignIn(s) => sp_sign_in(t, seed, e.time, s, &mut r, out),
        Body::MiSignIn(s) => mi_sign_in(t, e.time, s, &mut r, out),
        Body::Audit(a) => audit(t, seed, e.time, a, &mut r, out),
        Body::Provisioning(p) => provisioning(t, e.time, p, &mut r, out),
        Body::Activity(a) => activity(t, seed, e.time, a, &mut r, out),
    }
}

/// Error text of a sign-in error code.
pub fn error_text(code: u32) -> &'static str {
    match code {
        0 => "",
        50126 => "Error validating credentials due to invalid username or password.",
        50074 => "Strong Authentication is required.",
        50140 => {
            "This error occurred due to 'Keep me signed in' interrupt when the user was signing in."
        }
        500121 => "Authentication failed during strong authentication request.",
        50053 => {
            "Account is locked because user tried to sign in too many times with an incorrect user ID or password."
        }
        70044 => {
            "The session has expired or is invalid due to sign-in frequency checks by conditional access."
        }
        50173 => {
            "The provided grant has expired due to it being revoked, a fresh auth token is needed."
        }
        7000215 => {
            "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID."
        }
        7000222 => "The provided client secret keys for app are expired.",
        700027 => "Client assertion failed signature validation.",
        _ => "Other.",
    }
}

fn location_details(out: &mut String, c: &City, r: &mut Rng) {
    Obj::new(out)
        .str("city", c.city)
        .str("state", c.state)
        .str("countryOrRegion", c.country)
        .with("geoCoordinates", |o| {
            Obj::new(o)
                .real("latitude", c.lat + r.uniform(-0.05, 0.05))
                .real("longitude", c.lon + r.uniform(-0.05, 0.05))
                .end()
        })
        .end();
}

fn device_detail(out: &mut String, d: Option<&Device>, ua: &str) {
    match d {
        Some(d) => Obj::new(out)
            .str("deviceId", &d.id)
            .str("displayName", &d.name)
            .str("operatingSystem", d.os)
            .str("browser", d.browser)
            .bool("isCompliant", d.compliant)
            .bool("isManaged", d.compliant)
            .str("trustType", d.trust)
            .end(),
        None => {
            let os = if ua.contains("Windows") {
                "Windows10"
            } else if ua.contains("Linux") {
                "Linux"
            } else {
                ""
            };
            let browser = if ua.contains("python") {
                "Python Requests 2.31"
            } else if ua.contains("Chrome") {
                "Chrome 122.0.0"
            } else {
                ""
            };
            Obj::new(out)
                .str("deviceId", "")
                .str("operatingSystem", os)
                .str("browser", browser)
                .end()
        }
    }
}

fn status(out: &mut String, code: u32, mfa: bool) {
    let mut o = Obj::new(out);
    o.int("errorCode", i64::from(code));
    if code == 0 {
        o.str(
            "additionalDetails",
            if mfa {
                "MFA requirement satisfied by claim in the token"
            } else {
                "MFA requirement skipped due to remembered device"
            },
        );
    } else {
        o.str("failureReason", error_text(code));
        o.str("additionalDetails", "The user didn't enter the right credentials. It's expected to see some number of these errors in your logs due to users making mistakes.");
    }
    o.end();
}

fn conditional_access(out: &mut String, t: &Tenant, code: u32, azure: bool) {
    out.push('[');
    for (i, (id, name, grant, state)) in t.policies.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let applies = match i {
            0 | 2 => true,
            3 => azure,
            _ => false,
        };
        let result = if code != 0 && code != 50074 && code != 500121 {
            "notApplied"
        } else if *state != "enabled" {
            "reportOnlyNotApplied"
        } else if applies {
            if code == 0 { "success" } else { "failure" }
        } else {
            "notApplied"
        };
        let mut o = Obj::new(out);
        o.str("id", id)
            .str("displayName", name)
            .with("enforcedGrantControls", |o| {
                if result == "success" || result == "failure" {
                    push_str_array(o, &[grant]);
                } else {
                    o.push_str("[]");
                }
            })
            .with("enforcedSessionControls", |o| o.push_str("[]"))
            .str("result", result)
            .int("conditionsSatisfied", if applies { 3 } else { 1 })
            .int("conditionsNotSatisfied", if applies { 0 } else { 2 })
            .with("includeRulesSatisfied", |o| {
                if applies {
                    o.push_str(r#"[{"conditionalAccessCondition":"application","ruleSatisfied":"allApps"},{"conditionalAccessCondition":"users","ruleSatisfied":"allUsers"}]"#);
                } else {
                    o.push_str("[]");
                }
            })
            .with("excludeRulesSatisfied", |o| o.push_str("[]"))
            .end();
    }
    out.push(']');
}

fn applied_policies_text(t: &Tenant, code: u32, azure: bool) -> String {
    let mut s = String::with_capacity(2048);
    conditional_access(&mut s, t, code, azure);
    s
}

fn auth_details(out: &mut String, time: i64, code: u32, mfa_step: bool) {
    out.push('[');
    let mut o_text = String::new();
    super::json::push_datetime(&mut o_text, time);
    let stamp = o_text.replace('Z', "+00:00");
    {
        let mut o = Obj::new(out);
        o.str("authenticationStepDateTime", &stamp)
            .str("authenticationMethod", "Password")
            .str("authenticationMethodDetail", "Password Hash Sync")
            .bool("succeeded", code != 50126 && code != 50053)
            .str(
                "authenticationStepResultDetail",
                if code == 50126 {
                    "Invalid username or password or Invalid on-premise username or password."
                } else {
                    "Correct password"
                },
            )
            .str("authenticationStepRequirement", "Primary authentication")
            .int("StatusSequence", 0)
            .int("RequestSequence", 1)
            .end();
    }
    if mfa_step {
        out.push(',');
        Obj::new(out)
            .str("authenticationStepDateTime", &stamp)
            .str(
                "authenticationMethod",
                if code == 500121 {
                    "Mobile app notification"
                } else {
                    "Previously satisfied"
                },
            )
            .bool("succeeded", code != 500121)
            .str(
                "authenticationStepResultDetail",
                if code == 500121 {
                    "MFA denied; user declined the authentication"
                } else {
                    "MFA requirement satisfied by claim in the token"
                },
            )
            .str("authenticationStepRequirement", "Primary authentication")
            .int("StatusSequence", 0)
            .int("RequestSequence", 0)
            .end();
    }
    out.push(']');
}

fn processing_details(out: &mut String, scopes: &str) {
    out.push('[');
    let pairs: [(&str, &str); 3] = [
        ("Legacy TLS (TLS 1.0, 1.1, 3DES)", "False"),
        ("Is CAE Token", "True"),
        ("Oauth Scope Info", scopes),
    ];
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        Obj::new(out).str("key", k).str("value", v).end();
    }
    out.push(']');
}

const SCOPES: &str = r#"["email","openid","profile","User.Read","Files.ReadWrite.All","Mail.ReadWrite","Sites.ReadWrite.All"]"#;

fn user_sign_in(t: &Tenant, seed: u64, time: i64, s: &UserSignIn, r: &mut Rng, out: &mut String) {
    let Some(u) = t.users.get(s.user) else {
        return;
    };
    let (app, app_id, client_default, _, _) = USER_APPS[s.app.min(USER_APPS.len() - 1)];
    let (resource, resource_app_id) = RESOURCES[s.resource.min(RESOURCES.len() - 1)];
    let device = s.device.and_then(|d| u.devices.get(d));
    let ua = s
        .user_agent
        .unwrap_or_else(|| device.map_or("", |d| d.user_agent));
    let client_app = s.client_app.unwrap_or(client_default);
    let corr = correlation_id(seed, s.correlation);
    let id = r.guid();
    let mfa = s.interactive && s.result == 0 && (u.admin || r.chance(0.3));
    let azure = matches!(app, "Azure Portal" | "Microsoft Azure CLI");
    let duration = r.range(40, 900);
    let session = r.guid();
    let table = if s.interactive {
        "SigninLogs"
    } else {
        "AADNonInteractiveUserSignInLogs"
    };
    let at_office = t.offices.iter().any(|(_, o)| *o == s.ip);
    let start = out.len();
    let mut o = Obj::new(out);
    o.str("TenantId", &t.workspace_id)
        .str("SourceSystem", "Azure AD")
        .time("TimeGenerated", time)
        .str("OperationName", "Sign-in activity")
        .str("OperationVersion", "1.0")
        .str(
            "Category",
            if s.interactive {
                "SignInLogs"
            } else {
                "NonInteractiveUserSignInLogs"
            },
        )
        .str("ResultType", &s.result.to_string())
        .str(
            "ResultSignature",
            if s.result == 0 { "SUCCESS" } else { "None" },
        )
        .str("ResultDescription", error_text(s.result))
        .int("DurationMs", 0)
        .str("CorrelationId", &corr)
        .str("ResourceGroup", "Microsoft.aadiam")
        .str("Identity", &u.name)
        .str("Level", if s.result == 0 { "4" } else { "3" })
        .str("Location", s.city.country)
        .str("AADTenantId", &t.tenant_id)
        .str("AlternateSignInName", &u.upn)
        .str("AppDisplayName", app)
        .str("AppId", app_id)
        .str("AppOwnerTenantId", "f8cdef31-a31e-4b4a-93e4-5f571e91255a")
        .str("AuthenticationContextClassReferences", "[]")
        .json_text("AuthenticationDetails", |o| {
            auth_details(o, time, s.result, mfa)
        })
        .str("AuthenticationMethodsUsed", "")
        .json_text("AuthenticationProcessingDetails", |o| {
            processing_details(o, SCOPES)
        })
        .str(
            "AuthenticationProtocol",
            if s.interactive { "none" } else { "oAuth2" },
        )
        .str(
            "AuthenticationRequirement",
            if mfa || u.admin {
                "multiFactorAuthentication"
            } else {
                "singleFactorAuthentication"
            },
        )
        .str(
            "AuthenticationRequirementPolicies",
            r#"[{"requirementProvider":"multiConditionalAccess","detail":"Conditional Access"}]"#,
        )
        .str("AuthenticatorAppLocation", "")
        .str(
            "AutonomousSystemNumber",
            &(3000 + u32::from(s.city.net.0) * 37 % 60000).to_string(),
        )
        .str("ClientAppUsed", client_app)
        .str("ClientCredentialType", "none")
        .str(
            "ConditionalAccessAudiences",
            &format!(r#"["{resource_app_id}"]"#),
        )
        .str(
            "ConditionalAccessStatus",
            if s.result == 0 {
                "success"
            } else if s.result == 50126 {
                "notApplied"
            } else {
                "failure"
            },
        );
    if s.interactive {
        o.with("ConditionalAccessPolicies", |o| {
            conditional_access(o, t, s.result, azure)
        });
    } else {
        o.str(
            "ConditionalAccessPolicies",
            &applied_policies_text(t, s.result, azure),
        );
    }
    o.time("CreatedDateTime", time)
        .str("CrossTenantAccessType", "none");
    if s.interactive {
        o.with("DeviceDetail", |o| device_detail(o, device, ua));
    } else {
        o.json_text("DeviceDetail", |o| device_detail(o, device, ua));
    }
    o.str("FederatedCredentialId", "")
        .str("GlobalSecureAccessIpAddress", "")
        .str("HomeTenantId", &t.tenant_id)
        .str("HomeTenantName", "")
        .str("Id", &id)
        .str(
            "IncomingTokenType",
            if s.interactive {
                "none"
            } else {
                "primaryRefreshToken"
            },
        )
        .str("IPAddress", &ip_text(s.ip))
        .bool("IsInteractive", s.interactive)
        .bool("IsRisky", false)
        .bool("IsTenantRestricted", false)
        .bool("IsThroughGlobalSecureAccess", false);
    if s.interactive {
        o.with("LocationDetails", |o| location_details(o, s.city, r));
        o.with("MfaDetail", |o| {
            if mfa {
                Obj::new(o)
                    .str("authMethod", "Mobile app notification")
                    .str("authDetail", "")
                    .end();
            } else {
                o.push_str("{}");
            }
        });
    } else {
        o.json_text("LocationDetails", |o| location_details(o, s.city, r));
        o.str("MfaDetail", "{}");
    }
    o.str(
        "NetworkLocationDetails",
        &if at_office { r#"[{"networkType":"namedNetwork","networkNames":["Corporate egress"]},{"networkType":"trustedNamedLocation","networkNames":["Corporate egress"]}]"#.to_string() } else { "[]".to_string() },
    )
    .str("OriginalRequestId", &id)
    .str("OriginalTransferMethod", "none")
    .str("ResourceDisplayName", resource)
    .str("ResourceIdentity", resource_app_id)
    .str("ResourceOwnerTenantId", "f8cdef31-a31e-4b4a-93e4-5f571e91255a")
    .str("ResourceServicePrincipalId", &super::rng::stable_guid(seed, "resource-sp", s.resource as u64))
    .str("ResourceTenantId", &t.tenant_id)
    .str("RiskDetail", "none")
    .str("RiskEventTypes", "[]")
    .str("RiskEventTypes_V2", "[]")
    .str("RiskLevelAggregated", "none")
    .str("RiskLevelDuringSignIn", "none")
    .str("RiskState", "none")
    .str("ServicePrincipalId", "")
    .str("SessionId", &session)
    .str("SessionLifetimePolicies", "[]")
    .str("SignInIdentifierType", "")
    .str("TokenIssuerName", "")
    .str("TokenIssuerType", "AzureAD");
    if s.interactive {
        o.with("Status", |o| status(o, s.result, mfa));
        o.with("TokenProtectionStatusDetails", |o| {
            o.push_str(r#"{"signInSessionStatus":"unbound","signInSessionStatusCode":1002}"#)
        });
        o.with("Agent", |o| o.push_str(r#"{"agentType":"notAgentic"}"#));
        o.with("AppliedEventListeners", |o| o.push_str("[]"));
        o.str("AppliedConditionalAccessPolicies", "");
        o.str("AuthenticationAppDeviceDetails", "");
        o.str("AuthenticationAppPolicyEvaluationDetails", "");
        o.bool("FlaggedForReview", false);
        o.str("ProcessingTimeInMilliseconds", &duration.to_string());
        o.str("Resource", "Microsoft.aadiam");
        o.str("ResourceProvider", "Microsoft.aadiam");
        o.str(
            "ResourceId",
            &format!("/tenants/{}/providers/Microsoft.aadiam", t.tenant_id),
        );
        o.str("RiskLevel", "");
        o.str("ServicePrincipalName", "");
        o.str("SignInIdentifier", &u.upn);
        o.str("SourceAppClientId", "");
    } else {
        o.json_text("Status", |o| status(o, s.result, mfa));
        o.str(
            "TokenProtectionStatusDetails",
            r#"{"signInSessionStatus":"unbound","signInSessionStatusCode":1002}"#,
        );
        o.str("Agent", r#"{"agentType":"notAgentic"}"#);
        o.with("AppliedEventListeners", |o| o.push_str("[]"));
        o.str("ClientSessionId", &session);
        o.str("ProcessingTimeInMs", &duration.to_string());
        o.str("SignInEventTypes", r#"["nonInteractiveUser"]"#);
    }
    o.str("UniqueTokenIdentifier", &r.hex(22))
        .str("UserAgent", ua)
        .str("UserDisplayName", &u.name)
        .str("UserId", &u.id)
        .str("UserPrincipalName", &u.upn)
        .str("UserType", "Member")
        .str("Type", table);
    // The billed size is about the record's own size.
    let len = out.len() - start;
    let _ = write!(
        out,
        ",\"_IsBillable\":\"True\",\"_BilledSize\":{}",
        len + 40
    );
    out.push('}');
}

fn sp_sign_in(t: &Tenant, seed: u64, time: i64, s: &SpSignIn, r: &mut Rng, out: &mut String) {
    let Some(sp) = t.sps.get(s.sp) else {
        return;
    };
    let (resource, resource_app_id) = RESOURCES[s.resource.min(RESOURCES.len() - 1)];
    let id = r.guid();
    let corr = r.guid();
    let city = super::tenant::CITIES[t.offices.first().map_or(0, |o| o.0)];
    let mut o = Obj::new(out);
    o.str("TenantId", &t.workspace_id)
        .str("SourceSystem", "Azure AD")
        .time("TimeGenerated", time)
        .str("OperationName", "Sign-in activity")
        .str("OperationVersion", "1.0")
        .str("Category", "ServicePrincipalSignInLogs")
        .str("ResultType", &s.result.to_string())
        .str("ResultSignature", if s.result == 0 { "SUCCESS" } else { "None" })
        .str("ResultDescription", error_text(s.result))
        .int("DurationMs", 0)
        .str("CorrelationId", &corr)
        .str("ResourceGroup", "Microsoft.aadiam")
        .str("Identity", &sp.name)
        .str("Level", if s.result == 0 { "4" } else { "3" })
        .str("Location", if s.ip >> 24 == 10 { "" } else { city.country })
        .str("AppId", &sp.app_id)
        .str("AuthenticationProcessingDetails", r#"[{"key":"Azure AD App Authentication Library","value":"Family: MSAL Library: MSAL.NET 4.60.3 Platform: .NET"},{"key":"Is CAE Token","value":"False"}]"#)
        .str("ClientCredentialType", sp.credential)
        .str("ConditionalAccessPolicies", "[]")
        .str("ConditionalAccessStatus", "notApplied")
        .str("FederatedCredentialId", "")
        .str("Id", &id)
        .str("IPAddress", &ip_text(s.ip))
        .json_text("LocationDetails", |o| {
            if s.ip >> 24 == 10 {
                o.push_str(r#"{"city":"","state":"","countryOrRegion":"","geoCoordinates":{}}"#);
            } else {
                location_details(o, &city, r);
            }
        })
        .str("ResourceDisplayName", resource)
        .str("ResourceIdentity", resource_app_id)
        .str("ServicePrincipalCredentialKeyId", &sp.key_id)
        .str("ServicePrincipalCredentialThumbprint", if sp.credential == "certificate" { &sp.thumbprint } else { "" })
        .str("ServicePrincipalId", &sp.id)
        .str("ServicePrincipalName", &sp.name)
        .str("UniqueTokenIdentifier", &r.hex(22))
        .str("UserAgent", "")
        .str("Type", "AADServicePrincipalSignInLogs")
        .str("_ItemId", &super::rng::stable_guid(seed, "item", r.next_u64()));
    o.end();
}

fn mi_sign_in(t: &Tenant, time: i64, s: &MiSignIn, r: &mut Rng, out: &mut String) {
    let Some(mi) = t.mis.get(s.mi) else {
        return;
    };
    let (resource, resource_app_id) = RESOURCES[s.resource.min(RESOURCES.len() - 1)];
    let id = r.guid();
    let corr = r.guid();
    Obj::new(out)
        .str("TenantId", &t.workspace_id)
        .str("SourceSystem", "Azure AD")
        .time("TimeGenerated", time)
        .str("OperationName", "Sign-in activity")
        .str("OperationVersion", "1.0")
        .str("Category", "ManagedIdentitySignInLogs")
        .str("ResultType", "0")
        .str("ResultSignature", "SUCCESS")
        .str("ResultDescription", "")
        .int("DurationMs", 0)
        .str("CorrelationId", &corr)
        .str("ResourceGroup", "Microsoft.aadiam")
        .str("Identity", &mi.name)
        .str("Level", "4")
        .str("Location", "")
        .str("AppId", &mi.app_id)
        .str("AuthenticationContextClassReferences", "[]")
        .str("AuthenticationProcessingDetails", r#"[{"key":"Azure AD App Authentication Library","value":"Family: Unknown Library: Unknown Platform: Unknown"},{"key":"Is CAE Token","value":"False"}]"#)
        .str("ConditionalAccessPolicies", "[]")
        .with("ConditionalAccessPoliciesV2", |o| o.push_str("[]"))
        .str("ConditionalAccessStatus", "notApplied")
        .str("FederatedCredentialId", "")
        .str("Id", &id)
        .str("IPAddress", &ip_text(mi.ip))
        .str("LocationDetails", r#"{"city":"","state":"","countryOrRegion":"","geoCoordinates":{}}"#)
        .str("ResourceDisplayName", resource)
        .str("ResourceIdentity", resource_app_id)
        .str("ResourceServicePrincipalId", &guid_from(r.next_u64(), 0))
        .str("ServicePrincipalCredentialKeyId", "")
        .str("ServicePrincipalCredentialThumbprint", "")
        .str("ServicePrincipalId", &mi.id)
        .str("ServicePrincipalName", &mi.name)
        .str("UniqueTokenIdentifier", &r.hex(22))
        .str("Type", "AADManagedIdentitySignInLogs")
        .end();
}

fn initiated_by(t: &Tenant, a: &Actor, out: &mut String) {
    match a {
        Actor::User(u, ip) => {
            let (id, upn) = t
                .users
                .get(*u)
                .map_or(("", ""), |u| (u.id.as_str(), u.upn.as_str()));
            out.push_str("{\"user\":");
            Obj::new(out)
                .str("id", id)
                .null("displayName")
                .str("userPrincipalName", upn)
                .str("ipAddress", &ip_text(*ip))
                .with("roles", |o| o.push_str("[]"))
                .end();
            out.push('}');
        }
        Actor::Sync => {
            out.push_str("{\"user\":");
            Obj::new(out)
                .str("id", &t.sync_account)
                .null("displayName")
                .str(
                    "userPrincipalName",
                    &format!("Sync_SRV-AADC01_4f1a2b3c4d5e@{}", t.domain),
                )
                .str("ipAddress", "")
                .with("roles", |o| o.push_str("[]"))
                .end();
            out.push('}');
        }
        Actor::FirstParty(name, app_id) => {
            out.push_str("{\"app\":");
            Obj::new(out)
                .str("appId", app_id)
                .str("displayName", name)
                .str(
                    "servicePrincipalId",
                    &guid_from(
                        super::rng::hash_str(name),
                        super::rng::hash_str(&t.tenant_id),
                    ),
                )
                .null("servicePrincipalName")
                .end();
            out.push('}');
        }
        Actor::App(s, ip) => {
            let Some(sp) = t.sps.get(*s) else {
                out.push_str("{}");
                return;
            };
            out.push_str("{\"app\":");
            Obj::new(out)
                .str("appId", &sp.app_id)
                .str("displayName", &sp.name)
                .str("servicePrincipalId", &sp.id)
                .null("servicePrincipalName")
                .str("ipAddress", &ip_text(*ip))
                .end();
            out.push('}');
        }
    }
}

fn target_resources(t: &Tenant, seed: u64, a: &Audit, out: &mut String) {
    out.push('[');
    let mut o = Obj::new(out);
    match &a.target {
        Target::User(u) | Target::RoleMember(u, _) => {
            let (id, upn, name) = t.users.get(*u).map_or(("", "", ""), |u| {
                (u.id.as_str(), u.upn.as_str(), u.name.as_str())
            });
            o.str("id", id)
                .str("displayName", name)
                .str("type", "User")
                .str("userPrincipalName", upn);
        }
        Target::Device(u, d) => {
            let dev = t.users.get(*u).and_then(|u| u.devices.get(*d));
            o.str("id", dev.map_or("", |d| d.id.as_str()))
                .str("displayName", dev.map_or("", |d| d.name.as_str()))
                .str("type", "Device");
        }
        Target::Application(s) => {
            let sp = t.sps.get(*s);
            o.str("id", sp.map_or("", |s| s.app_object_id.as_str()))
                .str("displayName", sp.map_or("", |s| s.name.as_str()))
                .str("type", "Application");
        }
        Target::ServicePrincipal(s) => {
            let sp = t.sps.get(*s);
            o.str("id", sp.map_or("", |s| s.id.as_str()))
                .str("displayName", sp.map_or("", |s| s.name.as_str()))
                .str("type", "ServicePrincipal");
        }
    }
    o.with("modifiedProperties", |o| {
        o.push('[');
        for (i, (name, old, new)) in a.props.iter().enumerate() {
            if i > 0 {
                o.push(',');
            }
            Obj::new(o)
                .str("displayName", name)
                .str("oldValue", old)
                .str("newValue", new)
                .end();
        }
        o.push(']');
    })
    .with("administrativeUnits", |o| o.push_str("[]"));
    o.end();
    if let Target::RoleMember(_, role) = &a.target {
        out.push(',');
        Obj::new(out)
            .str(
                "id",
                &super::rng::stable_guid(seed, "role", super::rng::hash_str(role)),
            )
            .str("displayName", role)
            .str("type", "Role")
            .with("modifiedProperties", |o| o.push_str("[]"))
            .with("administrativeUnits", |o| o.push_str("[]"))
            .end();
    }
    out.push(']');
}

fn audit(t: &Tenant, seed: u64, time: i64, a: &Audit, r: &mut Rng, out: &mut String) {
    let corr = correlation_id(seed, a.correlation);
    let service = match a.category {
        "ApplicationManagement" | "RoleManagement" | "GroupManagement" | "Device" => {
            "Core Directory"
        }
        _ if a.operation.contains("security info") => "Authentication Methods",
        _ => "Core Directory",
    };
    let ua = match &a.actor {
        Actor::User(..) => {
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.80"
        }
        _ => "",
    };
    let start = out.len();
    let mut o = Obj::new(out);
    o.str("TenantId", &t.workspace_id)
        .str("SourceSystem", "Azure AD")
        .time("TimeGenerated", time)
        .str(
            "ResourceId",
            &format!("/tenants/{}/providers/Microsoft.aadiam", t.tenant_id),
        )
        .str("OperationName", a.operation)
        .str("OperationVersion", "1.0")
        .str("Category", a.category)
        .str("ResultType", "")
        .str("ResultSignature", "None")
        .str("ResultDescription", "")
        .int("DurationMs", 0)
        .str("CorrelationId", &corr)
        .str("Resource", "Microsoft.aadiam")
        .str("ResourceGroup", "Microsoft.aadiam")
        .str("ResourceProvider", "")
        .str("Identity", "")
        .str("Level", "4")
        .str("Location", "")
        .with("AdditionalDetails", |o| {
            if ua.is_empty() {
                o.push_str("[]");
            } else {
                o.push_str("[{\"key\":\"User-Agent\",\"value\":");
                push_str_lit(o, ua);
                o.push_str("}]");
            }
        })
        .str(
            "Id",
            &format!(
                "Directory_{corr}_{}_{}",
                r.hex(5).to_ascii_uppercase(),
                r.range(10_000_000, 99_999_999)
            ),
        )
        .with("InitiatedBy", |o| initiated_by(t, &a.actor, o))
        .str("LoggedByService", service)
        .str("Result", "success")
        .str("ResultReason", "")
        .with("TargetResources", |o| target_resources(t, seed, a, o))
        .str("AADTenantId", &t.tenant_id)
        .str("ActivityDisplayName", a.operation)
        .time("ActivityDateTime", time)
        .str(
            "AADOperationType",
            if a.operation.starts_with("Add") {
                "Add"
            } else if a.operation.starts_with("Delete") {
                "Delete"
            } else {
                "Update"
            },
        )
        .str("Type", "AuditLogs");
    let len = out.len() - start;
    let _ = write!(
        out,
        ",\"_IsBillable\":\"True\",\"_BilledSize\":{}",
        len + 40
    );
    out.push('}');
}

fn provisioning(t: &Tenant, time: i64, p: &Provisioning, r: &mut Rng, out: &mut String) {
    let (Some(job), Some(u)) = (t.jobs.get(p.job), t.users.get(p.user)) else {
        return;
    };
    let change = r.guid();
    let cycle = guid_from(
        super::rng::mix64(p.cycle),
        super::rng::mix64(p.cycle ^ 0x5151),
    );
    let target_id = guid_from(
        super::rng::mix64(p.user as u64 ^ super::rng::hash_str(job.app)),
        7,
    );
    let (src_system, tgt_system) = if job.inbound {
        ("Workday", "Entra ID")
    } else {
        ("Entra ID", job.target_system)
    };
    let (src_id, tgt_id) = if job.inbound {
        (format!("{}", 21000 + p.user), u.id.clone())
    } else {
        (u.id.clone(), target_id)
    };
    let result = p.result;
    let (code, reason) = p.error.unwrap_or(("", ""));
    let mut o = Obj::new(out);
    o.str("TenantId", &t.workspace_id)
        .str("AADTenantId", &t.tenant_id)
        .time("TimeGenerated", time)
        .str("OperationName", p.action)
        .str("OperationVersion", "1.0")
        .str("Category", "ProvisioningLogs")
        .str("ResultType", result)
        .str(
            "ResultSignature",
            if code.is_empty() { "None" } else { code },
        )
        .str(
            "ResultDescription",
            if reason.is_empty() { "" } else { reason },
        )
        .int("DurationMs", r.range(80, 4000))
        .str("CorrelationId", &r.guid())
        .str("Action", p.action)
        .str("ChangeId", &change)
        .str("CycleId", &cycle)
        .str("Id", &r.guid())
        .json_text("InitiatedBy", |o| {
            Obj::new(o)
                .str("Id", "")
                .str("Name", "Azure AD Provisioning Service")
                .str("Type", "application")
                .end()
        })
        .str("JobId", &job.job_id)
        .json_text("ModifiedProperties", |o| {
            o.push('[');
            let props: [(&str, String); 5] = [
                ("accountEnabled", (p.action != "Disable").to_string()),
                ("displayName", u.name.clone()),
                ("userPrincipalName", u.upn.clone()),
                ("department", u.department.to_string()),
                ("jobTitle", u.title.to_string()),
            ];
            for (i, (k, v)) in props.iter().enumerate() {
                if i > 0 {
                    o.push(',');
                }
                Obj::new(o)
                    .str("displayName", k)
                    .str("oldValue", "")
                    .str("newValue", v)
                    .end();
            }
            o.push(']');
        })
        .json_text("ProvisioningSteps", |o| {
            o.push('[');
            let steps: [(&str, &str, &str); 4] = [
                (
                    "Import",
                    "EntryImport",
                    "Received User from the source system",
                ),
                (
                    "Scoping",
                    "EntrySynchronizationScoping",
                    "Determined the User is in scope",
                ),
                (
                    "Matching",
                    "EntryImport",
                    "Matched the User in the target system",
                ),
                (
                    "Export",
                    "EntryExportUpdate",
                    if result == "Failure" {
                        "Failed to export the User to the target system"
                    } else {
                        "User was updated in the target system"
                    },
                ),
            ];
            for (i, (step, name, desc)) in steps.iter().enumerate() {
                if i > 0 {
                    o.push(',');
                }
                let failed = result == "Failure" && i == 3;
                Obj::new(o)
                    .str("name", name)
                    .str("provisioningStepType", step)
                    .str(
                        "status",
                        if failed {
                            "failure"
                        } else if result == "Skipped" && i == 1 {
                            "skipped"
                        } else {
                            "success"
                        },
                    )
                    .str("description", desc)
                    .with("details", |o| o.push_str("{}"))
                    .end();
            }
            o.push(']');
        })
        .json_text("ServicePrincipal", |o| {
            Obj::new(o).str("Id", &job.sp_id).str("Name", job.app).end()
        })
        .json_text("SourceIdentity", |o| {
            Obj::new(o)
                .str("Id", &src_id)
                .str("Name", &u.name)
                .str("identityType", if job.inbound { "Worker" } else { "User" })
                .with("details", |o| o.push_str("{}"))
                .end()
        })
        .json_text("SourceSystem", |o| {
            Obj::new(o)
                .str("Id", "")
                .str("Name", src_system)
                .with("details", |o| o.push_str("{}"))
                .end()
        })
        .json_text("StatusInfo", |o| {
            let mut s = Obj::new(o);
            s.str("status", &result.to_ascii_lowercase());
            if !code.is_empty() {
                s.with("errorInformation", |o| {
                    Obj::new(o)
                        .str("errorCode", code)
                        .str("reason", reason)
                        .str("errorCategory", "NonServiceFailure")
                        .str("recommendedAction", "")
                        .end()
                });
            }
            s.end()
        })
        .json_text("TargetIdentity", |o| {
            Obj::new(o)
                .str("Id", &tgt_id)
                .str("Name", &u.upn)
                .str("identityType", "User")
                .with("details", |o| o.push_str("{}"))
                .end()
        })
        .json_text("TargetSystem", |o| {
            Obj::new(o)
                .str("Id", "")
                .str("Name", tgt_system)
                .with("details", |o| o.push_str("{}"))
                .end()
        })
        .str("ProvisioningAction", &p.action.to_ascii_lowercase())
        .str("ProvisioningStatusInfo", "")
        .str("Type", "AADProvisioningLogs");
    o.end();
}

fn activity(t: &Tenant, seed: u64, time: i64, a: &Activity, r: &mut Rng, out: &mut String) {
    let caller = match &a.caller {
        Caller::User(u) => t.users.get(*u).map_or(String::new(), |u| u.upn.clone()),
        Caller::Sp(s) => t.sps.get(*s).map_or(String::new(), |s| s.id.clone()),
        Caller::Mi(m) => t.mis.get(*m).map_or(String::new(), |m| m.id.clone()),
    };
    let (op, display) = a.operation;
    let provider = op.split('/').next().unwrap_or("");
    let provider_mixed = match provider {
        "MICROSOFT.COMPUTE" => "Microsoft.Compute",
        "MICROSOFT.STORAGE" => "Microsoft.Storage",
        "MICROSOFT.KEYVAULT" => "Microsoft.KeyVault",
        "MICROSOFT.AUTHORIZATION" => "Microsoft.Authorization",
        "MICROSOFT.WEB" => "Microsoft.Web",
        "MICROSOFT.RESOURCES" => "Microsoft.Resources",
        "MICROSOFT.NETWORK" => "Microsoft.Network",
        _ => provider,
    };
    let rtype = op.split('/').nth(1).unwrap_or("").to_ascii_lowercase();
    let resource_id = format!(
        "/SUBSCRIPTIONS/{}/RESOURCEGROUPS/{}/PROVIDERS/{}/{}/{}",
        t.subscription.to_ascii_uppercase(),
        a.resource_group.to_ascii_uppercase(),
        provider,
        rtype.to_ascii_uppercase(),
        a.resource.to_ascii_uppercase()
    );
    let corr = correlation_id(seed, a.correlation);
    let event_id = r.guid();
    let started = a.status == "Started";
    let claims_upn = match &a.caller {
        Caller::User(u) => t.users.get(*u).map_or(String::new(), |u| u.upn.clone()),
        _ => String::new(),
    };
    let appid = match &a.caller {
        Caller::User(_) => "c44b4083-3bb0-49c1-b47d-974e53cbdf3c".to_string(),
        Caller::Sp(s) => t.sps.get(*s).map_or(String::new(), |s| s.app_id.clone()),
        Caller::Mi(m) => t.mis.get(*m).map_or(String::new(), |m| m.app_id.clone()),
    };
    let mut o = Obj::new(out);
    o.str("TenantId", &t.workspace_id)
        .str("SourceSystem", "Azure")
        .str("CallerIpAddress", &ip_text(a.ip))
        .str("CategoryValue", "Administrative")
        .str("CorrelationId", &corr)
        .str(
            "Authorization",
            &format!(
                r#"{{"action":"{}","scope":"{}"}}"#,
                op.to_ascii_lowercase(),
                resource_id.to_ascii_lowercase()
            ),
        )
        .json_text("Authorization_d", |o| {
            Obj::new(o)
                .str("action", &op.to_ascii_lowercase())
                .str("scope", &resource_id.to_ascii_lowercase())
                .with("evidence", |o| {
                    Obj::new(o)
                        .str(
                            "role",
                            if matches!(a.caller, Caller::User(_)) {
                                "Contributor"
                            } else {
                                "Owner"
                            },
                        )
                        .str(
                            "roleAssignmentScope",
                            &format!("/subscriptions/{}", t.subscription),
                        )
                        .str("principalId", &caller)
                        .str(
                            "principalType",
                            if matches!(a.caller, Caller::User(_)) {
                                "User"
                            } else {
                                "ServicePrincipal"
                            },
                        )
                        .end()
                })
                .end()
        })
        .str("Claims", "")
        .json_text("Claims_d", |o| {
            let mut c = Obj::new(o);
            c.str("aud", "https://management.core.windows.net/")
                .str("iss", &format!("https://sts.windows.net/{}/", t.tenant_id))
                .str("appid", &appid)
                .str(
                    "appidacr",
                    if matches!(a.caller, Caller::User(_)) {
                        "0"
                    } else {
                        "1"
                    },
                )
                .str(
                    "http://schemas.microsoft.com/identity/claims/objectidentifier",
                    &caller,
                )
                .str(
                    "http://schemas.microsoft.com/identity/claims/tenantid",
                    &t.tenant_id,
                )
                .str("ipaddr", &ip_text(a.ip));
            if !claims_upn.is_empty() {
                c.str(
                    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn",
                    &claims_upn,
                );
            }
            c.end()
        })
        .str("Level", "Informational")
        .str("OperationNameValue", op)
        .str("Properties", "")
        .json_text("Properties_d", |o| {
            Obj::new(o)
                .str("eventCategory", "Administrative")
                .str("entity", &resource_id)
                .str("message", &op.to_ascii_lowercase())
                .str("hierarchy", &format!("{}/{}", t.tenant_id, t.subscription))
                .end()
        })
        .str("Caller", &caller)
        .time(
            "EventSubmissionTimestamp",
            time + r.range(1, 20) * TICKS_PER_SECOND,
        )
        .str(
            "HTTPRequest",
            &format!(
                r#"{{"clientRequestId":"{}","clientIpAddress":"{}","method":"{}"}}"#,
                r.guid(),
                ip_text(a.ip),
                if op.ends_with("/DELETE") {
                    "DELETE"
                } else if op.ends_with("/ACTION") {
                    "POST"
                } else {
                    "PUT"
                }
            ),
        )
        .str("OperationId", &r.guid())
        .str("ResourceGroup", &a.resource_group.to_ascii_uppercase())
        .str("ResourceProviderValue", provider)
        .str(
            "ActivityStatusValue",
            if started { "Start" } else { "Success" },
        )
        .str("SubscriptionId", &t.subscription)
        .str("EventDataId", &event_id)
        .str("OperationName", display)
        .str(
            "ActivityStatus",
            if started { "Started" } else { "Succeeded" },
        )
        .str("Category", "Administrative")
        .str("ResourceId", &resource_id)
        .str("ResourceProvider", provider_mixed)
        .str("Resource", &a.resource)
        .str("Hierarchy", &format!("{}/{}", t.tenant_id, t.subscription))
        .str("_ResourceId", &resource_id.to_ascii_lowercase())
        .time("TimeGenerated", time)
        .str("Type", "AzureActivity");
    o.end();
}
