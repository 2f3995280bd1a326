//! Per-operator time, for finding where a replay spends its worker time.
//!
//! With `KQLFLOW_PROFILE_OPERATORS=N` in the environment, each worker records how long each
//! timely operator ran and how often it was scheduled, and prints its `N` most expensive
//! operators (and the totals by operator name) to standard error when the worker ends.
//! Without the variable nothing is registered and nothing is measured.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;

use timely::logging::{StartStop, TimelyEvent, TimelyEventBuilder};
use timely::worker::Worker;

/// The environment variable that turns the operator profile on; its value is how many
/// operators to list.
pub const PROFILE_VAR: &str = "KQLFLOW_PROFILE_OPERATORS";

thread_local! {
    /// The first operator id of each program rendered on this thread's worker, with the
    /// program's label, in rendering order (see [`mark`]).
    static MARKS: RefCell<Vec<(usize, String)>> = const { RefCell::new(Vec::new()) };
    /// The names of the programs about to be rendered on this thread, by index.
    static LABELS: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

/// Names the programs that the next [`mark`]s on this thread count, by their index.
pub fn label_programs(labels: &[String]) {
    if std::env::var_os(PROFILE_VAR).is_some() {
        LABELS.with(|l| *l.borrow_mut() = labels.to_vec());
    }
}

/// The label of program `index`: its name from [`label_programs`], or its index.
pub fn program_label(index: usize) -> String {
    LABELS
        .with(|l| l.borrow().get(index).cloned())
        .unwrap_or_else(|| format!("program {index}"))
}

/// Notes that the operators built from `first` on (until the next mark) belong to `label`,
/// so the profile can total the time by program. Does nothing unless the profile is on.
pub fn mark(first: usize, label: impl Into<String>) {
    if std::env::var_os(PROFILE_VAR).is_some() {
        MARKS.with(|m| m.borrow_mut().push((first, label.into())));
    }
}

/// What one worker measured of its operators.
#[derive(Default)]
struct Profile {
    worker: usize,
    top: usize,
    /// Operator id to its name and address.
    names: HashMap<usize, (String, Vec<usize>)>,
    /// Operator id to the time its current activation started.
    started: HashMap<usize, Duration>,
    /// Operator id to (total time scheduled, activations).
    spent: HashMap<usize, (Duration, u64)>,
    /// The programs' marks (see [`mark`]), taken when the worker ends.
    marks: Vec<(usize, String)>,
}

impl Profile {
    fn record(&mut self, at: Duration, event: &TimelyEvent) {
        match event {
            TimelyEvent::Operates(o) => {
                self.names.insert(o.id, (o.name.clone(), o.addr.clone()));
            }
            TimelyEvent::Schedule(s) => match s.start_stop {
                StartStop::Start => {
                    self.started.insert(s.id, at);
                }
                StartStop::Stop => {
                    if let Some(from) = self.started.remove(&s.id) {
                        let e = self.spent.entry(s.id).or_default();
                        e.0 += at.saturating_sub(from);
                        e.1 += 1;
                    }
                }
            },
            _ => {}
        }
    }

    /// The report: the `top` operators by time (leaf operators only: a scope's time includes
    /// its children's), then the totals by name.
    fn report(&self) -> String {
        let leaf = |id: &usize| {
            let Some((_, addr)) = self.names.get(id) else {
                return true;
            };
            !self
                .names
                .values()
                .any(|(_, a)| a.len() > addr.len() && a.starts_with(addr))
        };
        let mut ops: Vec<(&usize, &(Duration, u64))> =
            self.spent.iter().filter(|(id, _)| leaf(id)).collect();
        ops.sort_by_key(|o| std::cmp::Reverse(o.1.0));
        let total: Duration = ops.iter().map(|(_, (d, _))| *d).sum();
        let mut out = format!(
            "operator profile, worker {}: {} operators, {:.3} s scheduled\n",
            self.worker,
            ops.len(),
            total.as_secs_f64()
        );
        for (id, (d, n)) in ops.iter().take(self.top) {
            let (name, addr) = self
                .names
                .get(id)
                .map(|(n, a)| (n.as_str(), format!("{a:?}")))
                .unwrap_or(("?", String::new()));
            let owner = self
                .marks
                .iter()
                .rev()
                .find(|(first, _)| first <= *id)
                .map_or("(inputs)", |(_, l)| l.as_str());
            out.push_str(&format!(
                "  {:>8.3} s {:>5.1}% {:>9} runs  {name} {addr}  {owner}\n",
                d.as_secs_f64(),
                100.0 * d.as_secs_f64() / total.as_secs_f64().max(1e-9),
                n
            ));
        }
        let mut by_name: HashMap<&str, (Duration, u64, usize)> = HashMap::new();
        for (id, (d, n)) in &ops {
            let name = self.names.get(id).map_or("?", |(n, _)| n.as_str());
            let name = name.split(':').next().unwrap_or(name);
            let e = by_name.entry(name).or_default();
            e.0 += *d;
            e.1 += *n;
            e.2 += 1;
        }
        if !self.marks.is_empty() {
            let mut by_mark: Vec<(Duration, u64, usize)> =
                vec![Default::default(); self.marks.len()];
            let mut before = (Duration::ZERO, 0u64, 0usize);
            for (id, (d, n)) in &ops {
                let slot = self.marks.iter().rposition(|(first, _)| first <= *id);
                let e = match slot {
                    Some(i) => &mut by_mark[i],
                    None => &mut before,
                };
                e.0 += *d;
                e.1 += *n;
                e.2 += 1;
            }
            out.push_str("  by program (operators shared between programs count for the first):\n");
            out.push_str(&format!(
                "  {:>8.3} s {:>5.1}% {:>9} runs {:>4} operators  (inputs)\n",
                before.0.as_secs_f64(),
                100.0 * before.0.as_secs_f64() / total.as_secs_f64().max(1e-9),
                before.1,
                before.2
            ));
            for ((_, label), (d, n, count)) in self.marks.iter().zip(&by_mark) {
                out.push_str(&format!(
                    "  {:>8.3} s {:>5.1}% {:>9} runs {:>4} operators  {label}\n",
                    d.as_secs_f64(),
                    100.0 * d.as_secs_f64() / total.as_secs_f64().max(1e-9),
                    n,
                    count
                ));
            }
        }
        let mut names: Vec<_> = by_name.into_iter().collect();
        names.sort_by_key(|n| std::cmp::Reverse(n.1.0));
        out.push_str("  by name:\n");
        for (name, (d, n, count)) in names {
            out.push_str(&format!(
                "  {:>8.3} s {:>5.1}% {:>9} runs {:>4} operators  {name}\n",
                d.as_secs_f64(),
                100.0 * d.as_secs_f64() / total.as_secs_f64().max(1e-9),
                n,
                count
            ));
        }
        out
    }
}

impl Drop for Profile {
    fn drop(&mut self) {
        self.marks = MARKS.with(|m| std::mem::take(&mut *m.borrow_mut()));
        eprint!("{}", self.report());
    }
}

/// Registers the operator profile on `worker` when [`PROFILE_VAR`] asks for it; its report
/// names the worker by `index` (the worker's own index, or in a split run the worker whose
/// rules the dataflow runs).
pub fn register(worker: &mut Worker, index: usize) {
    let Some(top) = std::env::var(PROFILE_VAR)
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    else {
        return;
    };
    let mut profile = Profile::default();
    profile.worker = index;
    profile.top = top;
    let profile = Rc::new(RefCell::new(profile));
    if let Some(mut registry) = worker.log_register() {
        registry.insert::<TimelyEventBuilder, _>("timely", move |_time, data| {
            if let Some(data) = data {
                let mut p = profile.borrow_mut();
                for (at, event) in data.iter() {
                    p.record(*at, event);
                }
            }
        });
    }
}
