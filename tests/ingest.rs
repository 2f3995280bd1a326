//! Ingest of every input format, of the real sample exports (`demo/`), and of bad input.

use std::io::Write;
use std::path::{Path, PathBuf};

use kqlflow::catalog::Catalog;
use kqlflow::ingest::{Ingest, Options, Projection, Record, RejectReason, WarningKind};
use kqlflow::model::{Value, parse_datetime};

/// The real sample exports kept in the repository for `kqlflow demo` (`demo/README.md` gives
/// their sources and licences).
fn samples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("demo")
}

struct Run {
    records: Vec<Record>,
    ing_tables: Vec<String>,
    report: kqlflow::ingest::Report,
    layouts: Vec<Vec<String>>,
}

impl Run {
    fn get(&self, i: usize, col: &str) -> Value {
        let r = &self.records[i];
        let pos = self.layouts[r.table]
            .iter()
            .position(|c| c == col)
            .unwrap_or_else(|| panic!("no column {col}"));
        r.row[pos].clone()
    }
    fn table(&self, i: usize) -> &str {
        &self.ing_tables[self.records[i].table]
    }
    fn rejects(&self, reason: RejectReason) -> u64 {
        self.report.rejects.get(&reason).map_or(0, |t| t.count)
    }
}

fn run_with(
    f: impl FnOnce(&mut Ingest, &mut dyn FnMut(Record)),
    projection: Projection,
    options: Options,
) -> Run {
    let catalog = Catalog::builtin();
    let mut ing = Ingest::new(catalog, &projection, options);
    let mut records = Vec::new();
    f(&mut ing, &mut |r| records.push(r));
    let layouts = (0..catalog.tables().len())
        .map(|t| {
            let l = ing.layout(t).unwrap();
            l.columns
                .iter()
                .map(|&c| l.table.schema.columns()[c].name.to_string())
                .collect()
        })
        .collect();
    ing.finish().unwrap();
    Run {
        records,
        ing_tables: catalog
            .tables()
            .iter()
            .map(|t| t.name.to_string())
            .collect(),
        report: std::mem::take(&mut ing.report),
        layouts,
    }
}

fn read_bytes(name: &str, bytes: &[u8]) -> Run {
    run_with(
        |ing, sink| ing.read_bytes(name, bytes, sink),
        Projection::all(),
        Options::default(),
    )
}

fn dt(s: &str) -> Value {
    Value::DateTime(parse_datetime(s).unwrap())
}

const SIGNIN_ROW: &str = r#"{"TimeGenerated":"2024-05-01T10:00:00.1234567Z","Type":"SigninLogs","UserPrincipalName":"alice@contoso.com","IPAddress":"203.0.113.7","ResultType":"50126","DurationMs":12,"IsInteractive":true,"LocationDetails":{"city":"Oslo","state":"Oslo","countryOrRegion":"NO"},"Status":"{\"errorCode\":50126}"}"#;

#[test]
fn json_lines_rows_coerce_to_the_schema() {
    let text = format!("{SIGNIN_ROW}\n\n{SIGNIN_ROW}\r\n");
    let run = read_bytes("rows.jsonl", text.as_bytes());
    assert_eq!(run.records.len(), 2, "{:?}", run.report.rejects);
    assert_eq!(run.report.rejected(), 0);
    assert_eq!(run.table(0), "SigninLogs");
    assert_eq!(
        run.records[0].time,
        parse_datetime("2024-05-01T10:00:00.1234567Z")
    );
    assert_eq!(
        run.get(0, "UserPrincipalName"),
        Value::str("alice@contoso.com")
    );
    assert_eq!(run.get(0, "DurationMs"), Value::Long(12));
    assert_eq!(run.get(0, "IsInteractive"), Value::Bool(true));
    assert_eq!(
        run.get(0, "LocationDetails").get("city"),
        Some(&Value::str("Oslo"))
    );
    // A dynamic column given as JSON text is parsed.
    assert_eq!(
        run.get(0, "Status").get("errorCode"),
        Some(&Value::Long(50126))
    );
    // Absent string columns are empty strings, absent others null.
    assert_eq!(run.get(0, "AppDisplayName"), Value::str(""));
    assert_eq!(run.get(0, "CreatedDateTime"), Value::Null);
    let stats = &run.report.tables["SigninLogs"];
    assert_eq!(stats.rows, 2);
    assert_eq!(
        stats.min_time,
        parse_datetime("2024-05-01T10:00:00.1234567Z")
    );
}

#[test]
fn json_array_and_pretty_documents() {
    let text = format!("[\n  {SIGNIN_ROW},\n  {SIGNIN_ROW}\n]\n");
    let run = read_bytes("export.json", text.as_bytes());
    assert_eq!(run.records.len(), 2);
    assert_eq!(run.report.rejected(), 0);
    let pretty = "{\n  \"TimeGenerated\": \"2024-05-01T10:00:00Z\",\n  \"Type\": \"AuditLogs\",\n  \"OperationName\": \"Add user\"\n}\n{\n  \"TimeGenerated\": \"2024-05-01T11:00:00Z\",\n  \"Type\": \"AuditLogs\",\n  \"OperationName\": \"Delete user\"\n}\n";
    let run = read_bytes("pretty.json", pretty.as_bytes());
    assert_eq!(run.records.len(), 2, "{:?}", run.report.rejects);
    assert_eq!(run.get(1, "OperationName"), Value::str("Delete user"));
}

const DIAG_SIGNIN: &str = r#"{"time":"2024-05-01T10:00:00Z","resourceId":"/tenants/t/providers/Microsoft.aadiam","operationName":"Sign-in activity","category":"SignInLogs","tenantId":"t","resultType":"0","callerIpAddress":"198.51.100.4","Level":4,"location":"US","properties":{"id":"abc","userPrincipalName":"bob@contoso.com","appDisplayName":"Azure Portal","location":{"city":"Seattle"},"status":{"errorCode":0},"isInteractive":true}}"#;
const DIAG_AUDIT: &str = r#"{"time":"2024-05-01T10:05:00Z","category":"AuditLogs","operationName":"Update application - Certificates and secrets management","properties":{"category":"ApplicationManagement","operationType":"Update","initiatedBy":{"app":{"displayName":"Deployer","servicePrincipalId":"sp-1"}},"targetResources":[{"id":"app-1","displayName":"Payroll"}]}}"#;

#[test]
fn event_hub_envelope_and_storage_records() {
    let envelope = format!("{{\"records\": [\n{DIAG_SIGNIN},\n{DIAG_AUDIT}\n]}}");
    let run = read_bytes("eventhub.json", envelope.as_bytes());
    assert_eq!(run.records.len(), 2, "{:?}", run.report.rejects);
    assert_eq!(run.table(0), "SigninLogs");
    assert_eq!(
        run.get(0, "UserPrincipalName"),
        Value::str("bob@contoso.com")
    );
    assert_eq!(run.get(0, "IPAddress"), Value::str("198.51.100.4"));
    assert_eq!(
        run.get(0, "LocationDetails").get("city"),
        Some(&Value::str("Seattle"))
    );
    assert_eq!(run.get(0, "Level"), Value::str("4"));
    assert_eq!(run.get(0, "Type"), Value::str("SigninLogs"));
    assert_eq!(run.table(1), "AuditLogs");
    assert_eq!(run.get(1, "Category"), Value::str("ApplicationManagement"));
    assert_eq!(
        run.get(1, "InitiatedBy")
            .get("app")
            .and_then(|a| a.get("servicePrincipalId")),
        Some(&Value::str("sp-1"))
    );
    assert_eq!(run.records[1].time, parse_datetime("2024-05-01T10:05:00Z"));
    // Each record of a pretty-printed envelope is reported at its own line.
    let lines = format!("{DIAG_SIGNIN}\n{DIAG_AUDIT}\n");
    let run = read_bytes("PT1H.json", lines.as_bytes());
    assert_eq!(run.records.len(), 2);
    // The envelope on one line (JSON Lines of envelopes) works too.
    let one_line = format!("{{\"records\":[{DIAG_SIGNIN},{DIAG_AUDIT}]}}\n");
    let run = read_bytes("capture.json", one_line.as_bytes());
    assert_eq!(run.records.len(), 2);
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

#[test]
fn gzip_is_detected_by_content() {
    let text = format!("{SIGNIN_ROW}\n{SIGNIN_ROW}\n");
    let run = read_bytes("rows.bin", &gzip(text.as_bytes()));
    assert_eq!(run.records.len(), 2);
    assert!(
        run.report.files[0].format.contains("gzip"),
        "{}",
        run.report.files[0].format
    );
    let csv = "TimeGenerated [UTC],Type,OperationName\n\"5/1/2024, 10:00:00.000 AM\",AuditLogs,Add user\n";
    let run = read_bytes("audit.csv.gz", &gzip(csv.as_bytes()));
    assert_eq!(run.records.len(), 1);
    // A cut-short gzip stream is a counted reject, not a crash.
    let gz = gzip(text.repeat(2000).as_bytes());
    let run = read_bytes("cut.json.gz", &gz[..gz.len() / 2]);
    assert!(
        run.rejects(RejectReason::BadGzip) == 1,
        "{:?}",
        run.report.rejects
    );
    assert!(!run.records.is_empty());
}

fn gzip_level(bytes: &[u8], level: u32) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(level));
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

/// What `zcat` gets out of `gz`: every byte decoded before the data ends or breaks.
fn zcat(gz: &[u8]) -> Vec<u8> {
    let mut dec = flate2::read::MultiGzDecoder::new(gz);
    let mut out = Vec::new();
    let mut buf = [0u8; 512];
    while let Ok(n) = std::io::Read::read(&mut dec, &mut buf) {
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    out
}

/// Distinct SigninLogs rows, one per line.
fn signin_rows(n: usize) -> String {
    (0..n)
        .map(|i| {
            format!(
                "{{\"TimeGenerated\":\"2024-05-01T10:{:02}:{:02}Z\",\"Type\":\"SigninLogs\",\"UserPrincipalName\":\"user{i}@contoso.com\",\"IPAddress\":\"10.{}.{}.{}\",\"ResultType\":\"{}\"}}\n",
                i / 60 % 60,
                i % 60,
                i % 250,
                i * 7 % 250,
                i * 13 % 250,
                50000 + i * 37 % 1000
            )
        })
        .collect()
}

#[test]
fn damaged_gzip_keeps_every_row_before_the_damage() {
    let text = signin_rows(150);
    let gz = gzip(text.as_bytes());
    // Cut early (the whole file is well under 64 KiB of text).
    let cut = &gz[..gz.len() * 2 / 3];
    let got = zcat(cut);
    let whole_lines = got.iter().filter(|&&b| b == b'\n').count();
    assert!(whole_lines > 50 && !got.ends_with(b"\n"), "{whole_lines}");
    let run = read_bytes("SigninLogs.jsonl.gz", cut);
    assert_eq!(run.records.len(), whole_lines, "{:?}", run.report.rejects);
    assert_eq!(run.report.files[0].rows, whole_lines as u64);
    assert_eq!(run.report.rejected(), 1, "{:?}", run.report.rejects);
    let why = &run.report.rejects[&RejectReason::BadGzip].examples[0];
    let at = format!(
        "SigninLogs.jsonl.gz:{}: gzip stream truncated after {} bytes",
        whole_lines + 1,
        cut.len()
    );
    assert!(why.starts_with(&at), "{why}");
    assert!(why.contains("cut short"), "{why}");
    // The rows read are the first ones, in order.
    assert_eq!(
        run.get(whole_lines - 1, "UserPrincipalName"),
        Value::str(format!("user{}@contoso.com", whole_lines - 1))
    );

    // Cut exactly after a line: every line is read, the damage is still told.
    let stored = gzip_level(text.as_bytes(), 0);
    let first_lines: usize = text.lines().take(40).map(|l| l.len() + 1).sum();
    let cut = (0..stored.len())
        .find(|&c| zcat(&stored[..c]).len() >= first_lines)
        .unwrap();
    assert_eq!(zcat(&stored[..cut]).len(), first_lines);
    let run = read_bytes("SigninLogs.jsonl.gz", &stored[..cut]);
    assert_eq!(run.records.len(), 40);
    assert_eq!(run.rejects(RejectReason::BadGzip), 1);
    assert!(
        run.report.rejects[&RejectReason::BadGzip].examples[0]
            .starts_with("SigninLogs.jsonl.gz:41: gzip stream truncated")
    );

    // The same in a JSON array: the elements before the cut are read.
    let array = format!("[\n{}]\n", text.lines().collect::<Vec<_>>().join(",\n"));
    let gz = gzip(array.as_bytes());
    let cut = &gz[..gz.len() / 2];
    let got = zcat(cut);
    let whole = got
        .split(|&b| b == b'\n')
        .skip(1)
        .filter(|l| l.strip_suffix(b",").unwrap_or(l).ends_with(b"}"))
        .count();
    let run = read_bytes("SigninLogs.json.gz", cut);
    assert_eq!(run.records.len(), whole);
    assert_eq!(run.report.rejected(), 1, "{:?}", run.report.rejects);
    assert_eq!(run.rejects(RejectReason::BadGzip), 1);
}

#[test]
fn gzip_padding_is_no_error_and_trailing_garbage_is_told() {
    let text = signin_rows(30);
    let gz = gzip(text.as_bytes());
    // Zero padding after a valid member, which `gzip -t` accepts: every row, a note.
    let padded = [gz.clone(), vec![0u8; 4096]].concat();
    let run = read_bytes("SigninLogs.jsonl.gz", &padded);
    assert_eq!(run.records.len(), 30);
    assert_eq!(run.report.rejected(), 0, "{:?}", run.report.rejects);
    assert_eq!(run.report.warnings[&WarningKind::GzipPadding].count, 1);
    // Two members, then padding.
    let (a, b) = text.split_at(text.len() / 2 + text[text.len() / 2..].find('\n').unwrap() + 1);
    let two = [gzip(a.as_bytes()), gzip(b.as_bytes()), vec![0u8; 10]].concat();
    let run = read_bytes("SigninLogs.jsonl.gz", &two);
    assert_eq!(run.records.len(), 30);
    assert_eq!(run.report.rejected(), 0);
    // Bytes that are not gzip data after the last member: every row, and a reject that says so.
    let garbage = [&gz[..], b"not gzip at all\n"].concat();
    let run = read_bytes("SigninLogs.jsonl.gz", &garbage);
    assert_eq!(run.records.len(), 30);
    assert_eq!(run.rejects(RejectReason::BadGzip), 1);
    let why = &run.report.rejects[&RejectReason::BadGzip].examples[0];
    assert!(
        why.contains("trailing garbage after gzip member 1: 16 bytes"),
        "{why}"
    );
    // A CSV export too.
    let csv = "TimeGenerated,Type,OperationName\n2024-05-01T10:00:00Z,AuditLogs,Add user\n";
    let run = read_bytes(
        "AuditLogs.csv.gz",
        &[gzip(csv.as_bytes()), vec![0; 8]].concat(),
    );
    assert_eq!(run.records.len(), 1);
    assert_eq!(run.report.rejected(), 0);
}

#[test]
fn damaged_gzip_csv_rejects_the_row_it_cuts() {
    let csv = "TimeGenerated,Type,TargetResources,OperationName\n\
2024-05-01T10:00:00Z,AuditLogs,[],Add user\n\
2024-05-01T10:01:00Z,AuditLogs,[],Delete user\n\
2024-05-01T10:02:00Z,AuditLogs,[],\"Update\n user\"\n\
2024-05-01T10:03:00Z,AuditLogs,[],Add member to group\n";
    // Stored blocks decode byte for byte: cut where wanted.
    let gz = gzip_level(csv.as_bytes(), 0);
    let cut_after = |text: &str| {
        let n = csv.find(text).unwrap() + text.len();
        let cut = (0..gz.len()).find(|&c| zcat(&gz[..c]).len() >= n).unwrap();
        assert_eq!(zcat(&gz[..cut]).len(), n);
        cut
    };
    // In the last cell of a row: that row is rejected, not kept as "Delete us".
    let cut = cut_after("Delete us");
    let run = read_bytes("AuditLogs.csv.gz", &gz[..cut]);
    assert_eq!(run.records.len(), 1, "{:?}", run.report.rejects);
    assert_eq!(run.report.rejected(), 1);
    let why = &run.report.rejects[&RejectReason::BadGzip].examples[0];
    assert!(
        why.starts_with("AuditLogs.csv.gz:3: gzip stream truncated"),
        "{why}"
    );
    // Inside a quoted multi-line cell, after its first line.
    let cut = cut_after("\"Update\n");
    let run = read_bytes("AuditLogs.csv.gz", &gz[..cut]);
    assert_eq!(run.records.len(), 2, "{:?}", run.report.rejects);
    assert_eq!(run.report.rejected(), 1);
    assert!(
        run.report.rejects[&RejectReason::BadGzip].examples[0].starts_with("AuditLogs.csv.gz:4:")
    );
    // Between rows: every row is read.
    let cut = cut_after("Delete user\n");
    let run = read_bytes("AuditLogs.csv.gz", &gz[..cut]);
    assert_eq!(run.records.len(), 2);
    assert_eq!(run.rejects(RejectReason::BadGzip), 1);
    assert!(
        run.report.rejects[&RejectReason::BadGzip].examples[0]
            .starts_with("AuditLogs.csv.gz:4: gzip stream truncated")
    );
}
#[test]
fn portal_csv_with_us_datetimes_and_multiline_json() {
    let csv = "\u{feff}TimeGenerated [UTC],UserPrincipalName,IPAddress,LocationDetails,IsInteractive,Type\r\n\
\"4/28/2021, 2:08:45.221 PM\",carol@contoso.com,192.0.2.1,\"{\r\n  \"\"city\"\": \"\"Lyon\"\"\r\n}\",TRUE,SigninLogs\r\n\
\"4/28/2021, 2:09:00.000 PM\",dave@contoso.com,192.0.2.2,,FALSE,SigninLogs\r\n";
    let run = read_bytes("export.csv", csv.as_bytes());
    assert_eq!(run.records.len(), 2, "{:?}", run.report.rejects);
    assert_eq!(
        run.records[0].time,
        parse_datetime("2021-04-28T14:08:45.221Z")
    );
    assert_eq!(run.get(0, "TimeGenerated"), dt("2021-04-28T14:08:45.221Z"));
    assert_eq!(
        run.get(0, "LocationDetails").get("city"),
        Some(&Value::str("Lyon"))
    );
    assert_eq!(run.get(0, "IsInteractive"), Value::Bool(true));
    assert_eq!(run.get(1, "LocationDetails"), Value::Null);
    assert_eq!(
        run.get(1, "UserPrincipalName"),
        Value::str("dave@contoso.com")
    );
}

#[test]
fn portal_csv_split_dynamic_columns_map_onto_their_schema_column() {
    // A portal export of a union of SigninLogs and AADNonInteractiveUserSignInLogs, whose
    // nested columns are dynamic in one table and string in the other: each is split in two.
    let csv = "\u{feff}TimeGenerated [UTC],Type,UserPrincipalName,Status_dynamic,Status_string,LocationDetails_dynamic,LocationDetails_string,DeviceDetail_string,MfaDetail_dynamic,Foo_dynamic,Extra\r\n\
\"5/1/2024, 10:00:00.000 AM\",SigninLogs,alice@contoso.com,\"{\"\"errorCode\"\":0}\",,\"{\"\"city\"\":\"\"Oslo\"\",\"\"countryOrRegion\"\":\"\"NO\"\"}\",,\"{\"\"operatingSystem\"\":\"\"Windows 10\"\"}\",\"{\"\"authMethod\"\":\"\"PhoneAppNotification\"\"}\",x,y\r\n\
\"5/1/2024, 10:05:00.000 AM\",AADNonInteractiveUserSignInLogs,bob@contoso.com,,\"{\"\"errorCode\"\":50126}\",,\"{\"\"city\"\":\"\"Lyon\"\"}\",\"{\"\"operatingSystem\"\":\"\"iOS\"\"}\",,x,y\r\n\
\"5/1/2024, 10:06:00.000 AM\",SigninLogs,carol@contoso.com,,\"{\"\"errorCode\"\":50074}\",Paris,,,,x,y\r\n";
    let run = read_bytes("union_export.csv", csv.as_bytes());
    assert_eq!(run.report.rejected(), 0, "{:?}", run.report.rejects);
    assert_eq!(run.records.len(), 3);
    assert_eq!(run.table(0), "SigninLogs");
    assert_eq!(
        run.get(0, "LocationDetails").get("city"),
        Some(&Value::str("Oslo"))
    );
    assert_eq!(run.get(0, "Status").get("errorCode"), Some(&Value::Long(0)));
    // Only the `_string` half: its JSON text read into the dynamic column.
    assert_eq!(
        run.get(0, "DeviceDetail").get("operatingSystem"),
        Some(&Value::str("Windows 10"))
    );
    assert_eq!(
        run.get(0, "MfaDetail").get("authMethod"),
        Some(&Value::str("PhoneAppNotification"))
    );
    // The string-typed table takes the text of the `_string` half.
    assert_eq!(run.table(1), "AADNonInteractiveUserSignInLogs");
    assert_eq!(
        run.get(1, "LocationDetails"),
        Value::str(r#"{"city":"Lyon"}"#)
    );
    assert_eq!(run.get(1, "Status"), Value::str(r#"{"errorCode":50126}"#));
    // The `_dynamic` half holds no JSON: the `_string` half's value, else the text itself.
    assert_eq!(
        run.get(2, "Status").get("errorCode"),
        Some(&Value::Long(50074))
    );
    assert_eq!(run.get(2, "LocationDetails"), Value::str("Paris"));
    // Columns that map nowhere are told, once per table, and counted per row.
    let unknown = &run.report.tables["SigninLogs"].unknown_columns;
    assert_eq!(unknown.get("Foo_dynamic"), Some(&2));
    assert_eq!(unknown.get("Extra"), Some(&2));
    assert!(!unknown.contains_key("Status_dynamic"), "{unknown:?}");
    assert!(
        !unknown.contains_key("LocationDetails_string"),
        "{unknown:?}"
    );
    let w = &run.report.warnings[&WarningKind::UnmappedColumn];
    assert_eq!(w.count, 4, "{w:?}");
    assert!(
        w.examples[0].starts_with("union_export.csv:1: Foo_dynamic"),
        "{w:?}"
    );

    // A header that has the plain column too keeps it, and its split halves map nowhere.
    let csv = "TimeGenerated,Type,LocationDetails,LocationDetails_dynamic\n\
2024-05-01T10:00:00Z,SigninLogs,\"{\"\"city\"\":\"\"Oslo\"\"}\",\"{\"\"city\"\":\"\"Rome\"\"}\"\n";
    let run = read_bytes("both.csv", csv.as_bytes());
    assert_eq!(
        run.get(0, "LocationDetails").get("city"),
        Some(&Value::str("Oslo"))
    );
    assert_eq!(run.report.warnings[&WarningKind::UnmappedColumn].count, 1);
}
#[test]
fn table_from_file_name_and_option() {
    let row = r#"{"TimeGenerated":"2024-05-01T10:00:00Z","ServicePrincipalName":"app"}"#;
    let run = read_bytes("AADServicePrincipalSignInLogs.jsonl", row.as_bytes());
    assert_eq!(run.records.len(), 1);
    assert_eq!(run.table(0), "AADServicePrincipalSignInLogs");
    let run = read_bytes("data.jsonl", row.as_bytes());
    assert_eq!(run.records.len(), 0);
    assert_eq!(run.rejects(RejectReason::UnknownTable), 1);
    let opts = Options {
        table: Some("AADServicePrincipalSignInLogs".into()),
        ..Options::default()
    };
    let run = run_with(
        |ing, sink| ing.read_bytes("data.jsonl", row.as_bytes(), sink),
        Projection::all(),
        opts,
    );
    assert_eq!(run.records.len(), 1);
}

#[test]
fn mixed_tables_in_one_file() {
    let text = format!(
        "{SIGNIN_ROW}\n{}\n{SIGNIN_ROW}\n",
        r#"{"TimeGenerated":"2024-05-01T10:00:00Z","Type":"AuditLogs","OperationName":"Add user"}"#
    );
    let run = read_bytes("union.jsonl", text.as_bytes());
    let tables: Vec<&str> = (0..3).map(|i| run.table(i)).collect();
    assert_eq!(tables, vec!["SigninLogs", "AuditLogs", "SigninLogs"]);
    assert_eq!(run.get(1, "OperationName"), Value::str("Add user"));
}

#[test]
fn projection_materialises_only_what_is_asked() {
    let catalog = Catalog::builtin();
    let p = Projection::only(
        catalog,
        &[("SigninLogs", &["UserPrincipalName", "IPAddress"])],
    )
    .unwrap();
    let text = format!(
        "{SIGNIN_ROW}\n{}\n",
        r#"{"TimeGenerated":"2024-05-01T10:00:00Z","Type":"AuditLogs"}"#
    );
    let run = run_with(
        |ing, sink| ing.read_bytes("x.jsonl", text.as_bytes(), sink),
        p,
        Options::default(),
    );
    assert_eq!(
        run.records.len(),
        1,
        "AuditLogs is counted but not materialised"
    );
    assert_eq!(
        run.records[0].row,
        vec![Value::str("203.0.113.7"), Value::str("alice@contoso.com")]
    );
    // The event time is known even though TimeGenerated was not asked for.
    assert_eq!(
        run.records[0].time,
        parse_datetime("2024-05-01T10:00:00.1234567Z")
    );
    assert_eq!(run.report.tables["AuditLogs"].rows, 1);
    let err = Projection::only(catalog, &[("SigninLogs", &["UserPrincipleName"])]).unwrap_err();
    assert!(err.contains("UserPrincipalName"), "{err}");
    let err = Projection::only(catalog, &[("SignInLog", &[])]).unwrap_err();
    assert!(err.contains("SigninLogs"), "{err}");
}

#[test]
fn bad_input_is_reported_and_counted() {
    let good = SIGNIN_ROW;
    let truncated = &SIGNIN_ROW[..SIGNIN_ROW.len() - 30];
    let deep = format!(
        "{{\"TimeGenerated\":\"2024-05-01T10:00:00Z\",\"Type\":\"SigninLogs\",\"LocationDetails\":{}{}}}",
        "[".repeat(500),
        "]".repeat(500)
    );
    let wrong_type =
        r#"{"TimeGenerated":"2024-05-01T10:00:00Z","Type":"SigninLogs","DurationMs":"slow"}"#;
    let bad_time = r#"{"TimeGenerated":"yesterday","Type":"SigninLogs"}"#;
    let unknown = r#"{"TimeGenerated":"2024-05-01T10:00:00Z","Type":"NoSuchTable","Computer":"dc1","EventID":4625}"#;
    let text = format!(
        "{good}\n{truncated}\n[1,2]\n{deep}\n{wrong_type}\n{bad_time}\n{unknown}\nnot json\n{good}\n"
    );
    let run = read_bytes("bad.jsonl", text.as_bytes());
    assert_eq!(run.records.len(), 3, "good, wrong_type (with a null), good");
    assert_eq!(run.rejects(RejectReason::MalformedJson), 2);
    assert_eq!(run.rejects(RejectReason::NotAnObject), 1);
    assert_eq!(run.rejects(RejectReason::TooDeep), 1);
    assert_eq!(run.rejects(RejectReason::BadTime), 1);
    assert_eq!(run.rejects(RejectReason::UnknownTable), 1);
    assert_eq!(run.get(1, "DurationMs"), Value::Null);
    let w = &run.report.warnings[&WarningKind::WrongType];
    assert_eq!(w.count, 1);
    assert_eq!(
        w.examples[0],
        "bad.jsonl:5: DurationMs: expected long, got \"slow\""
    );
    let t = &run.report.rejects[&RejectReason::MalformedJson];
    assert!(
        t.examples[0].starts_with("bad.jsonl:2: truncated JSON"),
        "{:?}",
        t.examples
    );
    assert!(
        t.examples[1].starts_with("bad.jsonl:8:"),
        "{:?}",
        t.examples
    );
    assert!(run.report.rejects[&RejectReason::UnknownTable].examples[0].contains("NoSuchTable"));
    assert_eq!(run.report.files[0].rejected, 6);
}

#[test]
fn oversized_lines_binary_and_empty_files() {
    let opts = Options {
        max_line_bytes: 1000,
        ..Options::default()
    };
    let big = format!(
        "{{\"TimeGenerated\":\"2024-05-01T10:00:00Z\",\"Type\":\"SigninLogs\",\"UserAgent\":\"{}\"}}",
        "x".repeat(5000)
    );
    let text = format!("{SIGNIN_ROW}\n{big}\n{SIGNIN_ROW}\n");
    let run = run_with(
        |ing, sink| ing.read_bytes("big.jsonl", text.as_bytes(), sink),
        Projection::all(),
        opts,
    );
    assert_eq!(run.records.len(), 2);
    assert_eq!(run.rejects(RejectReason::LineTooLong), 1);
    assert!(run.report.rejects[&RejectReason::LineTooLong].examples[0].starts_with("big.jsonl:2:"));

    let binary: Vec<u8> = (0..=255u8).cycle().take(4096).collect();
    let run = read_bytes("blob.json", &binary);
    assert_eq!(run.records.len(), 0);
    assert_eq!(run.rejects(RejectReason::BinaryFile), 1);

    let run = read_bytes("empty.json", b"");
    assert_eq!(run.report.rejected(), 0);
    assert_eq!(run.report.warnings[&WarningKind::EmptyFile].count, 1);
    let run = read_bytes("blank.json", b"  \n\n ");
    assert_eq!(run.report.warnings[&WarningKind::EmptyFile].count, 1);

    let run = read_bytes("notes.txt", b"hello world\n");
    assert_eq!(run.rejects(RejectReason::UnknownFormat), 1);

    let not_utf8 = [
        SIGNIN_ROW.as_bytes(),
        b"\n{\"Type\":\"SigninLogs\",\"UserAgent\":\"\xff\xfe\"}\n",
    ]
    .concat();
    let run = read_bytes("latin1.jsonl", &not_utf8);
    assert_eq!(run.records.len(), 1);
    assert_eq!(run.rejects(RejectReason::NotUtf8), 1);
}

/// A JSON Lines row of SigninLogs whose `UserAgent` is `agent` (raw bytes, not escaped).
fn row_with_agent(agent: &[u8]) -> Vec<u8> {
    [
        &b"{\"TimeGenerated\":\"2024-05-01T10:00:00Z\",\"Type\":\"SigninLogs\",\"UserAgent\":\""[..],
        agent,
        b"\"}\n",
    ]
    .concat()
}

#[test]
fn a_bad_byte_rejects_its_line_not_the_whole_file() {
    // Invalid UTF-8 on the very first line and a NUL byte further on: a day of records must not
    // be lost for two bad lines.
    let good = format!("{SIGNIN_ROW}\n");
    let text = [
        row_with_agent(b"caf\xe9"),
        good.clone().into_bytes(),
        good.clone().into_bytes(),
        row_with_agent(b"a\0b"),
        good.clone().into_bytes(),
    ]
    .concat();
    let run = read_bytes("day.jsonl", &text);
    assert_eq!(
        run.rejects(RejectReason::BinaryFile),
        0,
        "{:?}",
        run.report.rejects
    );
    assert_eq!(run.records.len(), 3);
    assert_eq!(run.rejects(RejectReason::NotUtf8), 1);
    assert_eq!(run.rejects(RejectReason::NulByte), 1);
    assert!(
        run.report.rejects[&RejectReason::NotUtf8].examples[0].starts_with("day.jsonl:1:"),
        "{:?}",
        run.report.rejects
    );
    assert!(
        run.report.rejects[&RejectReason::NulByte].examples[0].starts_with("day.jsonl:4:"),
        "{:?}",
        run.report.rejects
    );
    assert_eq!(run.report.files[0].rows, 3);
    assert_eq!(run.report.files[0].rejected, 2);

    // A block of NUL bytes where a crash left a hole in the file (well under a tenth of it).
    let text = [
        good.repeat(4).into_bytes(),
        vec![0u8; 100],
        b"\n".to_vec(),
        good.repeat(2).into_bytes(),
    ]
    .concat();
    let run = read_bytes("hole.jsonl", &text);
    assert_eq!(run.records.len(), 6);
    assert_eq!(run.rejects(RejectReason::NulByte), 1);
    assert!(run.report.rejects[&RejectReason::NulByte].examples[0].starts_with("hole.jsonl:5:"));

    // The same in a portal CSV export, and in a JSON array.
    let csv = [
        &b"TimeGenerated,Type,OperationName\n"[..],
        b"2024-05-01T10:00:00Z,AuditLogs,Add user\0\n",
        b"2024-05-01T10:00:00Z,AuditLogs,Add \xff user\n",
        b"2024-05-01T10:00:00Z,AuditLogs,Add user\n",
    ]
    .concat();
    let run = read_bytes("audit.csv", &csv);
    assert_eq!(run.rejects(RejectReason::BinaryFile), 0);
    assert_eq!(run.records.len(), 1);
    assert_eq!(run.rejects(RejectReason::NulByte), 1);
    assert_eq!(run.rejects(RejectReason::NotUtf8), 1);
    assert!(run.report.rejects[&RejectReason::NulByte].examples[0].starts_with("audit.csv:2:"));
    let array = [
        &b"[\n"[..],
        SIGNIN_ROW.as_bytes(),
        b",\n",
        &row_with_agent(b"x\0y")[..],
        b",\n",
        SIGNIN_ROW.as_bytes(),
        b"\n]\n",
    ]
    .concat();
    let run = read_bytes("rows.json", &array);
    assert_eq!(run.records.len(), 2);
    assert_eq!(run.rejects(RejectReason::NulByte), 1);
    assert!(run.report.rejects[&RejectReason::NulByte].examples[0].starts_with("rows.json:3:"));
}

#[test]
fn a_file_is_binary_by_its_control_bytes_or_magic_number() {
    // More than a tenth of the start is NUL or control bytes: binary, one reject for the file.
    let mut text = format!("{SIGNIN_ROW}\n").repeat(3).into_bytes();
    let n = text.len() / 8;
    text.extend(std::iter::repeat_n(1u8, n));
    let run = read_bytes("mostly.jsonl", &text);
    assert_eq!(run.records.len(), 0);
    assert_eq!(run.rejects(RejectReason::BinaryFile), 1);
    let why = &run.report.rejects[&RejectReason::BinaryFile].examples[0];
    assert!(why.contains("more than 10%"), "{why}");
    // A known binary format, however textual its first bytes look.
    let zip = [&b"PK\x03\x04"[..], SIGNIN_ROW.as_bytes(), b"\n"].concat();
    let run = read_bytes("export.json", &zip);
    assert_eq!(run.records.len(), 0);
    assert_eq!(run.rejects(RejectReason::BinaryFile), 1);
    let why = &run.report.rejects[&RejectReason::BinaryFile].examples[0];
    assert!(why.contains("zip"), "{why}");
    // UTF-16 text (PowerShell's default encoding) is told as such.
    let utf16: Vec<u8> = [0xff, 0xfe]
        .into_iter()
        .chain(SIGNIN_ROW.encode_utf16().flat_map(u16::to_le_bytes))
        .collect();
    let run = read_bytes("ps.json", &utf16);
    assert_eq!(run.rejects(RejectReason::BinaryFile), 1);
    let why = &run.report.rejects[&RejectReason::BinaryFile].examples[0];
    assert!(why.contains("UTF-16"), "{why}");
}

#[test]
fn truncated_json_document() {
    let text = format!("[\n{SIGNIN_ROW},\n{SIGNIN_ROW},\n{}", &SIGNIN_ROW[..40]);
    let run = read_bytes("cut.json", text.as_bytes());
    assert_eq!(run.records.len(), 2);
    assert_eq!(run.rejects(RejectReason::MalformedJson), 1);
    assert!(
        run.report.rejects[&RejectReason::MalformedJson].examples[0].starts_with("cut.json:4:")
    );
}

#[test]
fn csv_errors_are_counted() {
    let csv = "TimeGenerated,Type,OperationName\n2024-05-01T10:00:00Z,AuditLogs,Add user\n2024-05-01T10:00:00Z,AuditLogs\n2024-05-01T10:00:00Z,NoSuchTable,x\n";
    let run = read_bytes("a.csv", csv.as_bytes());
    assert_eq!(run.records.len(), 1);
    assert_eq!(run.rejects(RejectReason::CsvFieldCount), 1);
    assert_eq!(run.rejects(RejectReason::UnknownTable), 1);
    assert!(run.report.rejects[&RejectReason::CsvFieldCount].examples[0].starts_with("a.csv:3:"));
}

#[test]
fn rejects_file_keeps_the_lines() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rejects.jsonl");
    let out = std::fs::File::create(&path).unwrap();
    let text = format!("{SIGNIN_ROW}\n{{broken\n");
    let catalog = Catalog::builtin();
    let mut ing = Ingest::new(catalog, &Projection::all(), Options::default());
    ing.report
        .keep_rejects(Box::new(std::io::BufWriter::new(out)));
    ing.read_bytes("r.jsonl", text.as_bytes(), &mut |_| {});
    ing.finish().unwrap();
    let kept = std::fs::read_to_string(&path).unwrap();
    let line: serde_json::Value = serde_json::from_str(kept.trim()).unwrap();
    assert_eq!(line["file"], "r.jsonl");
    assert_eq!(line["line"], 2);
    assert_eq!(line["reason"], "malformed JSON");
    assert_eq!(line["text"], "{broken");
}

#[test]
fn directory_trees_are_walked_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("insights-logs-signinlogs").join("y=2024");
    std::fs::create_dir_all(&sub).unwrap();
    std::fs::write(sub.join("PT1H.json"), format!("{DIAG_SIGNIN}\n")).unwrap();
    std::fs::write(
        dir.path().join("AuditLogs.jsonl.gz"),
        gzip(format!("{DIAG_AUDIT}\n").as_bytes()),
    )
    .unwrap();
    std::fs::write(dir.path().join(".hidden.json"), "garbage").unwrap();
    std::fs::write(dir.path().join("README.md"), "not a log").unwrap();
    let run = run_with(
        |ing, sink| ing.read_path(dir.path(), sink),
        Projection::all(),
        Options::default(),
    );
    assert_eq!(run.report.files.len(), 2);
    assert_eq!(run.records.len(), 2);
    assert_eq!(run.report.rejected(), 0);
    let missing = dir.path().join("nope.json");
    let run = run_with(
        |ing, sink| ing.read_path(&missing, sink),
        Projection::all(),
        Options::default(),
    );
    assert_eq!(run.rejects(RejectReason::Unreadable), 1);
}

#[test]
fn training_lab_csvs_load_with_no_reject() {
    let lab = samples();
    let run = run_with(
        |ing, sink| ing.read_path(&lab.join("SigninLogs_disable_accounts.csv"), sink),
        Projection::all(),
        Options::default(),
    );
    assert_eq!(run.report.rejected(), 0, "{:?}", run.report.rejects);
    assert_eq!(run.records.len(), 4);
    assert_eq!(run.table(0), "SigninLogs");
    assert_eq!(
        run.get(0, "UserPrincipalName"),
        Value::str("johns@m365x816222.onmicrosoft.com")
    );
    assert_eq!(run.get(0, "ResultType"), Value::str("50057"));
    assert_eq!(run.get(0, "IsInteractive"), Value::Bool(true));
    assert_eq!(run.get(0, "DurationMs"), Value::Long(0));
    assert_eq!(run.get(0, "IPAddress"), Value::str("175.45.176.99"));
    assert_eq!(
        run.get(0, "Status").get("errorCode"),
        Some(&Value::Long(50057))
    );
    assert_eq!(
        run.get(0, "LocationDetails").get("countryOrRegion"),
        Some(&Value::str("KP"))
    );
    let auth = run.get(0, "AuthenticationDetails");
    // AuthenticationDetails is a string column holding multi-line JSON text, kept verbatim.
    assert!(
        auth.as_str()
            .unwrap()
            .contains("\"authenticationMethod\": \"Password\"")
    );
    // The export has no TimeGenerated: the rows load, and the report says so.
    assert_eq!(run.report.tables["SigninLogs"].rows_without_time, 4);

    let run = run_with(
        |ing, sink| ing.read_path(&lab.join("AuditLogs_Hunting.csv"), sink),
        Projection::all(),
        Options::default(),
    );
    assert_eq!(run.report.rejected(), 0, "{:?}", run.report.rejects);
    assert_eq!(run.records.len(), 5);
    assert_eq!(
        run.get(0, "OperationName"),
        Value::str("Update application – Certificates and secrets management ")
    );
    assert_eq!(
        run.get(0, "InitiatedBy")
            .get("user")
            .and_then(|u| u.get("userPrincipalName")),
        Some(&Value::str("victim@buildseccxpninja.onmicrosoft.com"))
    );
    let unknown = &run.report.tables["AuditLogs"].unknown_columns;
    assert_eq!(unknown.get("InitiatingUserOrApp"), Some(&5));

    // A hunting query's result exported from the portal: a BOM, `[UTC]` column names, the
    // query's own columns beside the table's, and its table in `Type`.
    let dir = tempfile::tempdir().unwrap();
    let result = dir.path().join("signinLogs.csv");
    std::fs::write(
        &result,
        "\u{feff}StartTime [UTC],EndTime [UTC],IPAddress,disabledAccountLoginAttempts,disabledAccountSet,Type,IPCustomEntity\n\
         \"5/2/2024, 9:10:11.123 AM\",\"5/2/2024, 9:12:13.456 AM\",198.51.100.7,3,\"[\"\"kim@contoso.com\"\"]\",SigninLogs,198.51.100.7\n",
    )
    .unwrap();
    let run = run_with(
        |ing, sink| ing.read_path(&result, sink),
        Projection::all(),
        Options::default(),
    );
    assert_eq!(run.report.rejected(), 0, "{:?}", run.report.rejects);
    assert_eq!(run.records.len(), 1);
    assert_eq!(run.table(0), "SigninLogs");
    assert_eq!(run.get(0, "IPAddress"), Value::str("198.51.100.7"));
    assert!(
        run.report.tables["SigninLogs"]
            .unknown_columns
            .contains_key("disabledAccountLoginAttempts")
    );
}

#[test]
fn audit_events_json_loads_with_values_equal_to_the_file() {
    let path = samples().join("AADAuditEvents.json");
    let run = run_with(
        |ing, sink| ing.read_path(&path, sink),
        Projection::all(),
        Options::default(),
    );
    assert_eq!(run.report.rejected(), 0, "{:?}", run.report.rejects);
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(run.records.len(), lines.len());
    // Two rows of this hunting export overwrote Type with the target's type: they are read as
    // AuditLogs, like the rest of the file, with a warning each.
    assert_eq!(run.report.warnings[&WarningKind::TypeNotATable].count, 2);
    for (i, j) in lines.iter().enumerate() {
        assert_eq!(run.table(i), "AuditLogs");
        assert_eq!(
            run.records[i].time,
            parse_datetime(j["TimeGenerated"].as_str().unwrap())
        );
        for col in [
            "OperationName",
            "CorrelationId",
            "Id",
            "Category",
            "Result",
            "AADOperationType",
        ] {
            assert_eq!(
                run.get(i, col),
                Value::str(j[col].as_str().unwrap_or("")),
                "{col}"
            );
        }
        // Dynamic columns hold the JSON that the file's text holds.
        let target: serde_json::Value =
            serde_json::from_str(j["TargetResources"].as_str().unwrap()).unwrap();
        assert_eq!(
            run.get(i, "TargetResources"),
            kqlflow::model::from_json(&target)
        );
        let initiated: serde_json::Value =
            serde_json::from_str(j["InitiatedBy"].as_str().unwrap()).unwrap();
        assert_eq!(
            run.get(i, "InitiatedBy"),
            kqlflow::model::from_json(&initiated)
        );
    }
}

#[test]
fn csv_lines_are_exact_with_crlf_and_multiline_cells() {
    for eol in ["\n", "\r\n"] {
        let csv = format!(
            "TimeGenerated,Type,OperationName{eol}2024-05-01T10:00:00Z,AuditLogs,a{eol}\"2024-05-01T10:00:00Z\",AuditLogs,\"multi{eol}line\"{eol}2024-05-01T10:00:00Z,AuditLogs{eol}"
        );
        let run = read_bytes("t.csv", csv.as_bytes());
        assert_eq!(run.records.len(), 2);
        assert_eq!(
            run.get(1, "OperationName"),
            Value::str(format!("multi{eol}line"))
        );
        let ex = &run.report.rejects[&RejectReason::CsvFieldCount].examples[0];
        assert!(ex.starts_with("t.csv:5:"), "{eol:?}: {ex}");
    }
}

#[test]
fn records_know_their_file_and_line() {
    let a = format!("{SIGNIN_ROW}\n\nnot json\n{SIGNIN_ROW}\n");
    let b = format!("[\n{SIGNIN_ROW},\n  {SIGNIN_ROW}\n]\n");
    let run = run_with(
        |ing, sink| {
            ing.read_bytes("a.jsonl", a.as_bytes(), sink);
            ing.read_bytes("b.json", b.as_bytes(), sink);
        },
        Projection::all(),
        Options::default(),
    );
    let origins: Vec<(usize, u64)> = run
        .records
        .iter()
        .map(|r| (r.origin.file, r.origin.line))
        .collect();
    assert_eq!(origins, vec![(0, 1), (0, 4), (1, 2), (1, 3)]);
    assert_eq!(run.report.files[1].path, "b.json");
}

#[test]
fn a_kept_row_rejected_later_moves_to_the_rejects() {
    let out = SharedBuf::default();
    let catalog = Catalog::builtin();
    let mut ing = Ingest::new(catalog, &Projection::all(), Options::default());
    ing.report.keep_rejects(Box::new(out.clone()));
    let text = format!("{SIGNIN_ROW}\n{SIGNIN_ROW}\n");
    ing.read_bytes("a.jsonl", text.as_bytes(), &mut |_| {});
    ing.read_bytes("b.jsonl", text.as_bytes(), &mut |_| {});
    ing.report
        .reject_kept(0, 2, "SigninLogs", RejectReason::LateRecord, "behind");
    ing.finish().unwrap();
    let r = &ing.report;
    assert_eq!(r.rejected(), 1);
    assert_eq!(r.rows(), 3);
    assert_eq!((r.files[0].rows, r.files[0].rejected), (1, 1));
    assert_eq!((r.files[1].rows, r.files[1].rejected), (2, 0));
    assert_eq!(
        r.rejects[&RejectReason::LateRecord].examples,
        vec!["a.jsonl:2: behind".to_string()]
    );
    assert_eq!(RejectReason::LateRecord.to_string(), "late record");
    let written = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
    let line: serde_json::Value = serde_json::from_str(written.trim()).unwrap();
    assert_eq!(line["file"], "a.jsonl");
    assert_eq!(line["line"], 2);
    assert_eq!(line["reason"], "late record");
    assert_eq!(line["detail"], "behind");
}

/// A writer whose bytes the test can read afterwards.
#[derive(Clone, Default)]
struct SharedBuf(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl Write for SharedBuf {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Counts, per thread, the bytes allocated and not yet freed, and their peak: how much memory
/// reading an input takes, whatever else runs at the same time.
struct CountingAlloc;

thread_local! {
    static LIVE: std::cell::Cell<isize> = const { std::cell::Cell::new(0) };
    static PEAK: std::cell::Cell<isize> = const { std::cell::Cell::new(0) };
}

fn count_alloc(delta: isize) {
    let _ = LIVE.try_with(|live| {
        let now = live.get() + delta;
        live.set(now);
        let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
    });
}

// SAFETY: every call is passed on to the system allocator unchanged; the counting only reads
// the sizes.
unsafe impl std::alloc::GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        // SAFETY: as the caller promised.
        let p = unsafe { std::alloc::System.alloc(layout) };
        if !p.is_null() {
            count_alloc(layout.size() as isize);
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: std::alloc::Layout) -> *mut u8 {
        // SAFETY: as the caller promised.
        let p = unsafe { std::alloc::System.alloc_zeroed(layout) };
        if !p.is_null() {
            count_alloc(layout.size() as isize);
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, layout: std::alloc::Layout) {
        // SAFETY: as the caller promised.
        unsafe { std::alloc::System.dealloc(p, layout) };
        count_alloc(-(layout.size() as isize));
    }
    unsafe fn realloc(&self, p: *mut u8, layout: std::alloc::Layout, new: usize) -> *mut u8 {
        // SAFETY: as the caller promised.
        let q = unsafe { std::alloc::System.realloc(p, layout, new) };
        if !q.is_null() {
            count_alloc(new as isize - layout.size() as isize);
        }
        q
    }
}

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

/// Runs `f` and returns what it returns and the most memory this thread held at once while it
/// ran, above what it held before.
fn peak_memory<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let before = LIVE.with(|l| l.get());
    PEAK.with(|p| p.set(before));
    let out = f();
    let peak = PEAK.with(|p| p.get());
    (out, (peak - before).max(0) as usize)
}

/// The limit the tests of bounded reading set: 64 KiB.
const LIMIT: usize = 64 << 10;

/// The size of the field those tests put past it: 10 MiB.
const HUGE: usize = 10 << 20;

/// What reading one input may take on top of the input itself, whatever its rows' lengths:
/// about 1 MiB of buffers whatever the limit (reading and look-ahead buffers, the gzip
/// decoder), and the limit a few times over. Keeping the 10 MiB field would take five times
/// more.
const BOUND: usize = 2 << 20;

/// Reads `bytes` as `name` with the limit [`LIMIT`], returning the run and its peak memory.
fn read_bounded(name: &str, bytes: &[u8]) -> (Run, usize) {
    let opts = Options {
        max_line_bytes: LIMIT,
        ..Options::default()
    };
    peak_memory(|| {
        run_with(
            |ing, sink| ing.read_bytes(name, bytes, sink),
            Projection::all(),
            opts,
        )
    })
}

const CSV_HEADER: &str = "TimeGenerated,UserPrincipalName,IPAddress,ResultType\n";

#[test]
fn a_csv_row_past_the_limit_is_skipped_in_bounded_memory_and_reading_goes_on() {
    // Row 3 holds a quoted field of 10 MiB over 11 lines, closed: it alone is rejected.
    let mut huge = vec![b'x'; HUGE];
    for i in 1..=10 {
        huge[i * (HUGE / 11)] = b'\n';
    }
    let mut csv = Vec::new();
    csv.extend_from_slice(CSV_HEADER.as_bytes());
    csv.extend_from_slice(b"2024-05-01T10:00:00Z,alice@contoso.com,192.0.2.1,0\n");
    csv.extend_from_slice(b"2024-05-01T10:01:00Z,\"bob ");
    csv.extend_from_slice(&huge);
    csv.extend_from_slice(b"\",192.0.2.2,0\n");
    csv.extend_from_slice(b"2024-05-01T10:02:00Z,carol@contoso.com,192.0.2.3,0\n");
    for (name, bytes) in [
        ("SigninLogs.csv", csv.clone()),
        ("SigninLogs.csv.gz", gzip(&csv)),
    ] {
        let (run, peak) = read_bounded(name, &bytes);
        assert_eq!(run.records.len(), 2, "{name}: {:?}", run.report.rejects);
        assert_eq!(
            run.get(1, "UserPrincipalName"),
            Value::str("carol@contoso.com")
        );
        let lines: Vec<u64> = run.records.iter().map(|r| r.origin.line).collect();
        assert_eq!(lines, [2, 14], "{name}");
        assert_eq!(run.report.rejected(), 1, "{name}: {:?}", run.report.rejects);
        let why = &run.report.rejects[&RejectReason::LineTooLong].examples[0];
        let expected = format!(
            "{name}:3: a row of {} bytes over 11 lines, more than the limit of {LIMIT} (--max-line-bytes)",
            HUGE + 39
        );
        assert_eq!(why, &expected);
        assert_eq!(
            (run.report.files[0].rows, run.report.files[0].rejected),
            (2, 1)
        );
        assert!(peak < BOUND, "{name}: {peak} bytes at once");
    }
}

#[test]
fn a_csv_quote_never_closed_rejects_the_rest_once_in_bounded_memory() {
    // The quote opened on line 3 is never closed: every byte after it is part of that row,
    // good rows too (a CSV reader cannot tell them apart). Rows before it are read.
    let mut csv = Vec::new();
    csv.extend_from_slice(CSV_HEADER.as_bytes());
    csv.extend_from_slice(b"2024-05-01T10:00:00Z,alice@contoso.com,192.0.2.1,0\n");
    csv.extend_from_slice(b"2024-05-01T10:00:00Z,\"alice,1.2.3.4,0\n");
    csv.extend_from_slice(b"2024-05-01T10:02:00Z,carol@contoso.com,192.0.2.3,0\n");
    csv.extend(std::iter::repeat_n(b'x', HUGE));
    for (name, bytes) in [
        ("SigninLogs.csv", csv.clone()),
        ("SigninLogs.csv.gz", gzip(&csv)),
    ] {
        let (run, peak) = read_bounded(name, &bytes);
        assert_eq!(run.records.len(), 1, "{name}: {:?}", run.report.rejects);
        assert_eq!(run.records[0].origin.line, 2);
        assert_eq!(run.report.rejected(), 1, "{name}: {:?}", run.report.rejects);
        let why = &run.report.rejects[&RejectReason::LineTooLong].examples[0];
        assert!(
            why.starts_with(&format!(
                "{name}:3: a quoted field of this row is never closed: the row runs on to the end of the data, {} bytes over 3 lines, more than the limit of {LIMIT}",
                HUGE + 89
            )),
            "{why}"
        );
        assert!(
            why.ends_with("the rest of the data (2 more lines) is part of it, not read as rows"),
            "{why}"
        );
        assert!(peak < BOUND, "{name}: {peak} bytes at once");
    }
}

#[test]
fn a_json_document_element_past_the_limit_is_skipped_in_bounded_memory() {
    let huge = "x".repeat(HUGE);
    // The element alone, as a portal export of one huge row.
    let doc = format!(
        "[{{\"TimeGenerated\":\"2024-05-01T10:00:00Z\",\"UserPrincipalName\":\"{huge}\"}}]"
    );
    for (name, bytes) in [
        ("SigninLogs.json", doc.as_bytes().to_vec()),
        ("SigninLogs.json.gz", gzip(doc.as_bytes())),
    ] {
        let (run, peak) = read_bounded(name, &bytes);
        assert_eq!(run.records.len(), 0);
        assert_eq!(run.report.rejected(), 1, "{name}: {:?}", run.report.rejects);
        assert_eq!(
            run.report.rejects[&RejectReason::LineTooLong].examples[0],
            format!(
                "{name}:1: an element of {} bytes, more than the limit of {LIMIT} (--max-line-bytes)",
                HUGE + 63
            )
        );
        assert!(peak < BOUND, "{name}: {peak} bytes at once");
    }
    // Between good rows: they are read, at their lines.
    let doc = format!(
        "[\n{SIGNIN_ROW},\n{{\"TimeGenerated\":\"2024-05-01T10:00:00Z\",\"UserPrincipalName\":\"{huge}\"}},\n{SIGNIN_ROW}\n]\n"
    );
    let (run, peak) = read_bounded("export.json", doc.as_bytes());
    let lines: Vec<u64> = run.records.iter().map(|r| r.origin.line).collect();
    assert_eq!(lines, [2, 4], "{:?}", run.report.rejects);
    assert_eq!(run.report.rejected(), 1);
    assert!(
        run.report.rejects[&RejectReason::LineTooLong].examples[0].starts_with("export.json:3:")
    );
    assert!(peak < BOUND, "{peak} bytes at once");
    // An envelope larger than the limit: its records, each within it, are read.
    let records = vec![DIAG_SIGNIN; 2 * LIMIT / DIAG_SIGNIN.len()];
    let envelope = format!("{{\"records\": [\n{}\n]}}", records.join(",\n"));
    assert!(envelope.len() > LIMIT);
    let (run, _) = read_bounded("eventhub.json", envelope.as_bytes());
    assert_eq!(run.records.len(), records.len(), "{:?}", run.report.rejects);
    assert_eq!(run.records[1].origin.line, 3);
}

/// A UTF-8 byte order mark before a JSON document, JSON Lines or CSV is not data: every row
/// is read.
#[test]
fn a_byte_order_mark_starts_any_format() {
    let rows = [
        r#"{"TimeGenerated":"2024-05-01T10:00:00Z","Type":"SigninLogs","UserPrincipalName":"a"}"#,
        r#"{"TimeGenerated":"2024-05-01T10:01:00Z","Type":"SigninLogs","UserPrincipalName":"b"}"#,
    ];
    let document = format!("\u{feff}[{}]", rows.join(",\n"));
    let lines = format!("\u{feff}{}\n", rows.join("\n"));
    let csv = "\u{feff}TimeGenerated,Type,UserPrincipalName\n2024-05-01T10:00:00Z,SigninLogs,a\n2024-05-01T10:01:00Z,SigninLogs,b\n";
    for (name, text) in [
        ("doc.json", document.as_str()),
        ("lines.jsonl", lines.as_str()),
        ("rows.csv", csv),
    ] {
        let run = read_bytes(name, text.as_bytes());
        assert_eq!(run.records.len(), 2, "{name}");
        assert_eq!(run.report.rejected(), 0, "{name}");
    }
}

#[test]
fn sentinel_tables_are_read_by_type_and_file_name_with_type_filled() {
    // A SecurityEvent row told by its `Type` column, among sign-ins.
    let text = format!(
        "{SIGNIN_ROW}\n{}\n",
        r#"{"TimeGenerated":"2024-05-01T10:00:00Z","Type":"SecurityEvent","Computer":"dc1","EventID":4625}"#
    );
    let run = read_bytes("mixed.jsonl", text.as_bytes());
    assert_eq!(run.records.len(), 2);
    assert_eq!(run.table(1), "SecurityEvent");
    assert_eq!(run.get(1, "EventID"), Value::Long(4625));
    // A file named for its table, whose rows lack `Type`: the table's name fills it.
    let row =
        r#"{"TimeGenerated":"2024-05-01T10:00:00Z","InternalIp_s":"10.0.0.1","ExternalIp_s":"x"}"#;
    let run = read_bytes("Cisco_Umbrella_dns_CL.jsonl", row.as_bytes());
    assert_eq!(run.records.len(), 1, "{:?}", run.report.rejects);
    assert_eq!(run.table(0), "Cisco_Umbrella_dns_CL");
    assert_eq!(run.get(0, "Type"), Value::str("Cisco_Umbrella_dns_CL"));
    // The standard columns are there on every table.
    assert_eq!(run.get(0, "_ResourceId"), Value::str(""));
}

/// A quote opened in a CSV row and not closed on its line costs that line only: read as one
/// row it would take the lines after it (and have the wrong number of fields); they are read
/// as rows. A quoted field that does span lines, closed, stays one row.
#[test]
fn an_unclosed_csv_quote_costs_its_line_only() {
    let csv = "TimeGenerated,Type,UserPrincipalName,IPAddress\n\
               2024-05-01T10:00:00Z,SigninLogs,\"carol\nsmith\",9.9.9.9\n\
               2024-05-01T10:01:00Z,SigninLogs,alice,\"1.2.3.4\n\
               2024-05-01T10:02:00Z,SigninLogs,bob,5.6.7.8\n\
               2024-05-01T10:03:00Z,SigninLogs,dave,9.9.9.8\n";
    let run = read_bytes("signins.csv", csv.as_bytes());
    let users: Vec<String> = (0..run.records.len())
        .map(|i| run.get(i, "UserPrincipalName").to_string())
        .collect();
    assert_eq!(users, ["carol\nsmith", "bob", "dave"]);
    assert_eq!(run.rejects(RejectReason::CsvFieldCount), 1);
    let why = &run.report.rejects[&RejectReason::CsvFieldCount].examples[0];
    assert!(
        why.starts_with("signins.csv:4: a quote opened on this line is not closed on it"),
        "{why}"
    );
    let lines: Vec<u64> = run.records.iter().map(|r| r.origin.line).collect();
    assert_eq!(lines, [2, 5, 6]);
}
