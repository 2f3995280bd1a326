//! The synthetic tenant: users with home locations and devices, the Microsoft applications and
//! resources they sign in to, the tenant's service principals with their hourly rhythms,
//! managed identities, provisioning jobs and administrators. A pure function of the
//! configuration and seed.

use super::TenantConfig;
use super::json::ip;
use super::rng::{Rng, stable_guid};

/// A place sign-ins come from.
#[derive(Clone, Copy, Debug)]
pub struct City {
    /// City name.
    pub city: &'static str,
    /// State or region.
    pub state: &'static str,
    /// ISO country code (the `Location` column).
    pub country: &'static str,
    /// Latitude.
    pub lat: f64,
    /// Longitude.
    pub lon: f64,
    /// Hours to add to UTC for local time.
    pub utc_offset: i64,
    /// First two octets of the addresses of the city's broadband and mobile providers.
    pub net: (u8, u8),
}

const fn city(
    city: &'static str,
    state: &'static str,
    country: &'static str,
    lat: f64,
    lon: f64,
    utc_offset: i64,
    net: (u8, u8),
) -> City {
    City {
        city,
        state,
        country,
        lat,
        lon,
        utc_offset,
        net,
    }
}

/// Where the tenant's people live and work.
pub static CITIES: [City; 16] = [
    city("London", "England", "GB", 51.5072, -0.1276, 1, (81, 2)),
    city("Manchester", "England", "GB", 53.4808, -2.2426, 1, (86, 12)),
    city(
        "Amsterdam",
        "Noord-Holland",
        "NL",
        52.3676,
        4.9041,
        2,
        (84, 80),
    ),
    city("Berlin", "Berlin", "DE", 52.52, 13.405, 2, (91, 64)),
    city("Munich", "Bayern", "DE", 48.1351, 11.582, 2, (93, 104)),
    city("Paris", "Paris", "FR", 48.8566, 2.3522, 2, (82, 64)),
    city("Madrid", "Madrid", "ES", 40.4168, -3.7038, 2, (83, 40)),
    city(
        "Stockholm",
        "Stockholms lan",
        "SE",
        59.3293,
        18.0686,
        2,
        (94, 254),
    ),
    city("Dublin", "Dublin", "IE", 53.3498, -6.2603, 1, (89, 101)),
    city(
        "New York",
        "New York",
        "US",
        40.7128,
        -74.006,
        -4,
        (72, 229),
    ),
    city("Chicago", "Illinois", "US", 41.8781, -87.6298, -5, (73, 44)),
    city(
        "Seattle",
        "Washington",
        "US",
        47.6062,
        -122.3321,
        -7,
        (71, 212),
    ),
    city("Austin", "Texas", "US", 30.2672, -97.7431, -5, (70, 112)),
    city("Toronto", "Ontario", "CA", 43.6532, -79.3832, -4, (99, 224)),
    city(
        "Singapore",
        "Singapore",
        "SG",
        1.3521,
        103.8198,
        8,
        (116, 88),
    ),
    city(
        "Sydney",
        "New South Wales",
        "AU",
        -33.8688,
        151.2093,
        10,
        (101, 160),
    ),
];

/// Where attacks come from: hosting providers and anonymising networks far from the tenant.
pub static ATTACKER_CITIES: [City; 6] = [
    city("Lagos", "Lagos", "NG", 6.5244, 3.3792, 1, (203, 0)),
    city("Moscow", "Moscow", "RU", 55.7558, 37.6173, 3, (203, 0)),
    city(
        "Bucharest",
        "Bucuresti",
        "RO",
        44.4268,
        26.1025,
        3,
        (198, 51),
    ),
    city(
        "Ho Chi Minh City",
        "Ho Chi Minh",
        "VN",
        10.8231,
        106.6297,
        7,
        (203, 0),
    ),
    city(
        "Sao Paulo",
        "Sao Paulo",
        "BR",
        -23.5505,
        -46.6333,
        -3,
        (198, 51),
    ),
    city(
        "Frankfurt am Main",
        "Hessen",
        "DE",
        50.1109,
        8.6821,
        2,
        (198, 51),
    ),
];

/// A Microsoft application users sign in with: (display name, app id, client app used,
/// resource index into [`RESOURCES`], weight).
pub const USER_APPS: [(&str, &str, &str, usize, u32); 12] = [
    (
        "Microsoft Teams",
        "1fec8e78-bce4-4aaf-ab1b-5451cc387264",
        "Mobile Apps and Desktop clients",
        6,
        30,
    ),
    (
        "Microsoft Office",
        "d3590ed6-52b3-4102-aeff-aad2292ab01c",
        "Mobile Apps and Desktop clients",
        1,
        18,
    ),
    (
        "OfficeHome",
        "4765445b-32c6-49b0-83e6-1d93765276ca",
        "Browser",
        2,
        14,
    ),
    (
        "Office 365 Exchange Online",
        "00000002-0000-0ff1-ce00-000000000000",
        "Browser",
        1,
        10,
    ),
    (
        "Office 365 SharePoint Online",
        "00000003-0000-0ff1-ce00-000000000000",
        "Browser",
        2,
        8,
    ),
    (
        "Azure Portal",
        "c44b4083-3bb0-49c1-b47d-974e53cbdf3c",
        "Browser",
        4,
        5,
    ),
    (
        "Windows Sign In",
        "38aa3b87-a06d-4817-b275-7a316988d93b",
        "Mobile Apps and Desktop clients",
        7,
        8,
    ),
    (
        "Microsoft Authentication Broker",
        "29d9ed98-a469-4536-ade2-f981bc1d605e",
        "Mobile Apps and Desktop clients",
        8,
        4,
    ),
    (
        "My Signins",
        "19db86c3-b2b9-44cc-b339-36da233a3be2",
        "Browser",
        0,
        1,
    ),
    (
        "Microsoft Edge",
        "ecd6b820-32c2-49b6-98a6-444530e5a77a",
        "Mobile Apps and Desktop clients",
        0,
        4,
    ),
    (
        "Microsoft Azure CLI",
        "04b07795-8ddb-461a-bbee-02f9e1bf7b46",
        "Mobile Apps and Desktop clients",
        4,
        2,
    ),
    (
        "Microsoft Outlook",
        "27922004-5251-4030-b22d-91ecd9a37ea4",
        "Mobile Apps and Desktop clients",
        1,
        6,
    ),
];

/// A resource tokens are issued for: (display name, app id of its service principal).
pub const RESOURCES: [(&str, &str); 14] = [
    ("Microsoft Graph", "00000003-0000-0000-c000-000000000000"),
    (
        "Office 365 Exchange Online",
        "00000002-0000-0ff1-ce00-000000000000",
    ),
    (
        "Office 365 SharePoint Online",
        "00000003-0000-0ff1-ce00-000000000000",
    ),
    (
        "Windows Azure Active Directory",
        "00000002-0000-0000-c000-000000000000",
    ),
    (
        "Windows Azure Service Management API",
        "797f4846-ba00-4fd7-ba43-dac1f8f63013",
    ),
    ("Azure Key Vault", "cfa8b339-82a2-471a-a3c9-0fc0be7a4093"),
    (
        "Microsoft Teams Services",
        "cc15fd57-2c6c-4117-a88c-83b1d56b4bbe",
    ),
    (
        "Windows Azure Active Directory",
        "00000002-0000-0000-c000-000000000000",
    ),
    (
        "Microsoft Intune Enrollment",
        "d4ebce55-015a-49b5-a083-c84d1797ae8c",
    ),
    ("Azure Storage", "e406a681-f3d4-42a8-90b6-c2b029497af1"),
    (
        "Azure Resource Manager",
        "797f4846-ba00-4fd7-ba43-dac1f8f63013",
    ),
    ("Azure DevOps", "499b84ac-1321-427f-aa17-267ca6975798"),
    ("Azure Service Bus", "80369ed6-5f11-4dd9-bef3-692475845e77"),
    ("Azure SQL Database", "022907d3-0f1b-48f7-badc-1ba6abab6d66"),
];

/// Index of Microsoft Graph in [`RESOURCES`].
pub const GRAPH: usize = 0;
/// Index of the legacy Azure AD Graph in [`RESOURCES`].
pub const AAD_GRAPH: usize = 3;
/// Index of the Azure Service Management API in [`RESOURCES`].
pub const ARM: usize = 4;
/// Index of Azure Key Vault in [`RESOURCES`].
pub const KEY_VAULT: usize = 5;
/// Resources the tenant's service principals use in benign time (never Microsoft Graph: every
/// service principal sign-in to Graph is an alert of the Graph rule).
pub const SP_RESOURCES: [usize; 7] = [1, 2, 5, 9, 11, 12, 13];
/// Resources managed identities use.
pub const MI_RESOURCES: [usize; 4] = [5, 9, 10, 13];

/// A user's device.
#[derive(Clone, Debug)]
pub struct Device {
    /// Entra device id (empty for unregistered devices).
    pub id: String,
    /// Host name.
    pub name: String,
    /// Operating system as sign-in logs show it.
    pub os: &'static str,
    /// Browser as sign-in logs show it.
    pub browser: &'static str,
    /// User agent string.
    pub user_agent: &'static str,
    /// Managed and compliant.
    pub compliant: bool,
    /// Join type.
    pub trust: &'static str,
}

/// A member of the tenant.
#[derive(Clone, Debug)]
pub struct User {
    /// Object id.
    pub id: String,
    /// User principal name (mixed case, as the directory holds it).
    pub upn: String,
    /// Display name.
    pub name: String,
    /// Index into [`CITIES`] of where they live.
    pub home: usize,
    /// Index into the tenant's offices, when they commute to one.
    pub office: Option<usize>,
    /// Their home broadband address.
    pub home_ip: u32,
    /// Laptop first, then possibly a phone.
    pub devices: Vec<Device>,
    /// A directory administrator.
    pub admin: bool,
    /// Local hour their day starts (7–10).
    pub day_start: i64,
    /// Department.
    pub department: &'static str,
    /// Job title.
    pub title: &'static str,
}

/// How a service principal's sign-ins spread over the day.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Rhythm {
    /// Busy in the working hours of its home city on weekdays, quiet at night and weekends.
    BusinessHours {
        /// Sign-ins in the busiest hour.
        peak: u32,
    },
    /// A batch job: about the same number of sign-ins every hour of every day.
    Constant {
        /// Mean sign-ins per hour.
        rate: u32,
    },
}

/// An application registration of the tenant with its service principal.
#[derive(Clone, Debug)]
pub struct ServicePrincipal {
    /// Display name (application and service principal share it).
    pub name: String,
    /// Service principal object id.
    pub id: String,
    /// Application (client) id.
    pub app_id: String,
    /// Application object id (the audit target of credential changes).
    pub app_object_id: String,
    /// Sign-in rhythm.
    pub rhythm: Rhythm,
    /// Resources it calls, indexes into [`RESOURCES`].
    pub resources: Vec<usize>,
    /// Addresses it signs in from.
    pub ips: Vec<u32>,
    /// `clientSecret` or `certificate`.
    pub credential: &'static str,
    /// Credential key id.
    pub key_id: String,
    /// Certificate thumbprint (certificates only).
    pub thumbprint: String,
    /// The day (from the start) it is registered and starts signing in; 0 for the existing ones.
    pub onboard_day: u32,
    /// Office index whose working hours a business-hours principal follows.
    pub office: usize,
}

/// A managed identity.
#[derive(Clone, Debug)]
pub struct ManagedIdentity {
    /// Its name (the Azure resource's name for system-assigned ones).
    pub name: String,
    /// Service principal object id.
    pub id: String,
    /// Application id.
    pub app_id: String,
    /// Resource group.
    pub resource_group: String,
    /// Address of its host.
    pub ip: u32,
    /// Token requests per day.
    pub per_day: u32,
    /// Resources it requests tokens for.
    pub resources: Vec<usize>,
}

/// An outbound or inbound provisioning job.
#[derive(Clone, Debug)]
pub struct ProvisioningJob {
    /// The provisioning application's service principal name.
    pub app: &'static str,
    /// Its service principal id.
    pub sp_id: String,
    /// Job id.
    pub job_id: String,
    /// Target system name.
    pub target_system: &'static str,
    /// Inbound (HR to Entra) or outbound (Entra to the app).
    pub inbound: bool,
}

/// The whole tenant.
#[derive(Clone, Debug)]
pub struct Tenant {
    /// Directory (tenant) id.
    pub tenant_id: String,
    /// Log Analytics workspace id (the `TenantId` column).
    pub workspace_id: String,
    /// Verified domain of the user principal names.
    pub domain: String,
    /// Azure subscription id.
    pub subscription: String,
    /// Offices: indexes into [`CITIES`], with their egress addresses.
    pub offices: Vec<(usize, u32)>,
    /// Members.
    pub users: Vec<User>,
    /// Application service principals.
    pub sps: Vec<ServicePrincipal>,
    /// Managed identities.
    pub mis: Vec<ManagedIdentity>,
    /// Provisioning jobs.
    pub jobs: Vec<ProvisioningJob>,
    /// Conditional Access policies: (id, name, grant controls, state).
    pub policies: Vec<(String, &'static str, &'static str, &'static str)>,
    /// Indexes of the administrators in `users`.
    pub admins: Vec<usize>,
    /// Object id of the directory sync account.
    pub sync_account: String,
}

const FIRST: [&str; 40] = [
    "Alex", "Maria", "James", "Sofia", "Liam", "Emma", "Noah", "Olivia", "Lucas", "Mia", "Ethan",
    "Ava", "Mateo", "Isla", "Leo", "Freya", "Hugo", "Chloe", "Oscar", "Nora", "Arjun", "Priya",
    "Kenji", "Yuki", "Omar", "Layla", "Finn", "Astrid", "Luca", "Giulia", "Ivan", "Elena", "Sam",
    "Zoe", "Daniel", "Hannah", "Felix", "Clara", "Tomas", "Ines",
];
const LAST: [&str; 40] = [
    "Smith",
    "Garcia",
    "Muller",
    "Rossi",
    "Jensen",
    "Novak",
    "Kowalski",
    "Silva",
    "Martin",
    "Brown",
    "Schmidt",
    "Dubois",
    "Lopez",
    "Nielsen",
    "Andersson",
    "Kim",
    "Patel",
    "Tanaka",
    "Okafor",
    "Haddad",
    "Murphy",
    "Walsh",
    "Fischer",
    "Weber",
    "Moreau",
    "Bianchi",
    "Costa",
    "Larsen",
    "Berg",
    "Lindqvist",
    "Chen",
    "Wong",
    "Singh",
    "Khan",
    "Ibrahim",
    "Evans",
    "Taylor",
    "Wilson",
    "Clarke",
    "Hughes",
];
const DEPARTMENTS: [(&str, &[&str]); 6] = [
    (
        "Engineering",
        &[
            "Software Engineer",
            "Senior Software Engineer",
            "Engineering Manager",
        ],
    ),
    ("Sales", &["Account Executive", "Sales Manager"]),
    ("Finance", &["Financial Analyst", "Controller"]),
    ("Marketing", &["Marketing Specialist", "Content Manager"]),
    (
        "Operations",
        &["Operations Analyst", "Site Reliability Engineer"],
    ),
    ("People", &["HR Business Partner", "Recruiter"]),
];
const DOMAINS: [&str; 6] = [
    "contoso.com",
    "fabrikam.com",
    "northwindtraders.com",
    "adatum.com",
    "woodgrovebank.com",
    "tailspintoys.com",
];

/// (os, browser, user agent, mobile)
const LAPTOPS: [(&str, &str, &str); 4] = [
    (
        "Windows10",
        "Edge 124.0.2478",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.80",
    ),
    (
        "Windows10",
        "Chrome 124.0.6367",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.6367.119 Safari/537.36",
    ),
    (
        "Windows 11",
        "Edge 125.0.2535",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/125.0.0.0 Safari/537.36 Edg/125.0.2535.51",
    ),
    (
        "MacOs",
        "Safari 17.4",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Safari/605.1.15",
    ),
];
const PHONES: [(&str, &str, &str); 2] = [
    (
        "Ios 17.4.1",
        "Mobile Safari",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 TeamsMobile-iOS",
    ),
    (
        "Android 14",
        "Chrome Mobile 124.0.6367",
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.6367.113 Mobile Safari/537.36",
    ),
];

/// Names of the tenant's own applications, with their rhythm class: true for batch jobs.
const SP_NAMES: [(&str, bool); 24] = [
    ("payroll-export", true),
    ("HR-Sync", false),
    ("backup-runner", true),
    ("crm-connector", false),
    ("invoice-processor", true),
    ("ci-deploy-pipeline", false),
    ("log-shipper", true),
    ("expense-portal-api", false),
    ("inventory-sync", true),
    ("support-desk-bot", false),
    ("data-lake-ingest", true),
    ("customer-portal", false),
    ("mail-archiver", true),
    ("bi-refresh", true),
    ("contract-signing", false),
    ("monitoring-agent", true),
    ("recruiting-app", false),
    ("edi-gateway", true),
    ("sales-forecast", false),
    ("asset-tracker", true),
    ("chatops-bridge", false),
    ("doc-indexer", true),
    ("travel-booking", false),
    ("build-cache", true),
];

const MI_NAMES: [&str; 10] = [
    "func-orders-prod",
    "vm-build-agent-01",
    "app-customer-api",
    "aks-prod-agentpool",
    "logic-invoice-flow",
    "func-image-resize",
    "vm-jumpbox-01",
    "adf-nightly-etl",
    "app-intranet",
    "aci-report-runner",
];

/// Provisioning applications: (service principal name, target system, inbound).
pub const PROVISIONING_APPS: [(&str, &str, bool); 7] = [
    (
        "Workday to Microsoft Entra ID User Provisioning",
        "Entra ID",
        true,
    ),
    ("ServiceNow", "ServiceNow", false),
    ("Salesforce", "Salesforce", false),
    ("Slack", "Slack", false),
    ("Zoom", "Zoom", false),
    ("GitHub Enterprise Managed User", "GitHub", false),
    ("Dropbox Business", "Dropbox", false),
];

const POLICIES: [(&str, &str, &str); 5] = [
    ("Require MFA for all users", "Mfa", "enabled"),
    ("Block legacy authentication", "Block", "enabled"),
    (
        "Require compliant or hybrid joined device",
        "RequireCompliantDevice",
        "enabled",
    ),
    ("Require MFA for Azure management", "Mfa", "enabled"),
    (
        "Block access from unsupported countries",
        "Block",
        "enabledForReportingButNotEnforced",
    ),
];

fn azure_ip(r: &mut Rng) -> u32 {
    let firsts = [20u8, 40, 52, 104, 13];
    ip(
        *r.pick(&firsts),
        r.range(1, 250) as u8,
        r.range(0, 255) as u8,
        r.range(2, 254) as u8,
    )
}

impl Tenant {
    /// Builds the tenant of `config`: the same configuration gives the same tenant.
    pub fn build(config: &TenantConfig) -> Tenant {
        let seed = config.seed;
        let mut r = Rng::derive(seed, "tenant", &[]);
        let domain = r.pick(&DOMAINS).to_string();
        let tenant_id = r.guid();
        let workspace_id = r.guid();
        let subscription = r.guid();
        // Two to four offices in distinct cities.
        let n_offices = 2 + r.index(3);
        let mut offices: Vec<(usize, u32)> = Vec::new();
        while offices.len() < n_offices {
            let c = r.index(CITIES.len());
            if offices.iter().all(|(o, _)| *o != c) {
                let net = CITIES[c].net;
                offices.push((
                    c,
                    ip(
                        net.0,
                        net.1.wrapping_add(7),
                        r.range(0, 255) as u8,
                        r.range(2, 250) as u8,
                    ),
                ));
            }
        }
        let mut users = Vec::with_capacity(config.users);
        let mut taken = std::collections::HashSet::new();
        for i in 0..config.users {
            let mut ur = Rng::derive(seed, "user", &[i as u64]);
            let first = *ur.pick(&FIRST);
            let last = *ur.pick(&LAST);
            let mut local = format!(
                "{}.{}",
                first.to_ascii_lowercase(),
                last.to_ascii_lowercase()
            );
            if !taken.insert(local.clone()) {
                local = format!("{local}{}", i);
                taken.insert(local.clone());
            }
            let upn = format!("{}@{domain}", cap_local(&local));
            let office = if ur.chance(0.8) {
                Some(ur.index(offices.len()))
            } else {
                None
            };
            let home = match office {
                Some(o) if ur.chance(0.9) => offices[o].0,
                _ => ur.index(CITIES.len()),
            };
            let net = CITIES[home].net;
            let home_ip = ip(net.0, net.1, ur.range(0, 255) as u8, ur.range(2, 254) as u8);
            let (os, browser, ua) = *ur.pick(&LAPTOPS);
            let mut devices = vec![Device {
                id: ur.guid(),
                name: format!(
                    "{}-{}",
                    if os == "MacOs" { "MBP" } else { "LT" },
                    ur.hex(6).to_ascii_uppercase()
                ),
                os,
                browser,
                user_agent: ua,
                compliant: true,
                trust: if os == "MacOs" {
                    "Azure AD registered"
                } else {
                    "Azure AD joined"
                },
            }];
            if ur.chance(0.7) {
                let (os, browser, ua) = *ur.pick(&PHONES);
                devices.push(Device {
                    id: ur.guid(),
                    name: if os.starts_with("Ios") {
                        "iPhone".into()
                    } else {
                        "Pixel 8".into()
                    },
                    os,
                    browser,
                    user_agent: ua,
                    compliant: true,
                    trust: "Azure AD registered",
                });
            }
            let (department, titles) = *ur.pick(&DEPARTMENTS);
            users.push(User {
                id: ur.guid(),
                upn,
                name: format!("{first} {last}"),
                home,
                office,
                home_ip,
                devices,
                admin: false,
                day_start: ur.range(7, 10),
                department,
                title: ur.pick::<&str>(titles),
            });
        }
        // About one administrator per 25 users, at least two (when there are users).
        let n_admins = (config.users / 25).clamp(2, 40).min(config.users);
        let admins: Vec<usize> = (0..n_admins)
            .map(|k| k * config.users.max(1) / n_admins.max(1))
            .collect();
        for &a in &admins {
            if let Some(u) = users.get_mut(a) {
                u.admin = true;
                u.department = "IT";
                u.title = "Identity Administrator";
            }
        }
        let mut sps = Vec::with_capacity(config.service_principals);
        for i in 0..config.service_principals {
            let mut sr = Rng::derive(seed, "sp", &[i as u64]);
            let (base, batch) = SP_NAMES[i % SP_NAMES.len()];
            let name = if i < SP_NAMES.len() {
                base.to_string()
            } else {
                format!("{base}-{}", i / SP_NAMES.len() + 1)
            };
            let rhythm = if batch {
                // Batch jobs: some light, some heavy (over the volume rule's 50 an hour).
                Rhythm::Constant {
                    rate: *sr.pick(&[6u32, 12, 24, 60, 90, 120]),
                }
            } else {
                Rhythm::BusinessHours {
                    peak: *sr.pick(&[8u32, 15, 24, 30, 36]),
                }
            };
            let n_res = 1 + sr.index(3);
            let mut resources = Vec::new();
            while resources.len() < n_res {
                let x = *sr.pick(&SP_RESOURCES);
                if !resources.contains(&x) {
                    resources.push(x);
                }
            }
            let n_ips = 1 + sr.index(3);
            let mut ips: Vec<u32> = (0..n_ips).map(|_| azure_ip(&mut sr)).collect();
            if sr.chance(0.3) {
                // Some run on premises, behind the allow-listed lab network.
                ips.push(ip(
                    10,
                    sr.range(1, 250) as u8,
                    sr.range(0, 255) as u8,
                    sr.range(2, 254) as u8,
                ));
            }
            let credential = if sr.chance(0.6) {
                "clientSecret"
            } else {
                "certificate"
            };
            // The last applications of a larger tenant are onboarded during the period: they
            // are registered, given a secret, and only then start signing in.
            let onboard_day = if config.service_principals >= 8
                && i + 2 >= config.service_principals
                && config.days >= 6
            {
                (config.days / 3 + (i % 2) as u32).max(1)
            } else {
                0
            };
            let app_id = sr.guid();
            sps.push(ServicePrincipal {
                name,
                id: sr.guid(),
                app_id,
                app_object_id: sr.guid(),
                rhythm,
                resources,
                ips,
                credential,
                key_id: sr.guid(),
                thumbprint: sr.hex(40).to_ascii_uppercase(),
                onboard_day,
                office: sr.index(offices.len()),
            });
        }
        let n_mis = (config.service_principals / 2).clamp(1, MI_NAMES.len() * 4);
        let mis = (0..n_mis)
            .map(|i| {
                let mut mr = Rng::derive(seed, "mi", &[i as u64]);
                let base = MI_NAMES[i % MI_NAMES.len()];
                let name = if i < MI_NAMES.len() {
                    base.to_string()
                } else {
                    format!("{base}-{}", i / MI_NAMES.len() + 1)
                };
                let rg = format!("rg-{}", base.split('-').nth(1).unwrap_or("prod"));
                let n_res = 1 + mr.index(2);
                let mut resources = Vec::new();
                while resources.len() < n_res {
                    let x = *mr.pick(&MI_RESOURCES);
                    if !resources.contains(&x) {
                        resources.push(x);
                    }
                }
                ManagedIdentity {
                    name,
                    id: mr.guid(),
                    app_id: mr.guid(),
                    resource_group: rg,
                    ip: ip(
                        10,
                        mr.range(1, 250) as u8,
                        mr.range(0, 255) as u8,
                        mr.range(4, 254) as u8,
                    ),
                    per_day: *mr.pick(&[24u32, 48, 96]),
                    resources,
                }
            })
            .collect();
        let n_jobs = (2 + config.users / 200).clamp(2, PROVISIONING_APPS.len());
        let jobs = (0..n_jobs)
            .map(|i| {
                let (app, target, inbound) = PROVISIONING_APPS[i];
                let mut jr = Rng::derive(seed, "job", &[i as u64]);
                let prefix: String = app
                    .chars()
                    .filter(|c| c.is_ascii_alphanumeric())
                    .take(12)
                    .collect();
                ProvisioningJob {
                    app,
                    sp_id: jr.guid(),
                    job_id: format!("{prefix}OutDelta.{}.{}", jr.hex(32), jr.guid()),
                    target_system: target,
                    inbound,
                }
            })
            .collect();
        let policies = POLICIES
            .iter()
            .enumerate()
            .map(|(i, (n, g, s))| (stable_guid(seed, "policy", i as u64), *n, *g, *s))
            .collect();
        Tenant {
            tenant_id,
            workspace_id,
            domain,
            subscription,
            offices,
            users,
            sps,
            mis,
            jobs,
            policies,
            admins,
            sync_account: r.guid(),
        }
    }

    /// The city a user signs in from on a working day at the office or at home.
    pub fn user_city(&self, u: &User, at_office: bool) -> usize {
        match (at_office, u.office) {
            (true, Some(o)) => self.offices[o].0,
            _ => u.home,
        }
    }
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

fn cap_local(local: &str) -> String {
    local
        .split('.')
        .map(capitalise)
        .collect::<Vec<_>>()
        .join(".")
}
