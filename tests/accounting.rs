//! Nothing is lost: over random damage to a log file, every line read is accounted for, as a
//! record, a rejected line or a record without event time, by `inspect`, `hunt`, `replay` and
//! `detect` alike.

use proptest::prelude::*;
use std::io::Write;
use std::process::{Command, Stdio};

fn kqlflow(args: &[&str], stdin: Option<&[u8]>) -> (String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kqlflow"))
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(bytes) = stdin {
        let mut w = child.stdin.take().unwrap();
        w.write_all(bytes).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.code().is_some_and(|c| c <= 1),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A sign-in line of the generated file.
fn line(i: usize) -> String {
    format!(
        r#"{{"TimeGenerated":"2024-05-01T10:{:02}:{:02}Z","Type":"SigninLogs","UserPrincipalName":"u{}@contoso.com","IPAddress":"203.0.113.{}","ResultType":"{}"}}"#,
        i / 60 % 60,
        i % 60,
        i % 7,
        i % 250,
        if i.is_multiple_of(3) { "50126" } else { "0" }
    )
}

/// One kind of damage to a line (none of them adds or removes a line break).
fn damage(text: &str, kind: u8, at: usize) -> Vec<u8> {
    let b = text.as_bytes();
    let cut = at % b.len().max(1);
    match kind % 8 {
        0 => b[..cut].to_vec(),
        1 => {
            let mut v = b.to_vec();
            v.insert(cut, 0);
            v
        }
        2 => {
            let mut v = b.to_vec();
            v.insert(cut, 0xff);
            v
        }
        3 => text.replace("\"TimeGenerated\"", "\"Time\"").into_bytes(),
        4 => text.replace("2024-05-01T", "yesterday ").into_bytes(),
        5 => text.replace("SigninLogs", "NoSuchTable").into_bytes(),
        6 => b"[1, 2, 3]".to_vec(),
        _ => text
            .replace("\"ResultType\":\"0\"", "\"ResultType\":{\"x\":1}")
            .into_bytes(),
    }
}

/// The sum of `prefix N suffix` numbers on the lines of `text`.
fn sum_after(text: &str, prefix: &str, suffix: &str) -> u64 {
    text.lines()
        .filter_map(|l| {
            let rest = l.trim().strip_prefix(prefix)?;
            rest.split(suffix).next()?.trim().parse::<u64>().ok()
        })
        .sum()
}

/// The first number after `key` in `text`.
fn number_after(text: &str, key: &str) -> u64 {
    text.split(key)
        .nth(1)
        .and_then(|s| {
            s.trim_start()
                .split(|c: char| !c.is_ascii_digit())
                .next()?
                .parse()
                .ok()
        })
        .unwrap_or(0)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, ..ProptestConfig::default() })]

    #[test]
    fn every_line_read_is_a_record_a_reject_or_timeless(
        n in 20usize..60,
        damaged in prop::collection::vec((0usize..60, any::<u8>(), any::<usize>()), 0..15),
    ) {
        let mut lines: Vec<Vec<u8>> = (0..n).map(|i| line(i).into_bytes()).collect();
        for (i, kind, at) in damaged {
            let i = i % n;
            let text = String::from_utf8_lossy(&lines[i]).into_owned();
            lines[i] = damage(&text, kind, at);
        }
        let mut bytes = Vec::new();
        for l in &lines {
            bytes.extend_from_slice(l);
            bytes.push(b'\n');
        }
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("signins.jsonl");
        std::fs::write(&file, &bytes).unwrap();
        let f = file.to_str().unwrap();
        let total = n as u64;
        // inspect: rows read (with or without event time) and rejects.
        let (out, _) = kqlflow(&["inspect", f], None);
        let rows = number_after(&out, "B, ");
        let rejected = number_after(&out, "row(s) read, ");
        prop_assert_eq!(rows + rejected, total, "inspect: {}", out);
        // hunt: records per table, rejected lines, records without event time.
        let (_, err) = kqlflow(&["hunt", "--logs", f], None);
        let records = sum_after(&err, "SigninLogs:", "records");
        let rejected = number_after(&err, "rejected lines:");
        let timeless = number_after(&err, "records without event time:");
        prop_assert_eq!(records + rejected + timeless, total, "hunt: {}", err);
        // replay.
        let report = dir.path().join("report.json");
        let (_, err) = kqlflow(&["replay", "--logs", f, "--quiet", "--report", report.to_str().unwrap()], None);
        let r: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
        let timeless = err
            .lines()
            .find(|l| l.contains("records without an event time"))
            .map_or(0, |l| number_after(l, "warning:"));
        let accounted = r["records"].as_u64().unwrap() + r["rejected"].as_u64().unwrap() + timeless;
        prop_assert_eq!(accounted, total, "replay: {}", err);
        // detect, over standard input.
        let (_, err) = kqlflow(&["detect"], Some(&bytes));
        let records = sum_after(&err, "SigninLogs:", "records");
        let rejected = number_after(&err, "rejected lines:");
        let timeless = number_after(&err, "records without event time:");
        let late = number_after(&err, "late records:");
        prop_assert_eq!(records + rejected + timeless, total, "detect (late {}): {}", late, err);
    }
}
