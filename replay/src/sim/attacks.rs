//! Injected attacks: several instances of every kind the rule pack detects, each with its
//! ground-truth labels (one per rule the instance is meant to raise).

use std::collections::BTreeMap;

use super::benign::{credential_props, sp_hour_count};
use super::json::{
    TICKS_PER_DAY, TICKS_PER_HOUR, TICKS_PER_MINUTE, TICKS_PER_SECOND, datetime_text, ip, ip_text,
};
use super::records::{Activity, Actor, Audit, Body, Caller, Event, SpSignIn, Target, UserSignIn};
use super::rng::{Rng, mix64};
use super::tenant::{AAD_GRAPH, ARM, ATTACKER_CITIES, GRAPH, KEY_VAULT, Rhythm, Tenant};

/// A rule of the pack: (file name, id, name).
pub type RuleRef = (&'static str, &'static str, &'static str);

/// The rules of the pack the attacks are labelled for.
pub const RULES: [RuleRef; 9] = [
    (
        "failed_signins_with_audit_details.yaml",
        "22f33a4c-e60f-4817-bbfe-9e2ed33cb596",
        "Failed sign-ins with the user's recent audit changes",
    ),
    (
        "sp_signin_volume_anomaly.yaml",
        "7c1f0001-3001-4301-9301-spanomaly0001",
        "Service principal sign-in volume anomaly",
    ),
    (
        "provisioning_failures_by_job_error.yaml",
        "aa1f0001-2001-4201-9201-aadprov-hunt01",
        "HUNT-01 Provisioning Failures by Job and Error (30d)",
    ),
    (
        "rare_audit_activity_by_app.yaml",
        "5c799718-b361-4a91-9cb2-0c291e602707",
        "Rare audit activity initiated by an application",
    ),
    (
        "sp_graph_signins.yaml",
        "3b5e0003-3003-4303-9303-spgraph00001",
        "Service principal sign-ins to Microsoft Graph",
    ),
    (
        "sp_signin_failures.yaml",
        "3b5e0001-3001-4301-9301-spfailure001",
        "Service principal sign-in failures",
    ),
    (
        "sp_credential_added_while_active.yaml",
        "3b5e0002-3002-4302-9302-spcredactive",
        "Credentials added to a service principal that was signing in",
    ),
    (
        "sp_signins_with_audit_actions.yaml",
        "3b5e0004-3004-4304-9304-spauditact01",
        "Directory changes made by service principals and managed identities, with their sign-ins",
    ),
    (
        "sp_signins_with_azure_activity.yaml",
        "3b5e0005-3005-4305-9305-spazureact01",
        "Azure operations made by service principals and managed identities, with their sign-ins",
    ),
];

/// The attack kinds, in the order of [`RULES`]: each is aimed at the rule of the same index.
pub const KINDS: [&str; 9] = [
    "password_spray_then_mfa_registration",
    "sp_signin_burst",
    "provisioning_failure_campaign",
    "rare_app_directory_change",
    "sp_graph_reconnaissance",
    "sp_stolen_secret_failures",
    "credential_added_to_active_sp",
    "sp_role_assignment",
    "sp_azure_operations",
];

/// How long after an instance's end its rule's alert may still be raised, and how long its
/// alert key stays in the result (the rule's window): instances with the same key are kept
/// this far apart.
const WINDOW: [i64; 9] = [
    TICKS_PER_DAY,
    TICKS_PER_HOUR,
    30 * TICKS_PER_DAY,
    TICKS_PER_DAY,
    TICKS_PER_DAY,
    TICKS_PER_DAY,
    TICKS_PER_DAY,
    TICKS_PER_DAY,
    TICKS_PER_DAY,
];

/// One attack instance's ground truth for one rule: the alert the rule should raise.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct Label {
    /// The attack instance (labels of one instance share it).
    pub scenario: usize,
    /// The attack kind.
    pub kind: String,
    /// The rule's file name in the rule pack.
    pub rule: String,
    /// The rule's id.
    pub rule_id: String,
    /// The rule's name.
    pub rule_name: String,
    /// Event time of the instance's first record (ISO 8601).
    pub start: String,
    /// Event time of the instance's last record.
    pub end: String,
    /// The alert's main entity: a user principal name (lower case), service principal or
    /// application name.
    pub entity: String,
    /// The alert's entities as `kqlflow hunt` prints them: `EntityType.Identifier` to value,
    /// from the rule's entity mappings.
    pub entities: BTreeMap<String, String>,
    /// What the attacker did.
    pub description: String,
}

/// The attack plan: the events to add and their labels.
#[derive(Default)]
pub struct Plan {
    /// Attack events, any table, any day.
    pub events: Vec<Event>,
    /// Ground truth, by scenario then rule.
    pub labels: Vec<Label>,
    /// Kinds left out, with why.
    pub skipped: Vec<String>,
}

struct Planner<'a> {
    t: &'a Tenant,
    seed: u64,
    start: i64,
    days: u32,
    plan: Plan,
    next_ip: u32,
    next_id: u64,
    scenario: usize,
    /// (rule index, key) → busy spans.
    busy: BTreeMap<(usize, String), Vec<(i64, i64)>>,
    used_users: Vec<usize>,
}

impl Planner<'_> {
    fn attacker_ip(&mut self) -> u32 {
        let k = self.next_ip;
        self.next_ip += 1;
        match k {
            0..=239 => ip(203, 0, 113, (10 + k) as u8),
            240..=449 => ip(198, 51, 100, (30 + k - 240) as u8),
            _ => ip(
                185,
                220,
                (100 + (k - 450) / 250) as u8,
                (1 + (k - 450) % 250) as u8,
            ),
        }
    }

    fn event(&mut self, time: i64, body: Body) {
        self.plan.events.push(Event {
            time,
            id: (1u64 << 48) + self.next_id,
            body,
        });
        self.next_id += 1;
    }

    fn is_busy(&self, rule: usize, key: &str, s: i64, e: i64) -> bool {
        let w = WINDOW[rule] + 2 * TICKS_PER_HOUR;
        self.busy
            .get(&(rule, key.to_string()))
            .is_some_and(|spans| spans.iter().any(|(a, b)| s < b + w && a < &(e + w)))
    }

    #[allow(clippy::too_many_arguments)]
    fn label(
        &mut self,
        rule: usize,
        kind: usize,
        s: i64,
        e: i64,
        entity: &str,
        entities: &[(&str, String)],
        description: String,
    ) {
        let key: String = entities
            .iter()
            .map(|(_, v)| v.as_str())
            .collect::<Vec<_>>()
            .join("|");
        self.busy.entry((rule, key)).or_default().push((s, e));
        let (file, id, name) = RULES[rule];
        self.plan.labels.push(Label {
            scenario: self.scenario,
            kind: KINDS[kind].to_string(),
            rule: file.to_string(),
            rule_id: id.to_string(),
            rule_name: name.to_string(),
            start: datetime_text(s),
            end: datetime_text(e),
            entity: entity.to_string(),
            entities: entities
                .iter()
                .map(|(k, v)| ((*k).to_string(), v.clone()))
                .collect(),
            description,
        });
    }

    /// A time on `day` between `from` and `to` hours UTC.
    fn time_on(&self, r: &mut Rng, day: u32, from: i64, to: i64) -> i64 {
        self.start
            + i64::from(day) * TICKS_PER_DAY
            + r.range(from * 3600, to * 3600 - 1) * TICKS_PER_SECOND
            + r.range(0, 9_999_999)
    }

    fn day_number(&self, day: u32) -> i64 {
        (self.start + i64::from(day) * TICKS_PER_DAY).div_euclid(TICKS_PER_DAY)
    }

    /// Existing service principals (not onboarded during the period), preferring batch jobs
    /// that sign in every hour, rotated by `k`.
    fn sp_candidates(&self, k: usize, prefer_constant: bool) -> Vec<usize> {
        let mut c: Vec<usize> = (0..self.t.sps.len())
            .filter(|&i| self.t.sps[i].onboard_day == 0)
            .collect();
        if prefer_constant {
            c.sort_by_key(|&i| (!matches!(self.t.sps[i].rhythm, Rhythm::Constant { .. }), i));
        }
        if !c.is_empty() {
            let n = c.len();
            c.rotate_left(k % n);
        }
        c
    }

    /// Whether `sp` signed in (benign, successfully) in the `hours` hours before `time`.
    fn signed_in_before(&self, sp: usize, time: i64, hours: i64) -> bool {
        let Some(s) = self.t.sps.get(sp) else {
            return false;
        };
        let h0 = (time - self.start).div_euclid(TICKS_PER_HOUR);
        (1..=hours).any(|b| {
            let h = h0 - b;
            if h < 0 {
                return false;
            }
            let day = (h / 24) as u32;
            sp_hour_count(self.t, self.seed, s, sp, day, self.day_number(day), h % 24) > 0
        })
    }

    fn user_for_attack(&mut self, r: &mut Rng) -> Option<usize> {
        let n = self.t.users.len();
        if n == 0 {
            return None;
        }
        for _ in 0..(4 * n) {
            let u = r.index(n);
            if !self.used_users.contains(&u) && !self.t.users[u].admin {
                self.used_users.push(u);
                return Some(u);
            }
        }
        let u = r.index(n);
        Some(u)
    }
}

/// Plans several instances of every attack kind over the period `start..start+days`.
pub fn plan(t: &Tenant, seed: u64, start: i64, days: u32) -> Plan {
    let mut p = Planner {
        t,
        seed,
        start,
        days,
        plan: Plan::default(),
        next_ip: 0,
        next_id: 0,
        scenario: 0,
        busy: BTreeMap::new(),
        used_users: Vec::new(),
    };
    // (kind, preferred first day, earliest possible day)
    let schedule: [(usize, u32, u32); 9] = [
        (0, 1, 0),
        (1, 7, 3),
        (2, 1, 0),
        (3, 14, 1),
        (4, 1, 0),
        (5, 1, 0),
        (6, 1, 1),
        (7, 1, 0),
        (8, 1, 0),
    ];
    for (kind, preferred, earliest) in schedule {
        let first = if p.days > preferred {
            preferred
        } else {
            earliest
        };
        if p.days <= first {
            p.plan
                .skipped
                .push(format!("{}: needs more than {first} days", KINDS[kind]));
            continue;
        }
        let span = p.days - first;
        let n = (span / 4 + 1).clamp(2, 6) as usize;
        let mut r = Rng::derive(seed, "attack", &[kind as u64]);
        let mut placed = 0;
        for i in 0..n {
            let lo = first + (i as u32 * span) / n as u32;
            let hi = (first + ((i as u32 + 1) * span) / n as u32).max(lo + 1);
            let day = lo + r.below(u64::from(hi - lo)) as u32;
            p.scenario = p
                .plan
                .labels
                .iter()
                .map(|l| l.scenario + 1)
                .max()
                .unwrap_or(0);
            let done = match kind {
                0 => spray(&mut p, &mut r, day),
                1 => burst(&mut p, &mut r, day, i),
                2 => provisioning(&mut p, &mut r, day, i),
                3 => rare_change(&mut p, &mut r, day, i),
                4 => graph_recon(&mut p, &mut r, day, i),
                5 => sp_failures(&mut p, &mut r, day, i),
                6 => credential(&mut p, &mut r, day, i),
                7 => role_assignment(&mut p, &mut r, day, i),
                _ => azure_operations(&mut p, &mut r, day, i),
            };
            placed += usize::from(done);
        }
        if placed == 0 {
            p.plan.skipped.push(format!(
                "{}: the tenant has no entity it can target",
                KINDS[kind]
            ));
        }
    }
    p.plan
}

fn spray(p: &mut Planner, r: &mut Rng, day: u32) -> bool {
    let Some(victim) = p.user_for_attack(r) else {
        return false;
    };
    let city_i = r.index(ATTACKER_CITIES.len());
    let city = &ATTACKER_CITIES[city_i];
    let ips: Vec<u32> = (0..1 + r.below(3)).map(|_| p.attacker_ip()).collect();
    let start = p.time_on(r, day, 0, 20);
    let n = 12 + r.below(14) as i64;
    let corr = mix64(p.seed ^ 0x5eed_0000 ^ p.scenario as u64);
    let (client, ua, app) = *r.pick(&[
        ("Mobile Apps and Desktop clients", "python-requests/2.31.0", 1usize),
        ("Browser", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36", 2),
    ]);
    let mut time = start;
    for k in 0..n {
        time += r.range(20, 110) * TICKS_PER_SECOND;
        let s = UserSignIn {
            interactive: true,
            user: victim,
            app,
            resource: super::tenant::USER_APPS[app].3,
            ip: ips[(k as usize) % ips.len()],
            city,
            device: None,
            result: if k + 1 == n { 50053 } else { 50126 },
            correlation: corr,
            client_app: Some(client),
            user_agent: Some(ua),
        };
        p.event(time, Body::UserSignIn(s));
    }
    // The password guessed, the attacker signs in and registers an authenticator.
    time += r.range(300, 1800) * TICKS_PER_SECOND;
    let success = UserSignIn {
        interactive: true,
        user: victim,
        app,
        resource: super::tenant::USER_APPS[app].3,
        ip: ips[0],
        city,
        device: None,
        result: 0,
        correlation: corr ^ 1,
        client_app: Some(client),
        user_agent: Some(ua),
    };
    p.event(time, Body::UserSignIn(success));
    time += r.range(60, 900) * TICKS_PER_SECOND;
    p.event(
        time,
        Body::Audit(Audit {
            actor: Actor::User(victim, ips[0]),
            operation: "User registered security info",
            category: "UserManagement",
            target: Target::User(victim),
            props: Vec::new(),
            correlation: corr ^ 2,
        }),
    );
    time += r.range(1, 30) * TICKS_PER_SECOND;
    p.event(
        time,
        Body::Audit(Audit {
            actor: Actor::User(victim, ips[0]),
            operation: "Update user",
            category: "UserManagement",
            target: Target::User(victim),
            props: vec![
                (
                    "StrongAuthenticationMethod",
                    "[]".into(),
                    "[{\"MethodType\":6,\"Default\":true},{\"MethodType\":7,\"Default\":false}]"
                        .into(),
                ),
                (
                    "StrongAuthenticationPhoneAppDetail",
                    "[]".into(),
                    "[{\"DeviceName\":\"SM-A528B\",\"DeviceTag\":\"SoftwareTokenActivated\"}]"
                        .into(),
                ),
                (
                    "Included Updated Properties",
                    String::new(),
                    "\"StrongAuthenticationMethod, StrongAuthenticationPhoneAppDetail\"".into(),
                ),
            ],
            correlation: corr ^ 2,
        }),
    );
    let upn = p.t.users[victim].upn.to_lowercase();
    let addrs: Vec<String> = ips.iter().map(|i| ip_text(*i)).collect();
    p.label(0, 0, start, time, &upn.clone(), &[("Account.FullName", upn.clone())], format!(
        "{n} failed sign-ins to {upn} from {} ({}) in one flow, then a successful sign-in and a new authenticator registered",
        addrs.join(", "),
        city.country
    ));
    true
}

fn burst(p: &mut Planner, r: &mut Rng, day: u32, i: usize) -> bool {
    // The busiest benign hour of any candidate sets how big the burst must be to stand out.
    for sp in p.sp_candidates(i, true) {
        let s = &p.t.sps[sp];
        let key = format!("{}|{}", s.id, s.name);
        let minutes = r.range(15, 40);
        // Inside one clock hour, so that an evaluation on the hour sees the whole burst.
        let hour = p.time_on(r, day, 1, 22).div_euclid(TICKS_PER_HOUR) * TICKS_PER_HOUR;
        let start =
            hour + r.range(1, 58 - minutes) * TICKS_PER_MINUTE + r.range(0, 59) * TICKS_PER_SECOND;
        if p.is_busy(1, &key, start, start + TICKS_PER_HOUR) {
            continue;
        }
        let peak = match s.rhythm {
            Rhythm::Constant { rate } => rate,
            Rhythm::BusinessHours { peak } => peak,
        };
        let n = (150 + r.below(200) as u32).max(4 * peak) as i64;
        let attacker = p.attacker_ip();
        let step = minutes * TICKS_PER_MINUTE / n;
        for k in 0..n {
            p.event(
                start + k * step,
                Body::SpSignIn(SpSignIn {
                    sp,
                    resource: KEY_VAULT,
                    ip: attacker,
                    result: 0,
                }),
            );
        }
        let end = start + (n - 1) * step;
        let (name, id) = (s.name.clone(), s.id.clone());
        p.label(1, 1, start, end, &name, &[("Account.AadUserId", id), ("Account.Name", name.clone())], format!(
            "{n} sign-ins of {name} to Azure Key Vault in {minutes} minutes from {}: secrets harvested with its stolen credential",
            ip_text(attacker)
        ));
        return true;
    }
    false
}

const ATTACK_ERRORS: [(&str, &str); 2] = [
    (
        "SystemForCrossDomainIdentityManagementUnauthorized",
        "The SCIM endpoint refused the request: 401 Unauthorized (the bearer token was revoked or replaced).",
    ),
    (
        "SystemForCrossDomainIdentityManagementServiceIncompatible",
        "The SCIM endpoint returned an unexpected response for PATCH /Users: attribute mapping tampered.",
    ),
];

fn provisioning(p: &mut Planner, r: &mut Rng, day: u32, i: usize) -> bool {
    if p.t.jobs.is_empty() || p.t.users.is_empty() {
        return false;
    }
    for k in 0..p.t.jobs.len() {
        let job = (i + k) % p.t.jobs.len();
        let app = p.t.jobs[job].app.to_string();
        let start = p.time_on(r, day, 0, 12);
        let n = 12 + r.below(18) as i64;
        let spread = r.range(6, 40) * TICKS_PER_HOUR;
        let end = start + spread;
        if p.is_busy(2, &app, start, end) || end >= p.start + i64::from(p.days) * TICKS_PER_DAY {
            continue;
        }
        let error = ATTACK_ERRORS[r.index(ATTACK_ERRORS.len())];
        let cycle = mix64(p.seed ^ 0xc1c1e ^ p.scenario as u64);
        let mut last = start;
        for k in 0..n {
            let time = start + spread * k / (n - 1).max(1);
            last = time;
            let user = r.index(p.t.users.len());
            p.event(
                time,
                Body::Provisioning(super::records::Provisioning {
                    job,
                    user,
                    action: if k % 3 == 0 { "Create" } else { "Update" },
                    result: "Failure",
                    error: Some(error),
                    cycle: cycle ^ (k as u64 / 4),
                }),
            );
        }
        p.label(2, 2, start, last, &app, &[("CloudApplication.Name", app.clone())], format!(
            "{n} provisioning failures of job {} with {}: its connector credentials or mappings were tampered with",
            p.t.jobs[job].job_id, error.0
        ));
        return true;
    }
    false
}

/// A few sign-ins of `sp` from `ip` to `resource`, spread so that no hour gets more than four.
fn attacker_sign_ins(
    p: &mut Planner,
    r: &mut Rng,
    sp: usize,
    ip: u32,
    resource: usize,
    start: i64,
    n: i64,
) -> i64 {
    let mut time = start;
    for k in 0..n {
        if k > 0 {
            time += r.range(16, 40) * TICKS_PER_MINUTE;
        }
        p.event(
            time,
            Body::SpSignIn(SpSignIn {
                sp,
                resource,
                ip,
                result: 0,
            }),
        );
    }
    time
}

fn rare_change(p: &mut Planner, r: &mut Rng, day: u32, i: usize) -> bool {
    let Some(target) = p.user_for_attack(r) else {
        return false;
    };
    for sp in p.sp_candidates(i + 3, false) {
        let name = p.t.sps[sp].name.clone();
        let start = p.time_on(r, day, 1, 20);
        if p.is_busy(7, &name, start, start + 2 * TICKS_PER_HOUR) {
            continue;
        }
        let attacker = p.attacker_ip();
        let signed = attacker_sign_ins(p, r, sp, attacker, AAD_GRAPH, start, 2);
        let time = signed + r.range(60, 600) * TICKS_PER_SECOND;
        let mailbox = format!("recovery{}@proton.me", r.range(100, 999));
        p.event(
            time,
            Body::Audit(Audit {
                actor: Actor::App(sp, attacker),
                operation: "Update user",
                category: "UserManagement",
                target: Target::User(target),
                props: vec![
                    ("OtherMail", "[]".into(), format!("[\"{mailbox}\"]")),
                    (
                        "Included Updated Properties",
                        String::new(),
                        "\"OtherMail\"".into(),
                    ),
                ],
                correlation: mix64(p.seed ^ 0x4a4e ^ p.scenario as u64),
            }),
        );
        let upn = p.t.users[target].upn.to_lowercase();
        p.label(3, 3, start, time, &upn, &[("Account.FullName", upn.clone()), ("Host.HostName", String::new()), ("IP.Address", ip_text(attacker))], format!(
            "{name}, signed in from {}, set {mailbox} as the alternate e-mail of {upn}: a change it never made before",
            ip_text(attacker)
        ));
        p.label(
            7,
            3,
            start,
            time,
            &name,
            &[("Account.Name", name.clone())],
            format!("{name} changed {upn} in the directory on the day it signed in"),
        );
        return true;
    }
    false
}

fn graph_recon(p: &mut Planner, r: &mut Rng, day: u32, i: usize) -> bool {
    let Some(&sp) = p.sp_candidates(i + 1, false).first() else {
        return false;
    };
    let attacker = p.attacker_ip();
    let start = p.time_on(r, day, 0, 12);
    let n = 4 + r.below(12) as i64;
    let end = attacker_sign_ins(p, r, sp, attacker, GRAPH, start, n);
    let name = p.t.sps[sp].name.clone();
    p.label(4, 4, start, end, &name, &[("Account.Name", name.clone()), ("IP.Address", ip_text(attacker))], format!(
        "{n} sign-ins of {name} to Microsoft Graph from {}: directory enumeration with a stolen credential",
        ip_text(attacker)
    ));
    true
}

fn sp_failures(p: &mut Planner, r: &mut Rng, day: u32, i: usize) -> bool {
    let Some(&sp) = p.sp_candidates(i + 2, false).first() else {
        return false;
    };
    let attacker = p.attacker_ip();
    let start = p.time_on(r, day, 0, 22);
    let n = 3 + r.below(15) as i64;
    let mut time = start;
    for k in 0..n {
        if k > 0 {
            time += r.range(10, 180) * TICKS_PER_SECOND;
        }
        let code = if k % 4 == 3 { 7000222 } else { 7000215 };
        // Not Microsoft Graph: every sign-in to Graph, failed or not, is the Graph rule's.
        let resource = *r.pick(&[KEY_VAULT, ARM]);
        p.event(
            time,
            Body::SpSignIn(SpSignIn {
                sp,
                resource,
                ip: attacker,
                result: code,
            }),
        );
    }
    let name = p.t.sps[sp].name.clone();
    p.label(
        5,
        5,
        start,
        time,
        &name,
        &[
            ("Account.Name", name.clone()),
            ("IP.Address", ip_text(attacker)),
        ],
        format!(
            "{n} failed sign-ins of {name} from {} with old or wrong client secrets",
            ip_text(attacker)
        ),
    );
    true
}

fn credential(p: &mut Planner, r: &mut Rng, day: u32, i: usize) -> bool {
    let Some(&admin) = p.t.admins.get(i % p.t.admins.len().max(1)) else {
        return false;
    };
    for sp in p.sp_candidates(i + 4, true) {
        let time = p.time_on(r, day, 2, 22);
        if !p.signed_in_before(sp, time, 48) {
            continue;
        }
        let attacker = p.attacker_ip();
        let name = p.t.sps[sp].name.clone();
        let props = credential_props(r, "backup");
        p.event(
            time,
            Body::Audit(Audit {
                actor: Actor::User(admin, attacker),
                operation: "Update application \u{2013} Certificates and secrets management ",
                category: "ApplicationManagement",
                target: Target::Application(sp),
                props,
                correlation: mix64(p.seed ^ 0xc4ed ^ p.scenario as u64),
            }),
        );
        let lower = name.to_lowercase();
        let upn = p.t.users[admin].upn.clone();
        p.label(6, 6, time, time, &lower, &[("Account.Name", lower.clone()), ("IP.Address", ip_text(attacker))], format!(
            "{upn}, signed in from {}, added a client secret to {name}, which was signing in: persistence on a working identity",
            ip_text(attacker)
        ));
        return true;
    }
    false
}

const ROLES: [(&str, &str); 3] = [
    (
        "Global Administrator",
        "62e90394-69f5-4237-9190-012177145e10",
    ),
    (
        "Privileged Role Administrator",
        "e8611ab8-c189-46e8-94e1-60213ab1f814",
    ),
    (
        "Application Administrator",
        "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3",
    ),
];

fn role_assignment(p: &mut Planner, r: &mut Rng, day: u32, i: usize) -> bool {
    if p.t.users.is_empty() {
        return false;
    }
    for sp in p.sp_candidates(i + 5, false) {
        let name = p.t.sps[sp].name.clone();
        let start = p.time_on(r, day, 1, 20);
        if p.is_busy(7, &name, start, start + 2 * TICKS_PER_HOUR) {
            continue;
        }
        let attacker = p.attacker_ip();
        let signed = attacker_sign_ins(p, r, sp, attacker, AAD_GRAPH, start, 2);
        let target = r.index(p.t.users.len());
        let (role, template) = ROLES[r.index(ROLES.len())];
        let time = signed + r.range(60, 900) * TICKS_PER_SECOND;
        p.event(
            time,
            Body::Audit(Audit {
                actor: Actor::App(sp, attacker),
                operation: "Add member to role",
                category: "RoleManagement",
                target: Target::RoleMember(target, role),
                props: vec![
                    (
                        "Role.ObjectID",
                        String::new(),
                        format!(
                            "\"{}\"",
                            super::rng::stable_guid(p.seed, "role", super::rng::hash_str(role))
                        ),
                    ),
                    ("Role.DisplayName", String::new(), format!("\"{role}\"")),
                    ("Role.TemplateId", String::new(), format!("\"{template}\"")),
                    (
                        "Role.WellKnownObjectName",
                        String::new(),
                        "\"TenantAdmins\"".into(),
                    ),
                ],
                correlation: mix64(p.seed ^ 0x201e ^ p.scenario as u64),
            }),
        );
        let upn = p.t.users[target].upn.clone();
        p.label(
            7,
            7,
            start,
            time,
            &name,
            &[("Account.Name", name.clone())],
            format!(
                "{name}, signed in from {}, made {upn} a {role}",
                ip_text(attacker)
            ),
        );
        return true;
    }
    false
}

const ATTACK_ARM_OPS: [(&str, &str, &str); 4] = [
    (
        "MICROSOFT.COMPUTE/VIRTUALMACHINES/RUNCOMMAND/ACTION",
        "Run Command on Virtual Machine",
        "vm-app01",
    ),
    (
        "MICROSOFT.AUTHORIZATION/ROLEASSIGNMENTS/WRITE",
        "Create role assignment",
        "roleassignment",
    ),
    (
        "MICROSOFT.KEYVAULT/VAULTS/ACCESSPOLICIES/WRITE",
        "Update Key Vault access policy",
        "kv-prod-secrets",
    ),
    (
        "MICROSOFT.STORAGE/STORAGEACCOUNTS/LISTKEYS/ACTION",
        "List Storage Account Keys",
        "stdataprod",
    ),
];

fn azure_operations(p: &mut Planner, r: &mut Rng, day: u32, i: usize) -> bool {
    // Alternate between a service principal used from outside and a managed identity abused
    // from the workload it belongs to.
    let use_mi = i % 2 == 1 && !p.t.mis.is_empty();
    let start = p.time_on(r, day, 1, 18);
    let (caller, name, ip) = if use_mi {
        let mi = (i / 2) % p.t.mis.len();
        (Caller::Mi(mi), p.t.mis[mi].name.clone(), p.t.mis[mi].ip)
    } else {
        let Some(&sp) = p.sp_candidates(i + 6, false).first() else {
            return false;
        };
        let attacker = p.attacker_ip();
        attacker_sign_ins(p, r, sp, attacker, ARM, start, 1);
        (Caller::Sp(sp), p.t.sps[sp].name.clone(), attacker)
    };
    // A managed identity's operations need one of its own sign-ins the same day: it requests
    // tokens all day, so wait until it has (at least an hour into the day, past its first).
    let first_op =
        start + r.range(120, 900) * TICKS_PER_SECOND + if use_mi { 2 * TICKS_PER_HOUR } else { 0 };
    let n = 1 + r.below(3) as usize;
    let rg = match &caller {
        Caller::Mi(m) => p.t.mis[*m].resource_group.clone(),
        _ => "rg-prod".to_string(),
    };
    let mut time = first_op;
    for k in 0..n {
        let (op, display, resource) = ATTACK_ARM_OPS[(k + i) % ATTACK_ARM_OPS.len()];
        let corr = mix64(p.seed ^ 0xa2e ^ ((p.scenario as u64) << 8) ^ k as u64);
        for (status, delay) in [("Started", 0), ("Succeeded", r.range(2, 40))] {
            p.event(
                time + delay * TICKS_PER_SECOND,
                Body::Activity(Activity {
                    caller: caller.clone(),
                    ip,
                    operation: (op, display),
                    resource_group: rg.clone(),
                    resource: resource.into(),
                    status,
                    correlation: corr,
                }),
            );
        }
        time += r.range(60, 600) * TICKS_PER_SECOND;
    }
    let end = time;
    p.label(
        8,
        8,
        start,
        end,
        &name,
        &[("Account.Name", name.clone()), ("IP.Address", ip_text(ip))],
        format!(
            "{name} ran {n} privileged Azure operation(s) from {} after signing in",
            ip_text(ip)
        ),
    );
    true
}
