//! Latency recording for replays: an hdrhistogram of per-tick latencies (microseconds, three
//! significant digits), its percentiles, and the process's peak memory.

use hdrhistogram::Histogram;
use std::time::Duration;

/// Per-tick latencies, recorded into an hdrhistogram.
pub struct LatencyRecorder {
    histogram: Histogram<u64>,
    sum_us: u128,
}

/// The figures of a [`LatencyRecorder`], in milliseconds.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Percentiles {
    /// How many latencies were recorded.
    pub count: u64,
    /// Median.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// 99.9th percentile.
    pub p999_ms: f64,
    /// The largest.
    pub max_ms: f64,
    /// The mean.
    pub mean_ms: f64,
}

impl LatencyRecorder {
    /// An empty recorder for latencies from 1 µs to one hour (longer ones are clamped), at
    /// three significant digits.
    pub fn new() -> Result<LatencyRecorder, String> {
        let histogram = Histogram::new_with_bounds(1, 3_600_000_000, 3)
            .map_err(|e| format!("latency histogram: {e:?}"))?;
        Ok(LatencyRecorder {
            histogram,
            sum_us: 0,
        })
    }

    /// Records one latency.
    pub fn record(&mut self, latency: Duration) {
        let us = (latency.as_micros().min(u64::MAX as u128) as u64).max(1);
        self.sum_us += us as u128;
        self.histogram.saturating_record(us);
    }

    /// How many latencies were recorded.
    pub fn count(&self) -> u64 {
        self.histogram.len()
    }

    /// The latency distribution as a percentile curve: (quantile, milliseconds) at quantiles
    /// spaced evenly on a log scale of `1 / (1 - q)` from 0 to 99.999% (ten points per
    /// decade, as hdrhistogram's percentile plots show them), then the maximum at quantile 1.
    /// Empty when nothing was recorded.
    pub fn curve(&self) -> Vec<(f64, f64)> {
        if self.histogram.is_empty() {
            return Vec::new();
        }
        let ms = |us: u64| us as f64 / 1000.0;
        let mut out: Vec<(f64, f64)> = (0..=50)
            .map(|k| {
                let q = 1.0 - 10f64.powf(-(k as f64) / 10.0);
                (q, ms(self.histogram.value_at_quantile(q)))
            })
            .collect();
        out.push((1.0, ms(self.histogram.max())));
        out
    }

    /// The percentiles, in milliseconds (all zero when nothing was recorded).
    pub fn percentiles(&self) -> Percentiles {
        let n = self.histogram.len();
        if n == 0 {
            return Percentiles::default();
        }
        let ms = |us: u64| us as f64 / 1000.0;
        Percentiles {
            count: n,
            p50_ms: ms(self.histogram.value_at_quantile(0.5)),
            p90_ms: ms(self.histogram.value_at_quantile(0.9)),
            p99_ms: ms(self.histogram.value_at_quantile(0.99)),
            p999_ms: ms(self.histogram.value_at_quantile(0.999)),
            max_ms: ms(self.histogram.max()),
            mean_ms: self.sum_us as f64 / n as f64 / 1000.0,
        }
    }
}

/// The process's peak resident memory in bytes (`VmHWM` of /proc/self/status), where the
/// system tells it.
pub fn peak_memory_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line
        .trim_start_matches("VmHWM:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024)
}

/// The machine, for reports: the CPU model and the number of cores the process may use.
pub fn machine() -> String {
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    format!("{cores} cores, {model}, {}", std::env::consts::OS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_curve_rises_to_the_maximum() {
        let mut r = LatencyRecorder::new().unwrap();
        assert!(r.curve().is_empty());
        for ms in 1..=1000u64 {
            r.record(Duration::from_millis(ms));
        }
        let c = r.curve();
        assert_eq!(c.len(), 52);
        assert_eq!(c[0].0, 0.0);
        assert!((c[10].0 - 0.9).abs() < 1e-9, "{c:?}");
        assert!((c[10].1 - 900.0).abs() < 1.0, "{c:?}");
        assert!(c.windows(2).all(|w| w[0].0 <= w[1].0 && w[0].1 <= w[1].1));
        assert_eq!(c.last().unwrap().0, 1.0);
        assert!((c.last().unwrap().1 - 1000.0).abs() < 1.0, "{c:?}");
    }

    #[test]
    fn percentiles_of_known_latencies() {
        let mut r = LatencyRecorder::new().unwrap();
        for ms in 1..=100u64 {
            r.record(Duration::from_millis(ms));
        }
        let p = r.percentiles();
        assert_eq!(p.count, 100);
        // Three significant digits: within 0.1% of the exact ranks.
        assert!((p.p50_ms - 50.0).abs() < 0.1, "{p:?}");
        assert!((p.p90_ms - 90.0).abs() < 0.1, "{p:?}");
        assert!((p.p99_ms - 99.0).abs() < 0.1, "{p:?}");
        assert!((p.max_ms - 100.0).abs() < 0.1, "{p:?}");
        assert!((p.mean_ms - 50.5).abs() < 0.01, "{p:?}");
    }

    #[test]
    fn empty_recorder_reports_zeros() {
        assert_eq!(
            LatencyRecorder::new().unwrap().percentiles(),
            Percentiles::default()
        );
    }

    #[test]
    fn peak_memory_is_known_on_linux() {
        if cfg!(target_os = "linux") {
            assert!(peak_memory_bytes().is_some_and(|b| b > 0));
        }
    }
}
