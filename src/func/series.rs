//! Kusto's series analysis functions over dynamic numeric arrays (the output of `make-series`
//! or `make_list`): `series_decompose_anomalies` with the decomposition and outlier scoring it
//! is built from, `series_outliers` and `series_stats` (`_dynamic`), and `series_fit_line`
//! (`_dynamic`), a least-squares line over the bin index.
//!
//! The decomposition follows Kusto's documented steps (series_decompose): the seasonal
//! component (the median of the points in the same phase of an explicit period), the trend
//! fitted to the deseasonalised series (`avg`: its mean, `linefit`: a least-squares line over
//! the bin index, `none`), baseline = seasonal + trend, residual = series − baseline. The
//! anomaly score of each point is a Tukey fence score of its residual (series_outliers):
//! with `Q_lo`, `Q_hi` the residuals' percentiles (10th/90th for `ctukey`, 25th/75th for
//! `tukey`, by linear interpolation between closest ranks) and `R = Q_hi − Q_lo`, the score is
//! `(r − Q_hi) / R` above `Q_hi`, `(r − Q_lo) / R` below `Q_lo`, 0 between (and 0 everywhere
//! when `R` is 0); the flag is +1 where the score exceeds the threshold, −1 where it is below
//! minus the threshold, else 0.
//!
//! Where kqlflow differs from Kusto: seasonality `-1` (autodetect with series_periods_detect)
//! is taken as no seasonality (the binder notes it); explicit periods and `0` are as
//! documented. Null or non-numeric elements are missing: left out of the fit and the
//! percentiles, their residual null and their score and flag 0.

use crate::model::{Value, toreal};

/// The trend component of a decomposition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trend {
    /// The mean of the deseasonalised series (Kusto's default).
    Avg,
    /// A least-squares line over the bin index.
    LineFit,
    /// No trend.
    None,
}

/// A series decomposed into its components, one value per input point.
#[derive(Clone, Debug, PartialEq)]
pub struct Decomposition {
    /// seasonal + trend: the value the decomposition predicts.
    pub baseline: Vec<f64>,
    /// The seasonal component (0 without seasonality).
    pub seasonal: Vec<f64>,
    /// The trend component.
    pub trend: Vec<f64>,
    /// series − baseline; `None` where the point is missing.
    pub residual: Vec<Option<f64>>,
}

/// The elements of a dynamic array as numbers (`None` for null and non-numeric elements);
/// `None` when `v` is not an array.
pub fn numbers(v: &Value) -> Option<Vec<Option<f64>>> {
    let Value::Array(xs) = v else {
        return None;
    };
    Some(
        xs.iter()
            .map(|x| match x {
                Value::Long(_) | Value::Real(_) | Value::Bool(_) => match toreal(x) {
                    Value::Real(r) if r.is_finite() => Some(r),
                    _ => None,
                },
                _ => None,
            })
            .collect(),
    )
}

fn median(mut xs: Vec<f64>) -> Option<f64> {
    if xs.is_empty() {
        return None;
    }
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    Some(if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
    })
}

/// The `p`th percentile (0 to 100) of sorted values, by linear interpolation between the
/// closest ranks; `None` for no values.
pub fn percentile_sorted(sorted: &[f64], p: f64) -> Option<f64> {
    let n = sorted.len();
    if n == 0 {
        return None;
    }
    let pos = (p / 100.0).clamp(0.0, 1.0) * (n - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = (lo + 1).min(n - 1);
    let frac = pos - lo as f64;
    Some(sorted[lo] + (sorted[hi] - sorted[lo]) * frac)
}

/// The least-squares line `a + b·i` through the points `(i, y_i)`; `None` for no points, a
/// flat line through a single point.
pub fn fit_line(points: &[(f64, f64)]) -> Option<(f64, f64)> {
    let n = points.len() as f64;
    if points.is_empty() {
        return None;
    }
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mx) * (p.0 - mx)).sum();
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let slope = if sxx > 0.0 { sxy / sxx } else { 0.0 };
    Some((my - slope * mx, slope))
}

/// Decomposes `x` into seasonal, trend and residual components. `period` is the seasonal
/// period in points (0: none); the last `test_points` points are left out of the learning
/// (the medians and the trend fit) but still get a baseline and a residual.
pub fn decompose(
    x: &[Option<f64>],
    period: usize,
    trend: Trend,
    test_points: usize,
) -> Decomposition {
    let n = x.len();
    let train = n.saturating_sub(test_points);
    let seasonal: Vec<f64> = if period > 0 && period < n {
        let phase: Vec<f64> = (0..period)
            .map(|ph| {
                let pts: Vec<f64> = (ph..train).step_by(period).filter_map(|j| x[j]).collect();
                median(pts).unwrap_or(0.0)
            })
            .collect();
        (0..n).map(|i| phase[i % period]).collect()
    } else {
        vec![0.0; n]
    };
    let deseasonal: Vec<(f64, f64)> = (0..train)
        .filter_map(|i| x[i].map(|v| (i as f64, v - seasonal[i])))
        .collect();
    let trend_values: Vec<f64> = match trend {
        Trend::None => vec![0.0; n],
        Trend::Avg => {
            let mean = if deseasonal.is_empty() {
                0.0
            } else {
                deseasonal.iter().map(|p| p.1).sum::<f64>() / deseasonal.len() as f64
            };
            vec![mean; n]
        }
        Trend::LineFit => {
            let (a, b) = fit_line(&deseasonal).unwrap_or((0.0, 0.0));
            (0..n).map(|i| a + b * i as f64).collect()
        }
    };
    let baseline: Vec<f64> = seasonal
        .iter()
        .zip(&trend_values)
        .map(|(s, t)| s + t)
        .collect();
    let residual = x
        .iter()
        .zip(&baseline)
        .map(|(v, b)| v.map(|v| v - b))
        .collect();
    Decomposition {
        baseline,
        seasonal,
        trend: trend_values,
        residual,
    }
}

/// Tukey fence scores of `r` (see the module documentation): the fences come from the
/// percentiles `lo` and `hi` of the first `train` present values; missing points score 0.
pub fn outlier_scores(r: &[Option<f64>], lo: f64, hi: f64, train: usize) -> Vec<f64> {
    let mut sorted: Vec<f64> = r.iter().take(train).filter_map(|v| *v).collect();
    sorted.sort_by(f64::total_cmp);
    let (Some(q_lo), Some(q_hi)) = (
        percentile_sorted(&sorted, lo),
        percentile_sorted(&sorted, hi),
    ) else {
        return vec![0.0; r.len()];
    };
    let range = q_hi - q_lo;
    r.iter()
        .map(|v| match v {
            Some(v) if range > 0.0 && *v > q_hi => (v - q_hi) / range,
            Some(v) if range > 0.0 && *v < q_lo => (v - q_lo) / range,
            _ => 0.0,
        })
        .collect()
}

/// The three series of `series_decompose_anomalies`: anomaly flags (+1/−1/0), scores and
/// baseline.
#[derive(Clone, Debug, PartialEq)]
pub struct Anomalies {
    /// +1 for a rise anomaly, −1 for a decline, 0 for none.
    pub flags: Vec<i64>,
    /// The anomaly score of each point.
    pub scores: Vec<f64>,
    /// The decomposition's baseline.
    pub baseline: Vec<f64>,
}

/// The parameters of `series_decompose_anomalies` after the series.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AnomalyParams {
    /// The score beyond which a point is an anomaly (default 1.5).
    pub threshold: f64,
    /// The seasonal period in points; 0 for none (autodetect, -1, is taken as none).
    pub period: usize,
    /// The trend component (default `avg`).
    pub trend: Trend,
    /// Points at the end of the series left out of the learning (default 0).
    pub test_points: usize,
    /// The percentiles of the fence: (10, 90) for `ctukey` (default), (25, 75) for `tukey`.
    pub percentiles: (f64, f64),
}

impl AnomalyParams {
    /// The parameters from the evaluated arguments after the series (Kusto's defaults for
    /// missing or null ones); `None` when one is invalid (an unknown trend or method, a
    /// negative period other than -1).
    pub fn from_args(args: &[Value]) -> Option<AnomalyParams> {
        let get = |i: usize| args.get(i).filter(|v| !v.is_null());
        let threshold = match get(0).map(toreal) {
            None => 1.5,
            Some(Value::Real(t)) => t,
            Some(_) => return None,
        };
        let period = match get(1).map(crate::model::tolong) {
            None => 0,
            Some(Value::Long(-1)) => 0,
            Some(Value::Long(p)) if p >= 0 => usize::try_from(p).ok()?,
            Some(_) => return None,
        };
        let trend = match get(2) {
            None => Trend::Avg,
            Some(Value::String(s)) => match &**s {
                "avg" => Trend::Avg,
                "linefit" => Trend::LineFit,
                "none" => Trend::None,
                _ => return None,
            },
            Some(_) => return None,
        };
        let test_points = match get(3).map(crate::model::tolong) {
            None => 0,
            Some(Value::Long(p)) if p >= 0 => usize::try_from(p).ok()?,
            Some(_) => return None,
        };
        let percentiles = match get(4) {
            None => (10.0, 90.0),
            Some(Value::String(s)) => match &**s {
                "ctukey" => (10.0, 90.0),
                "tukey" => (25.0, 75.0),
                _ => return None,
            },
            Some(_) => return None,
        };
        Some(AnomalyParams {
            threshold,
            period,
            trend,
            test_points,
            percentiles,
        })
    }
}

/// Decomposes `x` and scores its residuals: Kusto's series_decompose_anomalies.
pub fn decompose_anomalies(x: &[Option<f64>], p: &AnomalyParams) -> Anomalies {
    let d = decompose(x, p.period, p.trend, p.test_points);
    let train = x.len().saturating_sub(p.test_points);
    let scores = outlier_scores(&d.residual, p.percentiles.0, p.percentiles.1, train);
    let flags = scores
        .iter()
        .map(|s| {
            if *s > p.threshold {
                1
            } else if *s < -p.threshold {
                -1
            } else {
                0
            }
        })
        .collect();
    Anomalies {
        flags,
        scores,
        baseline: d.baseline,
    }
}

fn anomalies_of(a: &[Value]) -> Option<Anomalies> {
    let x = numbers(a.first()?)?;
    let p = AnomalyParams::from_args(a.get(1..).unwrap_or(&[]))?;
    Some(decompose_anomalies(&x, &p))
}

fn reals(xs: &[f64]) -> Value {
    Value::array(xs.iter().map(|v| Value::Real(*v)).collect())
}

/// `series_decompose_anomalies(series[, threshold, seasonality, trend, test_points,
/// ad_method, seasonality_threshold])`: the anomaly flags series (+1/−1/0); null when the
/// series is not an array or a parameter is invalid.
pub fn f_series_decompose_anomalies(a: &[Value]) -> Value {
    match anomalies_of(a) {
        Some(r) => Value::array(r.flags.into_iter().map(Value::Long).collect()),
        None => Value::Null,
    }
}

/// The three series of `series_decompose_anomalies` as one array `[flags, scores, baseline]`,
/// for `extend (A, S, B) = series_decompose_anomalies(…)`; null as the function is.
pub fn f_series_decompose_anomalies_parts(a: &[Value]) -> Value {
    match anomalies_of(a) {
        Some(r) => Value::array(vec![
            Value::array(r.flags.into_iter().map(Value::Long).collect()),
            reals(&r.scores),
            reals(&r.baseline),
        ]),
        None => Value::Null,
    }
}

/// A least-squares line fitted to a series (`series_fit_line`): the points are
/// `(i, y_i)` with `i` counted from 1, missing elements left out of the fit.
#[derive(Clone, Debug, PartialEq)]
pub struct LineFit {
    /// The coefficient of determination, 1 − residual / total sum of squares (1 when the
    /// points are all equal: the line fits them exactly).
    pub rsquare: f64,
    /// The line's slope (the `a` of `y = a·x + b`).
    pub slope: f64,
    /// The sample variance of the points (over n − 1; 0 for fewer than two points).
    pub variance: f64,
    /// The sample variance of the residuals, the points minus the line (over n − 1).
    pub rvariance: f64,
    /// The line's value at x = 0 (the `b` of `y = a·x + b`).
    pub interception: f64,
    /// The line's value at every position of the series, missing elements' included.
    pub line_fit: Vec<f64>,
}

/// The line fitted to `x` (see [`LineFit`]); `None` when no element is a number.
pub fn fit_series_line(x: &[Option<f64>]) -> Option<LineFit> {
    let points: Vec<(f64, f64)> = x
        .iter()
        .enumerate()
        .filter_map(|(i, v)| v.map(|y| ((i + 1) as f64, y)))
        .collect();
    let (interception, slope) = fit_line(&points)?;
    let n = points.len() as f64;
    let mean = points.iter().map(|p| p.1).sum::<f64>() / n;
    let total: f64 = points.iter().map(|p| (p.1 - mean) * (p.1 - mean)).sum();
    let residual: f64 = points
        .iter()
        .map(|p| {
            let r = p.1 - (interception + slope * p.0);
            r * r
        })
        .sum();
    let over = |ss: f64| {
        if points.len() > 1 {
            ss / (n - 1.0)
        } else {
            0.0
        }
    };
    Some(LineFit {
        rsquare: if total > 0.0 {
            1.0 - residual / total
        } else {
            1.0
        },
        slope,
        variance: over(total),
        rvariance: over(residual),
        interception,
        line_fit: (1..=x.len())
            .map(|i| interception + slope * i as f64)
            .collect(),
    })
}

/// The names of `series_fit_line`'s parts, in the order of its columns.
pub const FIT_LINE_PARTS: [&str; 6] = [
    "rsquare",
    "slope",
    "variance",
    "rvariance",
    "interception",
    "line_fit",
];

fn fit_of(a: &[Value]) -> Option<LineFit> {
    fit_series_line(&numbers(a.first()?)?)
}

fn fit_values(f: LineFit) -> [Value; 6] {
    [
        Value::Real(f.rsquare),
        Value::Real(f.slope),
        Value::Real(f.variance),
        Value::Real(f.rvariance),
        Value::Real(f.interception),
        reals(&f.line_fit),
    ]
}

/// `series_fit_line(series)` given one name: the fit's r-square (its first column); null when
/// the series is not an array or holds no number.
pub fn f_series_fit_line(a: &[Value]) -> Value {
    fit_of(a).map_or(Value::Null, |f| Value::Real(f.rsquare))
}

/// The six columns of `series_fit_line` as one array (`rsquare`, `slope`, `variance`,
/// `rvariance`, `interception`, `line_fit`), for `extend (…) = series_fit_line(…)`; null as
/// the function is.
pub fn f_series_fit_line_parts(a: &[Value]) -> Value {
    fit_of(a).map_or(Value::Null, |f| Value::array(fit_values(f).to_vec()))
}

/// `series_fit_line_dynamic(series)`: the fit as a property bag with the keys of
/// [`FIT_LINE_PARTS`]; null when the series is not an array or holds no number.
pub fn f_series_fit_line_dynamic(a: &[Value]) -> Value {
    match fit_of(a) {
        Some(f) => Value::object(
            FIT_LINE_PARTS
                .iter()
                .zip(fit_values(f))
                .map(|(k, v)| (crate::model::Str::from(*k), v))
                .collect(),
        ),
        None => Value::Null,
    }
}

/// The names of `series_stats`' parts, in the order of its columns.
pub const STATS_PARTS: [&str; 7] = [
    "min", "min_idx", "max", "max_idx", "avg", "stdev", "variance",
];

/// Kusto's `series_stats` of a series: `[min, min_idx, max, max_idx, avg, stdev, variance,
/// sum, len]` (indexes from 0, the first of equal extremes; sample variance and standard
/// deviation, over n − 1). Null statistics when the series has a non-numeric element and
/// `ignore_nonfinite` is false, or no number at all; `None` when `v` is not an array.
fn stats_of(v: &Value, ignore_nonfinite: bool) -> Option<[Value; 9]> {
    let xs = numbers(v)?;
    let len = Value::Long(xs.len() as i64);
    let present: Vec<(usize, f64)> = xs
        .iter()
        .enumerate()
        .filter_map(|(i, x)| x.map(|x| (i, x)))
        .collect();
    if present.is_empty() || (!ignore_nonfinite && present.len() < xs.len()) {
        let mut out: [Value; 9] = Default::default();
        out[8] = len;
        return Some(out);
    }
    let mut min = present[0];
    let mut max = present[0];
    for p in &present {
        if p.1 < min.1 {
            min = *p;
        }
        if p.1 > max.1 {
            max = *p;
        }
    }
    let n = present.len() as f64;
    let sum: f64 = present.iter().map(|p| p.1).sum();
    let avg = sum / n;
    let variance = if present.len() > 1 {
        present
            .iter()
            .map(|p| (p.1 - avg) * (p.1 - avg))
            .sum::<f64>()
            / (n - 1.0)
    } else {
        0.0
    };
    Some([
        Value::Real(min.1),
        Value::Long(min.0 as i64),
        Value::Real(max.1),
        Value::Long(max.0 as i64),
        Value::Real(avg),
        Value::Real(variance.sqrt()),
        Value::Real(variance),
        Value::Real(sum),
        len,
    ])
}

fn stats_args(a: &[Value]) -> Option<[Value; 9]> {
    let ignore = matches!(a.get(1), Some(Value::Bool(true)));
    stats_of(a.first()?, ignore)
}

/// `series_stats(series[, ignore_nonfinite])` given one name: the minimum (its first column).
pub fn f_series_stats(a: &[Value]) -> Value {
    stats_args(a).map_or(Value::Null, |s| s[0].clone())
}

/// The seven columns of `series_stats` as one array (see [`STATS_PARTS`]), for
/// `extend series_stats(x)`; null when the series is not an array.
pub fn f_series_stats_parts(a: &[Value]) -> Value {
    match stats_args(a) {
        Some(s) => Value::array(s[..7].to_vec()),
        None => Value::Null,
    }
}

/// `series_stats_dynamic(series[, ignore_nonfinite])`: the statistics as a bag, with `sum`
/// and `len` besides those of [`STATS_PARTS`]; null when the series is not an array.
pub fn f_series_stats_dynamic(a: &[Value]) -> Value {
    match stats_args(a) {
        Some(s) => Value::object(
            STATS_PARTS
                .iter()
                .chain(&["sum", "len"])
                .zip(s)
                .map(|(k, v)| (crate::model::Str::from(*k), v))
                .collect(),
        ),
        None => Value::Null,
    }
}

/// `series_outliers(series[, kind, ignore_val, min_percentile, max_percentile])`: the Tukey
/// fence score of each point (see the module documentation): fences at the 10th and 90th
/// percentiles for `ctukey` (the default; `min_percentile`/`max_percentile`, in [2, 98],
/// change them), the 25th and 75th for `tukey`. Null and `ignore_val` points, and non-numeric
/// ones, score 0. Null when the series is not an array or a parameter is invalid.
pub fn f_series_outliers(a: &[Value]) -> Value {
    let Some(mut xs) = a.first().and_then(numbers) else {
        return Value::Null;
    };
    let kind = match a.get(1) {
        None | Some(Value::Null) => "ctukey".to_string(),
        Some(Value::String(k)) => k.to_ascii_lowercase(),
        Some(_) => return Value::Null,
    };
    if let Some(ignore) = a.get(2).and_then(|v| match toreal(v) {
        Value::Real(r) => Some(r),
        _ => None,
    }) {
        for x in xs.iter_mut() {
            if *x == Some(ignore) {
                *x = None;
            }
        }
    }
    let pct = |i: usize, default: f64| -> Option<f64> {
        match a.get(i).map(toreal) {
            None | Some(Value::Null) => Some(default),
            Some(Value::Real(p)) if (2.0..=98.0).contains(&p) => Some(p),
            Some(_) => None,
        }
    };
    let (lo, hi) = match kind.as_str() {
        "tukey" => (25.0, 75.0),
        "ctukey" => match (pct(3, 10.0), pct(4, 90.0)) {
            (Some(lo), Some(hi)) if lo < hi => (lo, hi),
            _ => return Value::Null,
        },
        _ => return Value::Null,
    };
    let n = xs.len();
    reals(&outlier_scores(&xs, lo, hi, n))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn some(xs: &[f64]) -> Vec<Option<f64>> {
        xs.iter().copied().map(Some).collect()
    }

    fn close(a: &[f64], b: &[f64]) {
        assert_eq!(a.len(), b.len(), "{a:?} vs {b:?}");
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() < 1e-9, "{a:?} vs {b:?}");
        }
    }

    #[test]
    fn percentiles_interpolate_between_ranks() {
        let s = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(percentile_sorted(&s, 0.0), Some(1.0));
        assert_eq!(percentile_sorted(&s, 100.0), Some(4.0));
        assert_eq!(percentile_sorted(&s, 50.0), Some(2.5));
        assert!((percentile_sorted(&s, 10.0).unwrap() - 1.3).abs() < 1e-12);
        assert_eq!(percentile_sorted(&[], 50.0), None);
    }

    #[test]
    fn a_spike_over_a_flat_series_with_avg_trend() {
        // Mean 14; residuals -4 (nine times) and 36. P10 = -4, P90 = -4 + 0.1·40 = 0, so the
        // range is 4 and the spike scores 36 / 4 = 9.
        let mut x = vec![10.0; 9];
        x.push(50.0);
        let p = AnomalyParams::from_args(&[]).unwrap();
        assert_eq!(p.trend, Trend::Avg);
        let r = decompose_anomalies(&some(&x), &p);
        close(&r.baseline, &[14.0; 10]);
        let mut scores = vec![0.0; 9];
        scores.push(9.0);
        close(&r.scores, &scores);
        let mut flags = vec![0; 9];
        flags.push(1);
        assert_eq!(r.flags, flags);
    }

    #[test]
    fn linefit_follows_a_line_and_flags_a_dip() {
        // An exact line has zero residuals: no anomaly, the baseline is the line.
        let line = some(&[0.0, 1.0, 2.0, 3.0, 4.0]);
        let p =
            AnomalyParams::from_args(&[Value::Real(1.5), Value::Long(-1), Value::str("linefit")])
                .unwrap();
        let r = decompose_anomalies(&line, &p);
        close(&r.baseline, &[0.0, 1.0, 2.0, 3.0, 4.0]);
        assert_eq!(r.flags, vec![0; 5]);
        // y = [0, 2, 4, 6, 0, 10] over i = 0..5: mean i 2.5, mean y 11/3, Sxx 17.5,
        // Sxy = -3 - 2 + 3 + 0 + 25 = 23, so the line is 8/21 + (23/17.5)·i. The residuals'
        // P10 and P90 (ranks 0.5 and 4.5 of six) are -3.00952… and 2.36190…, 5.37142… apart:
        // the dip at i = 4 scores -23/47 and the last point 6/47, neither beyond 1.5.
        let y = some(&[0.0, 2.0, 4.0, 6.0, 0.0, 10.0]);
        let r = decompose_anomalies(&y, &p);
        let base: Vec<f64> = (0..6)
            .map(|i| 8.0 / 21.0 + 23.0 / 17.5 * i as f64)
            .collect();
        close(&r.baseline, &base);
        close(&r.scores, &[0.0, 0.0, 0.0, 0.0, -23.0 / 47.0, 6.0 / 47.0]);
        assert_eq!(r.flags, vec![0; 6]);
        // With threshold 0.4 the dip is a decline anomaly.
        let p =
            AnomalyParams::from_args(&[Value::Real(0.4), Value::Long(0), Value::str("linefit")])
                .unwrap();
        assert_eq!(decompose_anomalies(&y, &p).flags, vec![0, 0, 0, 0, -1, 0]);
    }

    #[test]
    fn explicit_period_takes_phase_medians() {
        // Period 2, no trend: even phase median 1, odd phase median of {5, 5, 5, 9} = 5. The
        // residuals are 0 except 4 at the end; P10 = 0, P90 = 0.3·4 = 1.2 (n = 8, rank 6.3), so
        // the last point scores (4 - 1.2) / 1.2.
        let x = some(&[1.0, 5.0, 1.0, 5.0, 1.0, 5.0, 1.0, 9.0]);
        let p = AnomalyParams::from_args(&[Value::Long(2), Value::Long(2), Value::str("none")])
            .unwrap();
        let r = decompose_anomalies(&x, &p);
        close(&r.baseline, &[1.0, 5.0, 1.0, 5.0, 1.0, 5.0, 1.0, 5.0]);
        assert!((r.scores[7] - 2.8 / 1.2).abs() < 1e-9);
        assert_eq!(r.flags, vec![0, 0, 0, 0, 0, 0, 0, 1]);
    }

    #[test]
    fn tukey_uses_quartiles_and_test_points_are_not_learned() {
        // With tukey on [0, 1, 2, 3, 100] and no trend: Q1 = 1, Q3 = 3, range 2; 100 scores
        // 48.5. With the last point a test point, the fences come from [0, 1, 2, 3] only
        // (Q1 = 0.75, Q3 = 2.25) and it scores (100 - 2.25) / 1.5.
        let x = some(&[0.0, 1.0, 2.0, 3.0, 100.0]);
        let args = |tp: i64| {
            vec![
                Value::Real(1.5),
                Value::Long(0),
                Value::str("none"),
                Value::Long(tp),
                Value::str("tukey"),
            ]
        };
        let r = decompose_anomalies(&x, &AnomalyParams::from_args(&args(0)).unwrap());
        close(&r.scores, &[-0.5, 0.0, 0.0, 0.0, 48.5]);
        assert_eq!(r.flags, vec![0, 0, 0, 0, 1]);
        let r = decompose_anomalies(&x, &AnomalyParams::from_args(&args(1)).unwrap());
        assert!((r.scores[4] - 97.75 / 1.5).abs() < 1e-9);
    }

    #[test]
    fn missing_points_and_bad_arguments() {
        let v = Value::array(vec![
            Value::Long(1),
            Value::Null,
            Value::str("x"),
            Value::Real(3.0),
        ]);
        assert_eq!(numbers(&v), Some(vec![Some(1.0), None, None, Some(3.0)]));
        let flags = f_series_decompose_anomalies(std::slice::from_ref(&v));
        assert_eq!(
            flags,
            Value::array(vec![Value::Long(0); 4]),
            "missing points score 0"
        );
        assert_eq!(f_series_decompose_anomalies(&[Value::Long(3)]), Value::Null);
        assert_eq!(
            f_series_decompose_anomalies(&[
                v.clone(),
                Value::Real(1.5),
                Value::Long(-1),
                Value::str("cubic")
            ]),
            Value::Null
        );
        let parts = f_series_decompose_anomalies_parts(&[v]);
        let Value::Array(p) = parts else { panic!() };
        assert_eq!(p.len(), 3);
        assert_eq!(
            f_series_decompose_anomalies_parts(&[Value::array(vec![])]),
            Value::array(vec![
                Value::array(vec![]),
                Value::array(vec![]),
                Value::array(vec![])
            ])
        );
    }
}
