//! Every public rule of the corpus that binds and that the incremental engine takes runs on
//! both engines over generated records of the tables it reads, and the incremental engine's
//! rows equal the batch evaluator's at every tick compared.
//!
//! The records are drawn from the rule's own text: string columns take the rule's string
//! literals (so that its filters, joins and parsers meet values they look for) or a few
//! others, numbers are small, times spread over three days. This is no replacement for a
//! rule's own test data; it is what finds a construct the two engines read differently.
//!
//! Reads the public corpus under `../shared/corpus`: compiled only with `--features corpus`.

#![cfg(feature = "corpus")]

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use kqlflow::api::{QueryFile, RuleOptions};
use kqlflow::catalog::Catalog;
use kqlflow::eval::{Data, evaluate};
use kqlflow::exec::{
    check_supported, columns_read, run_program, strip_presentation, watchlist_sources,
};
use kqlflow::model::{Row, TICKS_PER_HOUR as H, TICKS_PER_MINUTE as MIN, Type, Value};
use kqlflow::plan::BindOptions;
use kqlflow::runtime::{ClusterOptions, snapshot};

const T0: i64 = kqlflow::demo::T0;

/// A small deterministic generator (xorshift), seeded per rule.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// The string literals of a query (between double or single quotes, `@` verbatim or not),
/// at most 40 of them, with a few values every rule may meet.
fn literals(query: &str) -> Vec<String> {
    let mut out: Vec<String> = ["", "a", "10.0.0.1", "user@contoso.com", "0", "Success"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let bytes = query.as_bytes();
    let mut i = 0;
    while i < bytes.len() && out.len() < 46 {
        let q = bytes[i];
        if q == b'"' || q == b'\'' {
            let start = i + 1;
            let mut j = start;
            while j < bytes.len() && bytes[j] != q && bytes[j] != b'\n' {
                j += 1;
            }
            if j < bytes.len() && bytes[j] == q {
                if let Ok(s) = std::str::from_utf8(&bytes[start..j])
                    && s.len() <= 60
                    && !out.iter().any(|o| o == s)
                {
                    out.push(s.to_string());
                }
                i = j + 1;
                continue;
            }
        }
        i += 1;
    }
    out
}

/// The whole numbers written in a query, at most 20, with 0 to 4.
fn numbers(query: &str) -> Vec<i64> {
    let mut out: Vec<i64> = (0..5).collect();
    for token in query.split(|c: char| !c.is_ascii_digit()) {
        if let Ok(n) = token.parse::<i64>()
            && !out.contains(&n)
            && out.len() < 25
        {
            out.push(n);
        }
    }
    out
}

/// The pools values are drawn from: the query's strings and numbers, and per column name the
/// literals written after it in the same clause (`AppDisplayName =~ "Azure Portal"`,
/// `EventID in (4624, 4625)`), which the column's filters look for.
struct Pools {
    strings: Vec<String>,
    numbers: Vec<i64>,
    near: HashMap<String, (Vec<String>, Vec<i64>)>,
}

impl Pools {
    fn of(query: &str, tables: &[String]) -> Pools {
        let mut near: HashMap<String, (Vec<String>, Vec<i64>)> = HashMap::new();
        for table in tables {
            let Some(def) = Catalog::builtin().table(table) else {
                continue;
            };
            for c in def.schema.columns() {
                let name: &str = c.name.as_ref();
                let mut found = (Vec::new(), Vec::new());
                let mut from = 0;
                while let Some(at) = query[from..].find(name) {
                    let start = from + at + name.len();
                    let rest = &query[start..];
                    let end = rest.find(['|', '\n']).unwrap_or(rest.len()).min(200);
                    let end = (0..=end)
                        .rev()
                        .find(|&i| rest.is_char_boundary(i))
                        .unwrap_or(0);
                    let clause = &rest[..end];
                    found.0.extend(literals(clause).into_iter().skip(6));
                    found.1.extend(numbers(clause).into_iter().skip(5));
                    from = start;
                }
                if !found.0.is_empty() || !found.1.is_empty() {
                    near.insert(name.to_string(), found);
                }
            }
        }
        Pools {
            strings: literals(query),
            numbers: numbers(query),
            near,
        }
    }
}

/// A value of type `ty`: half the time one of the query's strings or numbers, else one of a
/// few common values (so that groups gather rows and join keys meet).
fn value(column: &str, ty: Type, pools: &Pools, rng: &mut Rng) -> Value {
    let pool = &pools.strings;
    if let Some((strings, numbers)) = pools.near.get(column)
        && rng.below(3) > 0
    {
        match ty {
            Type::String | Type::Dynamic if !strings.is_empty() => {
                return Value::str(&strings[rng.below(strings.len())]);
            }
            Type::Int | Type::Long if !numbers.is_empty() => {
                return Value::Long(numbers[rng.below(numbers.len())]);
            }
            Type::String if !numbers.is_empty() => {
                return Value::str(numbers[rng.below(numbers.len())].to_string());
            }
            _ => {}
        }
    }
    let common = rng.below(2) == 0;
    match ty {
        Type::Bool => Value::Bool(rng.below(2) == 1),
        Type::Int | Type::Long if common => Value::Long(rng.below(3) as i64),
        Type::Int | Type::Long => Value::Long(pools.numbers[rng.below(pools.numbers.len())]),
        Type::Real => Value::Real(rng.below(7) as f64 / 2.0),
        Type::String if common => Value::str(["x", "y"][rng.below(2)]),
        Type::String => Value::str(&pool[rng.below(pool.len())]),
        Type::DateTime => Value::DateTime(T0 + rng.below(72 * 60) as i64 * MIN),
        Type::TimeSpan => Value::TimeSpan(rng.below(120) as i64 * MIN),
        Type::Dynamic => match rng.below(4) {
            0 => Value::Null,
            1 => Value::array(vec![
                Value::str(&pool[rng.below(pool.len())]),
                Value::Long(rng.below(3) as i64),
            ]),
            _ => Value::object(vec![(
                pool[rng.below(pool.len())].as_str().into(),
                Value::str(&pool[rng.below(pool.len())]),
            )]),
        },
    }
}

/// The hours after T0 at which the engines are compared.
const HOURS: [i64; 4] = [5, 29, 53, 75];

/// `n` records of `table` over three days from T0 (half of them in the three hours before
/// one of [`HOURS`], where short windows look), their values drawn as [`value`] draws.
fn records(table: &str, n: usize, pools: &Pools, rng: &mut Rng) -> Vec<(i64, Row)> {
    let Some(def) = Catalog::builtin().table(table) else {
        return Vec::new();
    };
    (0..n)
        .map(|_| {
            let minute = if rng.below(2) == 0 {
                HOURS[rng.below(HOURS.len())] * 60 - 1 - rng.below(180) as i64
            } else {
                rng.below(72 * 60) as i64
            };
            let t = T0 + minute * MIN + rng.below(60) as i64 * 10_000_000;
            let mut row: Row = def
                .schema
                .columns()
                .iter()
                .map(|c| value(c.name.as_ref(), c.ty, pools, rng))
                .collect();
            row[def.time_column] = Value::DateTime(t);
            (t, row)
        })
        .collect()
}

fn rule_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("yaml" | "yml" | "kql")
            )
        })
        .collect();
    files.sort();
    files
}

/// What became of one rule: compared (with the ticks whose result was not empty), or left
/// out and why.
enum Outcome {
    Compared { nonempty: usize },
    NotBound,
    NotIncremental,
}

/// Runs `path` on both engines over generated records; panics on a disagreement.
fn compare(path: &Path, workers: usize) -> Outcome {
    let Ok(file) = QueryFile::read(path) else {
        return Outcome::NotBound;
    };
    let Ok(opts) = RuleOptions::default().bind_options(file.rule.as_ref()) else {
        return Outcome::NotBound;
    };
    let opts = BindOptions {
        externaldata_optional: true,
        ..opts
    };
    let Ok(mut p) = file.bind(&opts) else {
        return Outcome::NotBound;
    };
    if check_supported(&p).is_err() {
        return Outcome::NotIncremental;
    }
    p.root = strip_presentation(&p.root).clone();
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    let name = name.unwrap_or_default();
    let read: Vec<String> = columns_read(&p).into_keys().collect();
    let pools = Pools::of(&file.query, &read);
    let seed = name
        .bytes()
        .fold(0x9e37_79b9_7f4a_7c15u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        })
        .max(1);
    let mut rng = Rng(seed);
    let tables: Vec<(String, Vec<(i64, Row)>)> = columns_read(&p)
        .into_keys()
        .map(|t| {
            let rows = records(&t, 300, &pools, &mut rng);
            (t, rows)
        })
        .collect();
    let cluster = ClusterOptions {
        workers,
        ..ClusterOptions::default()
    };
    let changes = run_program(
        &p,
        &tables,
        &watchlist_sources(&p, &HashMap::new()),
        &cluster,
        H,
    )
    .unwrap_or_else(|e| panic!("{name}: the incremental engine failed: {e}"));
    let data = Data {
        tables: tables.iter().cloned().collect(),
        watchlists: HashMap::new(),
    };
    let mut nonempty = 0;
    for hours in HOURS {
        let t = T0 + hours * H;
        let mut inc = Vec::new();
        for (row, n) in snapshot(&changes, t as u64) {
            assert!(n > 0, "{name}: negative multiplicity at {t}: {row:?}");
            for _ in 0..n {
                inc.push(row.clone());
            }
        }
        let mut batch = evaluate(&p, &data, t);
        inc.sort();
        batch.sort();
        assert!(
            inc == batch,
            "{name} at hour {hours} on {workers} worker(s): incremental {} rows, batch {} rows\nincremental: {:?}\nbatch: {:?}",
            inc.len(),
            batch.len(),
            inc.iter().take(3).collect::<Vec<_>>(),
            batch.iter().take(3).collect::<Vec<_>>()
        );
        nonempty += usize::from(!batch.is_empty());
    }
    Outcome::Compared { nonempty }
}

fn corpus(folder: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/corpus")
        .join(folder)
}

/// Compares every rule of `folder` (every `step`-th one also on three workers); returns
/// (compared, compared with some rows, not bound, not incremental).
fn compare_folder(folder: &str) -> (usize, usize, usize, usize) {
    let (mut compared, mut rows, mut unbound, mut refused) = (0, 0, 0, 0);
    for (i, path) in rule_files(&corpus(folder)).iter().enumerate() {
        let workers = if i % 10 == 0 { 3 } else { 1 };
        if std::env::var_os("CORPUS_ENGINES_VERBOSE").is_some() {
            eprintln!("{}", path.display());
        }
        match compare(path, workers) {
            Outcome::Compared { nonempty } => {
                compared += 1;
                rows += usize::from(nonempty > 0);
            }
            Outcome::NotBound => unbound += 1,
            Outcome::NotIncremental => refused += 1,
        }
    }
    eprintln!(
        "{folder}: {compared} rules compared ({rows} with rows at some tick), {unbound} not bound, {refused} not incremental"
    );
    (compared, rows, unbound, refused)
}

#[test]
fn sentinel_rules_agree_on_both_engines() {
    let (compared, rows, _, _) = compare_folder("sentinel-rules");
    assert!(compared >= 20, "{compared}");
    assert!(rows >= 4, "{rows}");
}

#[test]
fn sentinel_other_rules_agree_on_both_engines() {
    let (compared, rows, _, _) = compare_folder("sentinel-other");
    assert!(compared >= 400, "{compared}");
    assert!(rows >= 100, "{rows}");
}
