//! Ingest throughput on realistic SigninLogs rows (Log Analytics JSON Lines, 3–6 KB each, most
//! of it ConditionalAccessPolicies), with every column materialised and with a projection of
//! ten columns, plain and gzipped. Criterion prints MB/s (group `ingest_bytes`) and rows/s
//! (group `ingest_rows`).
//!
//! Run: `cargo bench --bench ingest`

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::io::Write;

use kqlflow::catalog::Catalog;
use kqlflow::ingest::{Ingest, Options, Projection};

/// A deterministic pseudo-random sequence (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn guid(&mut self) -> String {
        let a = self.next();
        let b = self.next();
        format!(
            "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xffff,
            b >> 48,
            b & 0xffff_ffff_ffff
        )
    }
}

const APPS: [&str; 6] = [
    "Azure Portal",
    "Microsoft Teams",
    "Office 365 Exchange Online",
    "Microsoft Authentication Broker",
    "Windows Sign In",
    "Azure CLI",
];
const CITIES: [(&str, &str, &str); 4] = [
    ("Seattle", "Washington", "US"),
    ("Oslo", "Oslo", "NO"),
    ("Lyon", "Auvergne-Rhone-Alpes", "FR"),
    ("Pune", "Maharashtra", "IN"),
];

/// One SigninLogs row as Log Analytics exports it.
fn signin_row(rng: &mut Rng, i: u64) -> String {
    let user = rng.below(2000);
    let app = APPS[rng.below(APPS.len() as u64) as usize];
    let (city, state, country) = CITIES[rng.below(CITIES.len() as u64) as usize];
    let failed = rng.below(10) == 0;
    let result = if failed { "50126" } else { "0" };
    let n_policies = 3 + rng.below(6);
    let policies: Vec<String> = (0..n_policies)
        .map(|p| {
            format!(
                r#"{{"id":"{}","displayName":"CA{p:03} - Require MFA for {app} users outside trusted locations","enforcedGrantControls":["Mfa"],"enforcedSessionControls":[],"result":"{}","conditionsSatisfied":3,"conditionsNotSatisfied":0,"includeRulesSatisfied":[{{"conditionalAccessCondition":"application","ruleSatisfied":"appId"}},{{"conditionalAccessCondition":"users","ruleSatisfied":"allUsers"}}],"excludeRulesSatisfied":[]}}"#,
                rng.guid(),
                if p % 3 == 0 { "success" } else { "notApplied" }
            )
        })
        .collect();
    let secs = 1_714_550_400 + i * 3;
    format!(
        concat!(
            r#"{{"TenantId":"{tenant}","SourceSystem":"Azure AD","TimeGenerated":"{time}","ResourceId":"/tenants/{tenant}/providers/Microsoft.aadiam","OperationName":"Sign-in activity","OperationVersion":"1.0","Category":"SignInLogs","ResultType":"{result}","ResultSignature":"None","ResultDescription":"{desc}","DurationMs":0,"CorrelationId":"{corr}","Resource":"Microsoft.aadiam","ResourceGroup":"Microsoft.aadiam","ResourceProvider":"","Identity":"User {user}","Level":"4","Location":"{country}","#,
            r#""AlternateSignInName":"user{user}@contoso.com","AppDisplayName":"{app}","AppId":"{appid}","AuthenticationContextClassReferences":"[]","AuthenticationDetails":"[{{\"authenticationStepDateTime\":\"{time}\",\"authenticationMethod\":\"Password\",\"succeeded\":true}}]","AuthenticationMethodsUsed":"[]","AuthenticationProcessingDetails":"[{{\"key\":\"Legacy TLS (TLS 1.0, 1.1, 3DES)\",\"value\":\"False\"}}]","AuthenticationProtocol":"none","AuthenticationRequirement":"singleFactorAuthentication","AuthenticationRequirementPolicies":"[]","AutonomousSystemNumber":"8075","#,
            r#""ClientAppUsed":"Browser","ConditionalAccessPolicies":[{policies}],"ConditionalAccessStatus":"success","CreatedDateTime":"{time}","CrossTenantAccessType":"none","DeviceDetail":{{"deviceId":"","operatingSystem":"Windows10","browser":"Edge 120.0.0"}},"FlaggedForReview":false,"HomeTenantId":"{tenant}","Id":"{id}","IPAddress":"203.0.{a}.{b}","IsInteractive":true,"IsRisky":false,"LocationDetails":{{"city":"{city}","state":"{state}","countryOrRegion":"{country}","geoCoordinates":{{"latitude":47.6,"longitude":-122.3}}}},"#,
            r#""MfaDetail":{{}},"NetworkLocationDetails":"[]","OriginalRequestId":"{id}","ProcessingTimeInMilliseconds":"84","ResourceDisplayName":"Windows Azure Service Management API","ResourceIdentity":"797f4846-ba00-4fd7-ba43-dac1f8f63013","ResourceTenantId":"{tenant}","RiskDetail":"none","RiskEventTypes":"[]","RiskEventTypes_V2":"[]","RiskLevelAggregated":"none","RiskLevelDuringSignIn":"none","RiskState":"none","ServicePrincipalId":"","ServicePrincipalName":"","SessionLifetimePolicies":"[]","Status":{{"errorCode":{result},"additionalDetails":"MFA requirement satisfied by claim in the token"}},"TokenIssuerName":"","TokenIssuerType":"AzureAD","UniqueTokenIdentifier":"{uti}","UserAgent":"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.0.0","UserDisplayName":"User {user}","UserId":"{userid}","UserPrincipalName":"user{user}@contoso.com","UserType":"Member","Type":"SigninLogs"}}"#
        ),
        tenant = "2ad3fc79-1859-42fa-9011-6f8df2251b22",
        time = kqlflow::model::format_datetime_iso(secs as i64 * 10_000_000),
        result = result,
        desc = if failed {
            "Invalid username or password."
        } else {
            ""
        },
        corr = rng.guid(),
        user = user,
        country = country,
        app = app,
        appid = rng.guid(),
        policies = policies.join(","),
        id = rng.guid(),
        a = rng.below(256),
        b = rng.below(256),
        city = city,
        state = state,
        uti = rng.guid(),
        userid = rng.guid(),
    )
}

/// About `bytes` of SigninLogs JSON Lines, and the number of rows.
fn signin_jsonl(bytes: usize) -> (Vec<u8>, u64) {
    let mut rng = Rng(0x5eed);
    let mut out = Vec::with_capacity(bytes + 8192);
    let mut rows = 0;
    while out.len() < bytes {
        out.extend_from_slice(signin_row(&mut rng, rows).as_bytes());
        out.push(b'\n');
        rows += 1;
    }
    (out, rows)
}

const TEN_COLUMNS: [&str; 10] = [
    "TimeGenerated",
    "UserPrincipalName",
    "IPAddress",
    "ResultType",
    "ResultDescription",
    "AppDisplayName",
    "LocationDetails",
    "ClientAppUsed",
    "CorrelationId",
    "Type",
];

fn run(data: &[u8], projection: &Projection) -> u64 {
    let mut ing = Ingest::new(Catalog::builtin(), projection, Options::default());
    let mut n = 0u64;
    ing.read_bytes("SigninLogs.jsonl", data, &mut |r| {
        n += 1;
        std::hint::black_box(r);
    });
    assert_eq!(ing.report.rejected(), 0);
    n
}

fn bench(c: &mut Criterion) {
    let (data, rows) = signin_jsonl(32 << 20);
    // KQLFLOW_BENCH_DUMP=FILE writes the generated rows out, to measure other readers on them.
    if let Ok(path) = std::env::var("KQLFLOW_BENCH_DUMP")
        && let Err(e) = std::fs::write(&path, &data)
    {
        eprintln!("cannot write {path}: {e}");
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&data).unwrap_or_default();
    let gz = gz.finish().unwrap_or_default();
    eprintln!(
        "data: {rows} SigninLogs rows, {:.1} MB, {:.0} bytes per row; gzipped {:.1} MB",
        data.len() as f64 / 1e6,
        data.len() as f64 / rows as f64,
        gz.len() as f64 / 1e6
    );
    let all = Projection::all();
    let ten =
        Projection::only(Catalog::builtin(), &[("SigninLogs", &TEN_COLUMNS)]).unwrap_or_default();
    for (group, throughput) in [
        ("ingest_bytes", Throughput::Bytes(data.len() as u64)),
        ("ingest_rows", Throughput::Elements(rows)),
    ] {
        let mut g = c.benchmark_group(group);
        g.sample_size(10);
        g.measurement_time(std::time::Duration::from_secs(4));
        g.throughput(throughput);
        g.bench_function("jsonl_all_columns", |b| b.iter(|| run(&data, &all)));
        g.bench_function("jsonl_projection_10", |b| b.iter(|| run(&data, &ten)));
        g.bench_function("jsonl_gz_projection_10", |b| b.iter(|| run(&gz, &ten)));
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
