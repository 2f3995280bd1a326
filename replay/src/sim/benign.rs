//! The benign background: each table's records of one day, a pure function of the tenant, the
//! seed, the table and the day. It is shaped so that the rule pack stays quiet on it (see the
//! module documentation of `sim`).

use super::json::{TICKS_PER_DAY, TICKS_PER_HOUR, TICKS_PER_SECOND};
use super::records::{
    Activity, Actor, Audit, Body, Caller, Event, MiSignIn, Provisioning, SpSignIn, Target,
    UserSignIn,
};
use super::rng::{Rng, mix64};
use super::tenant::{CITIES, Rhythm, ServicePrincipal, Tenant, USER_APPS};

/// Day of the week of a day number since 1970-01-01: 0 is Sunday.
pub fn weekday(day_number: i64) -> i64 {
    (day_number + 4).rem_euclid(7)
}

/// Saturday or Sunday.
pub fn weekend(day_number: i64) -> bool {
    matches!(weekday(day_number), 0 | 6)
}

/// A time of the day `day_start` (UTC midnight, ticks) from a local time in seconds and a UTC
/// offset in hours, wrapped into the same UTC day.
fn local_to_utc(day_start: i64, local_secs: f64, offset_h: i64) -> i64 {
    let s = (local_secs - (offset_h * 3600) as f64).rem_euclid(86_400.0);
    day_start + (s * TICKS_PER_SECOND as f64) as i64
}

/// What a user does on a day: whether they work, and from where.
struct DayPlan {
    works: bool,
    at_office: bool,
}

fn plan(t: &Tenant, seed: u64, day: u32, day_number: i64, u: usize) -> DayPlan {
    let mut r = Rng::derive(seed, "plan", &[u64::from(day), u as u64]);
    let weekend = weekend(day_number);
    let works = if weekend {
        r.chance(0.12)
    } else {
        r.chance(0.93)
    };
    let at_office = !weekend && t.users[u].office.is_some() && r.chance(0.6);
    DayPlan { works, at_office }
}

/// Sign-ins an SP makes in hour `hour` (0–23 UTC) of day `day`: 0 before it is onboarded.
pub fn sp_hour_count(
    t: &Tenant,
    seed: u64,
    sp: &ServicePrincipal,
    idx: usize,
    day: u32,
    day_number: i64,
    hour: i64,
) -> u32 {
    if day < sp.onboard_day {
        return 0;
    }
    if day == sp.onboard_day && sp.onboard_day > 0 && hour < onboard_hour() + 2 {
        return 0;
    }
    let mut r = Rng::derive(seed, "sp-hour", &[idx as u64, u64::from(day), hour as u64]);
    match sp.rhythm {
        Rhythm::Constant { rate } => {
            (f64::from(rate) * r.uniform(0.7, 1.3)).round().max(1.0) as u32
        }
        Rhythm::BusinessHours { peak } => {
            let offset = CITIES[t.offices[sp.office % t.offices.len()].0].utc_offset;
            let lh = (hour + offset).rem_euclid(24) as f64 + 0.5;
            let day_time = (7.0..19.0).contains(&lh);
            if weekend(day_number) {
                if day_time && r.chance(0.5) {
                    (f64::from(peak) * 0.15 * r.uniform(0.7, 1.3))
                        .round()
                        .max(1.0) as u32
                } else {
                    0
                }
            } else if day_time {
                let shape = (1.0 - ((lh - 13.0) / 6.5).powi(2)).clamp(0.15, 1.0);
                (f64::from(peak) * shape * r.uniform(0.7, 1.3))
                    .round()
                    .max(1.0) as u32
            } else if r.chance(0.2) {
                1 + r.below(2) as u32
            } else {
                0
            }
        }
    }
}

/// The UTC hour new applications are registered on their onboarding day.
pub fn onboard_hour() -> i64 {
    9
}

/// The benign events of `table` on day `day` (0-based from the start).
pub fn day_events(
    t: &Tenant,
    seed: u64,
    table: usize,
    day: u32,
    day_start: i64,
    users_scale: usize,
) -> Vec<Event> {
    let day_number = day_start.div_euclid(TICKS_PER_DAY);
    let mut out = Vec::new();
    let mut next_id = 0u64;
    let mut push = |out: &mut Vec<Event>, time: i64, body: Body| {
        out.push(Event {
            time,
            id: next_id,
            body,
        });
        next_id += 1;
    };
    let corr = |kind: u64, a: u64, b: u64| {
        mix64(mix64(kind ^ (u64::from(day) << 40)) ^ mix64(a) ^ b.rotate_left(17))
    };
    match table {
        0 | 1 => {
            let interactive = table == 0;
            for (ui, u) in t.users.iter().enumerate() {
                let p = plan(t, seed, day, day_number, ui);
                if !p.works {
                    continue;
                }
                let city_idx = t.user_city(u, p.at_office);
                let city = &CITIES[city_idx];
                let ip = if p.at_office {
                    u.office.map_or(u.home_ip, |o| t.offices[o].1)
                } else {
                    u.home_ip
                };
                let mut r = Rng::derive(
                    seed,
                    if interactive { "si" } else { "nsi" },
                    &[u64::from(day), ui as u64],
                );
                let sessions = if interactive {
                    1 + r.below(4)
                } else {
                    8 + r.below(22)
                };
                for k in 0..sessions {
                    let local = (u.day_start * 3600) as f64 + r.uniform(0.0, 9.5 * 3600.0);
                    let time = local_to_utc(day_start, local, city.utc_offset);
                    let app = if interactive {
                        let weights: Vec<u32> = USER_APPS.iter().map(|a| a.4).collect();
                        r.weighted(&weights)
                    } else {
                        *r.pick(&[0usize, 0, 1, 11, 7])
                    };
                    let mut resource = USER_APPS[app].3;
                    if !interactive {
                        resource = *r.pick(&[0usize, 1, 2, 6]);
                    }
                    let mobile_app =
                        matches!(USER_APPS[app].0, "Microsoft Teams" | "Microsoft Outlook");
                    let device = if mobile_app && u.devices.len() > 1 && r.chance(0.4) {
                        1
                    } else {
                        0
                    };
                    let c = corr(table as u64, ui as u64, k);
                    let base = UserSignIn {
                        interactive,
                        user: ui,
                        app,
                        resource,
                        ip,
                        city,
                        device: Some(device),
                        result: 0,
                        correlation: c,
                        client_app: None,
                        user_agent: None,
                    };
                    let x = r.unit();
                    if interactive && x < 0.09 {
                        // A failed first attempt (wrong password, an MFA or "stay signed in"
                        // interrupt) and the success that follows in the same flow.
                        let code = if x < 0.04 {
                            50126
                        } else if x < 0.07 {
                            50074
                        } else {
                            50140
                        };
                        push(
                            &mut out,
                            time,
                            Body::UserSignIn(UserSignIn {
                                result: code,
                                ..base.clone()
                            }),
                        );
                        let later = (time + r.range(15, 120) * TICKS_PER_SECOND)
                            .min(day_start + TICKS_PER_DAY - 1);
                        push(&mut out, later, Body::UserSignIn(base));
                    } else if interactive && x < 0.1 {
                        push(
                            &mut out,
                            time,
                            Body::UserSignIn(UserSignIn {
                                result: 500121,
                                ..base
                            }),
                        );
                    } else if !interactive && x < 0.015 {
                        let code = if x < 0.008 { 70044 } else { 50173 };
                        push(
                            &mut out,
                            time,
                            Body::UserSignIn(UserSignIn {
                                result: code,
                                ..base
                            }),
                        );
                    } else {
                        push(&mut out, time, Body::UserSignIn(base));
                    }
                }
            }
        }
        2 => {
            for (si, sp) in t.sps.iter().enumerate() {
                for hour in 0..24 {
                    let n = sp_hour_count(t, seed, sp, si, day, day_number, hour);
                    if n == 0 {
                        continue;
                    }
                    let mut r =
                        Rng::derive(seed, "sp-times", &[si as u64, u64::from(day), hour as u64]);
                    let slot = TICKS_PER_HOUR / i64::from(n);
                    for k in 0..i64::from(n) {
                        // Evenly spaced with jitter inside each slot, as a scheduler runs them.
                        let time = day_start
                            + hour * TICKS_PER_HOUR
                            + k * slot
                            + (slot as f64 * r.uniform(0.05, 0.95)) as i64;
                        let resource = sp.resources[r.index(sp.resources.len())];
                        let ip = if r.chance(0.7) {
                            sp.ips[0]
                        } else {
                            *r.pick(&sp.ips)
                        };
                        push(
                            &mut out,
                            time,
                            Body::SpSignIn(SpSignIn {
                                sp: si,
                                resource,
                                ip,
                                result: 0,
                            }),
                        );
                    }
                }
            }
            // A partner's load test from its allow-listed range and the allow-listed scanner:
            // bursts the volume rule must leave out.
            if let Some(sp) = t.sps.iter().position(|s| s.onboard_day == 0)
                && day % 5 == 2
            {
                let mut r = Rng::derive(seed, "allowlisted-burst", &[u64::from(day)]);
                let start = day_start + r.range(10, 16) * TICKS_PER_HOUR;
                for k in 0..120 {
                    let ip = if k % 2 == 0 {
                        super::json::ip(198, 51, 100, r.range(2, 19) as u8)
                    } else {
                        super::json::ip(192, 0, 2, 44)
                    };
                    let resource = t.sps[sp].resources[0];
                    push(
                        &mut out,
                        start + k * 9 * TICKS_PER_SECOND,
                        Body::SpSignIn(SpSignIn {
                            sp,
                            resource,
                            ip,
                            result: 0,
                        }),
                    );
                }
            }
        }
        3 => {
            for (mi_idx, mi) in t.mis.iter().enumerate() {
                let mut r = Rng::derive(seed, "mi", &[mi_idx as u64, u64::from(day)]);
                let step = TICKS_PER_DAY / i64::from(mi.per_day.max(1));
                for k in 0..i64::from(mi.per_day) {
                    let time = day_start + k * step + (step as f64 * r.uniform(0.0, 0.9)) as i64;
                    let resource = mi.resources[(k as usize) % mi.resources.len()];
                    push(
                        &mut out,
                        time,
                        Body::MiSignIn(MiSignIn {
                            mi: mi_idx,
                            resource,
                        }),
                    );
                }
            }
        }
        4 => audit_day(
            t,
            seed,
            day,
            day_start,
            day_number,
            users_scale,
            &mut out,
            &mut push,
        ),
        5 => {
            for (j, _) in t.jobs.iter().enumerate() {
                let mut r = Rng::derive(seed, "prov", &[j as u64, u64::from(day)]);
                let fail_today = (i64::from(day) + 2 * j as i64).rem_euclid(5) == 0;
                let fail_cycle = r.range(0, 35);
                for cycle in 0..36i64 {
                    let cycle_start = day_start + cycle * 40 * 60 * TICKS_PER_SECOND;
                    let cycle_id =
                        mix64(seed ^ mix64((j as u64) << 32 | u64::from(day) << 8 | cycle as u64));
                    let n = [0usize, 0, 1, 1, 1, 2, 2, 3, 4][r.index(9)];
                    for _ in 0..n {
                        if t.users.is_empty() {
                            break;
                        }
                        let user = r.index(t.users.len());
                        let x = r.unit();
                        let action = if x < 0.1 {
                            "Create"
                        } else if x < 0.15 {
                            "Disable"
                        } else {
                            "Update"
                        };
                        let result = if r.chance(0.15) { "Skipped" } else { "Success" };
                        let time = cycle_start + r.range(5, 600) * TICKS_PER_SECOND;
                        push(
                            &mut out,
                            time,
                            Body::Provisioning(Provisioning {
                                job: j,
                                user,
                                action,
                                result,
                                error: None,
                                cycle: cycle_id,
                            }),
                        );
                    }
                    if fail_today && cycle == fail_cycle && !t.users.is_empty() {
                        // One failure every five days, its error rotating: far below the
                        // rollup's ten per job and error in 30 days.
                        let error = BENIGN_ERRORS[(day as usize / 5 + j) % BENIGN_ERRORS.len()];
                        let user = r.index(t.users.len());
                        push(
                            &mut out,
                            cycle_start + r.range(5, 600) * TICKS_PER_SECOND,
                            Body::Provisioning(Provisioning {
                                job: j,
                                user,
                                action: "Update",
                                result: "Failure",
                                error: Some(error),
                                cycle: cycle_id,
                            }),
                        );
                    }
                }
            }
        }
        6 => {
            if weekend(day_number) || t.users.is_empty() {
                return out;
            }
            let mut r = Rng::derive(seed, "arm", &[u64::from(day)]);
            let n = 2 + users_scale / 40;
            for k in 0..n as u64 {
                // Engineers and administrators change Azure resources in working hours.
                let ui = if k % 2 == 0 && !t.admins.is_empty() {
                    *r.pick(&t.admins)
                } else {
                    r.index(t.users.len())
                };
                let u = &t.users[ui];
                let p = plan(t, seed, day, day_number, ui);
                let city = &CITIES[t.user_city(u, p.at_office)];
                let ip = if p.at_office {
                    u.office.map_or(u.home_ip, |o| t.offices[o].1)
                } else {
                    u.home_ip
                };
                let local = (u.day_start * 3600) as f64 + r.uniform(0.5 * 3600.0, 8.0 * 3600.0);
                let time = local_to_utc(day_start, local, city.utc_offset);
                let op = *r.pick(&ARM_OPS);
                let rg = format!(
                    "rg-{}",
                    r.pick(&["web-prod", "data-prod", "shared", "dev", "network"])
                );
                let resource = format!("{}{:02}", op.2, r.range(1, 12));
                let corr = corr(6, k, ui as u64);
                let end =
                    (time + r.range(5, 90) * TICKS_PER_SECOND).min(day_start + TICKS_PER_DAY - 1);
                for (tm, status) in [(time, "Started"), (end, "Succeeded")] {
                    push(
                        &mut out,
                        tm,
                        Body::Activity(Activity {
                            caller: Caller::User(ui),
                            ip,
                            operation: (op.0, op.1),
                            resource_group: rg.clone(),
                            resource: resource.clone(),
                            status,
                            correlation: corr,
                        }),
                    );
                }
            }
        }
        _ => {}
    }
    out
}

/// Benign provisioning errors: (ResultSignature, message).
const BENIGN_ERRORS: [(&str, &str); 3] = [
    (
        "SystemForCrossDomainIdentityManagementBadRequest",
        "The SCIM endpoint rejected the request: 400 Bad Request (invalid value for attribute 'phoneNumbers').",
    ),
    (
        "AzureActiveDirectoryConflictEncountered",
        "An object with the same proxyAddresses value already exists.",
    ),
    (
        "DuplicateTargetEntries",
        "More than one user in the target system matched the source user.",
    ),
];

/// Benign Azure Resource Manager writes: (OperationNameValue, OperationName, resource prefix).
const ARM_OPS: [(&str, &str, &str); 6] = [
    (
        "MICROSOFT.COMPUTE/VIRTUALMACHINES/WRITE",
        "Create or Update Virtual Machine",
        "vm-app",
    ),
    (
        "MICROSOFT.STORAGE/STORAGEACCOUNTS/WRITE",
        "Create/Update Storage Account",
        "stdata",
    ),
    (
        "MICROSOFT.RESOURCES/DEPLOYMENTS/WRITE",
        "Create Deployment",
        "deploy-",
    ),
    (
        "MICROSOFT.WEB/SITES/RESTART/ACTION",
        "Restart Web App",
        "app-web",
    ),
    (
        "MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/WRITE",
        "Create or Update Network Security Group",
        "nsg-",
    ),
    (
        "MICROSOFT.WEB/SITES/CONFIG/WRITE",
        "Update website configuration",
        "app-api",
    ),
];

const LICENSING: (&str, &str) = (
    "Microsoft Azure AD Group-Based Licensing",
    "50d2f0f6-1b1a-4a8f-9f5e-5a4c5c6d5e01",
);
const DEVICE_REGISTRATION: (&str, &str) = (
    "Device Registration Service",
    "01cb2876-7ebd-4aa4-9cc9-d28bd4d359a9",
);
const GROUPS: [&str; 6] = [
    "All Employees",
    "Engineering",
    "VPN Users",
    "Sales EMEA",
    "Finance Approvers",
    "M365 E5 Licensed",
];

#[allow(clippy::too_many_arguments)]
fn audit_day(
    t: &Tenant,
    seed: u64,
    day: u32,
    day_start: i64,
    day_number: i64,
    users_scale: usize,
    out: &mut Vec<Event>,
    push: &mut impl FnMut(&mut Vec<Event>, i64, Body),
) {
    if t.users.is_empty() {
        return;
    }
    let mut r = Rng::derive(seed, "audit", &[u64::from(day)]);
    let weekend = weekend(day_number);
    let work_time = |r: &mut Rng| {
        day_start + r.range(7 * 3600, 18 * 3600) * TICKS_PER_SECOND + r.range(0, 9_999_999)
    };
    let any_time =
        |r: &mut Rng| day_start + r.range(0, 86_399) * TICKS_PER_SECOND + r.range(0, 9_999_999);
    let mut c = 0u64;
    let mut corr = || {
        c += 1;
        mix64(mix64(0xa0d1_7000 ^ u64::from(day)) ^ c)
    };
    let admin_ip = |a: usize| {
        let u = &t.users[a];
        u.office.map_or(u.home_ip, |o| t.offices[o].1)
    };
    // Administrators maintain users and groups.
    let n_admin = if weekend { 0 } else { 1 + users_scale / 30 };
    for _ in 0..n_admin {
        let Some(&a) = t.admins.get(r.index(t.admins.len())) else {
            break;
        };
        let target = r.index(t.users.len());
        let time = work_time(&mut r);
        let body = match r.below(3) {
            0 => {
                let (prop, old, new) = *r.pick(&[
                    ("JobTitle", "Software Engineer", "Senior Software Engineer"),
                    ("Department", "Sales", "Marketing"),
                    ("TelephoneNumber", "+44 20 7946 0000", "+44 20 7946 0991"),
                    ("Manager", "", "cfo"),
                ]);
                Audit {
                    actor: Actor::User(a, admin_ip(a)),
                    operation: "Update user",
                    category: "UserManagement",
                    target: Target::User(target),
                    props: vec![
                        (prop, format!("[\"{old}\"]"), format!("[\"{new}\"]")),
                        (
                            "Included Updated Properties",
                            String::new(),
                            format!("\"{prop}\""),
                        ),
                        ("TargetId.UserType", String::new(), "\"Member\"".into()),
                    ],
                    correlation: corr(),
                }
            }
            1 => {
                let g = *r.pick(&GROUPS);
                Audit {
                    actor: Actor::User(a, admin_ip(a)),
                    operation: "Add member to group",
                    category: "GroupManagement",
                    target: Target::User(target),
                    props: vec![
                        (
                            "Group.ObjectID",
                            String::new(),
                            format!(
                                "\"{}\"",
                                super::rng::stable_guid(seed, "group", super::rng::hash_str(g))
                            ),
                        ),
                        ("Group.DisplayName", String::new(), format!("\"{g}\"")),
                    ],
                    correlation: corr(),
                }
            }
            _ => Audit {
                actor: Actor::User(a, admin_ip(a)),
                operation: "Reset user password",
                category: "UserManagement",
                target: Target::User(target),
                props: Vec::new(),
                correlation: corr(),
            },
        };
        push(out, time, Body::Audit(body));
    }
    // Users register security info.
    for _ in 0..(users_scale / 80 + usize::from(r.chance(0.5))) {
        let u = r.index(t.users.len());
        let time = work_time(&mut r);
        let user = &t.users[u];
        push(
            out,
            time,
            Body::Audit(Audit {
                actor: Actor::User(u, user.home_ip),
                operation: "User registered security info",
                category: "UserManagement",
                target: Target::User(u),
                props: Vec::new(),
                correlation: corr(),
            }),
        );
    }
    // Group-based licensing assigns licenses (an application the rare-activity rule ignores).
    for _ in 0..(1 + users_scale / 50) {
        let u = r.index(t.users.len());
        let time = any_time(&mut r);
        push(
            out,
            time,
            Body::Audit(Audit {
                actor: Actor::FirstParty(LICENSING.0, LICENSING.1),
                operation: "Change user license",
                category: "UserManagement",
                target: Target::User(u),
                props: vec![
                    (
                        "AssignedLicense",
                        "[]".into(),
                        "[\"[SKUName=SPE_E5, DisabledPlans=[]]\"]".into(),
                    ),
                    (
                        "Included Updated Properties",
                        String::new(),
                        "\"AssignedLicense\"".into(),
                    ),
                ],
                correlation: corr(),
            }),
        );
    }
    // Devices report their OS versions (properties the rule ignores).
    for _ in 0..(1 + users_scale / 25) {
        let u = r.index(t.users.len());
        let d = r.index(t.users[u].devices.len().max(1));
        let time = any_time(&mut r);
        let os = t.users[u].devices.get(d).map_or("", |d| d.os);
        let v = if os.starts_with("Ios") {
            "17.4.1"
        } else if os.starts_with("Android") {
            "14"
        } else {
            "10.0.22631.3527"
        };
        push(
            out,
            time,
            Body::Audit(Audit {
                actor: Actor::FirstParty(DEVICE_REGISTRATION.0, DEVICE_REGISTRATION.1),
                operation: "Update device",
                category: "Device",
                target: Target::Device(u, d),
                props: vec![
                    ("CloudDeviceOSVersion", "[]".into(), format!("[\"{v}\"]")),
                    ("DeviceOSVersion", "[]".into(), format!("[\"{v}\"]")),
                    (
                        "Included Updated Properties",
                        String::new(),
                        "\"CloudDeviceOSVersion, DeviceOSVersion\"".into(),
                    ),
                ],
                correlation: corr(),
            }),
        );
    }
    // Directory synchronisation touches users.
    for _ in 0..(1 + users_scale / 20) {
        let u = r.index(t.users.len());
        let time = any_time(&mut r);
        push(
            out,
            time,
            Body::Audit(Audit {
                actor: Actor::Sync,
                operation: "Update user",
                category: "UserManagement",
                target: Target::User(u),
                props: vec![
                    ("LastDirSyncTime", "[]".into(), "[\"sync\"]".into()),
                    (
                        "Included Updated Properties",
                        String::new(),
                        "\"LastDirSyncTime\"".into(),
                    ),
                ],
                correlation: corr(),
            }),
        );
    }
    // New applications are registered, given a credential, and start signing in later.
    for (si, sp) in t.sps.iter().enumerate() {
        if sp.onboard_day == 0 || sp.onboard_day != day {
            continue;
        }
        let Some(&a) = t.admins.first() else {
            break;
        };
        let t0 = day_start + onboard_hour() * TICKS_PER_HOUR + r.range(60, 1200) * TICKS_PER_SECOND;
        let steps: [(&str, Target, i64); 3] = [
            ("Add application", Target::Application(si), 0),
            ("Add service principal", Target::ServicePrincipal(si), 40),
            (
                "Update application \u{2013} Certificates and secrets management ",
                Target::Application(si),
                600,
            ),
        ];
        for (op, target, delay) in steps {
            let props = if op.contains("Certificates") {
                credential_props(&mut r, &sp.name)
            } else {
                vec![(
                    "AppAddress",
                    String::new(),
                    "[{\"AddressType\":0,\"Address\":\"https://localhost\"}]".into(),
                )]
            };
            push(
                out,
                t0 + delay * TICKS_PER_SECOND,
                Body::Audit(Audit {
                    actor: Actor::User(a, admin_ip(a)),
                    operation: op,
                    category: "ApplicationManagement",
                    target,
                    props,
                    correlation: corr(),
                }),
            );
        }
    }
}

/// Modified properties of a credential added to an application.
pub fn credential_props(r: &mut Rng, name: &str) -> Vec<(&'static str, String, String)> {
    vec![
        (
            "KeyDescription",
            "[]".into(),
            format!(
                "[\"[KeyIdentifier={},KeyType=Password,KeyUsage=Verify,DisplayName={name}-secret]\"]",
                r.guid()
            ),
        ),
        (
            "Included Updated Properties",
            String::new(),
            "\"KeyDescription\"".into(),
        ),
    ]
}
