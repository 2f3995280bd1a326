//! A small SVG writer for the report's plots: shapes, text and line charts with their axes,
//! written as text to inline in the page. Every text it writes is escaped.

use std::fmt::Write;

use super::html::escape;

/// An SVG image being written.
pub struct Svg {
    out: String,
}

/// A coordinate as SVG text: one decimal, no trailing `.0`.
fn n(v: f64) -> String {
    let v = if v.is_finite() { v } else { 0.0 };
    let r = (v * 10.0).round() / 10.0;
    if r == r.trunc() {
        format!("{}", r as i64)
    } else {
        format!("{r:.1}")
    }
}

impl Svg {
    /// An image `width` by `height` pixels (it scales to its container's width), with `id` and
    /// an accessible label.
    pub fn new(id: &str, width: f64, height: f64, label: &str) -> Svg {
        Svg {
            out: format!(
                "<svg id=\"{}\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {} {}\" \
                 width=\"100%\" role=\"img\" aria-label=\"{}\">",
                escape(id),
                n(width),
                n(height),
                escape(label)
            ),
        }
    }

    /// A rectangle filled with `fill` (a colour of the page's own), with a tooltip.
    #[allow(clippy::too_many_arguments)]
    pub fn rect(&mut self, x: f64, y: f64, w: f64, h: f64, fill: &str, opacity: f64, tip: &str) {
        let _ = write!(
            self.out,
            "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\" fill-opacity=\"{:.2}\">",
            n(x),
            n(y),
            n(w.max(0.0)),
            n(h.max(0.0)),
            escape(fill),
            opacity.clamp(0.0, 1.0)
        );
        if !tip.is_empty() {
            let _ = write!(self.out, "<title>{}</title>", escape(tip));
        }
        self.out.push_str("</rect>");
    }

    /// A line of `class` (the page's style sheet draws it).
    pub fn line(&mut self, x1: f64, y1: f64, x2: f64, y2: f64, class: &str) {
        let _ = write!(
            self.out,
            "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" class=\"{}\"/>",
            n(x1),
            n(y1),
            n(x2),
            n(y2),
            escape(class)
        );
    }

    /// Text at (`x`, `y`), anchored `start`, `middle` or `end`.
    pub fn text(&mut self, x: f64, y: f64, anchor: &str, class: &str, text: &str) {
        let _ = write!(
            self.out,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"{}\" class=\"{}\">{}</text>",
            n(x),
            n(y),
            escape(anchor),
            escape(class),
            escape(text)
        );
    }

    /// A polyline through `points`, stroked with `colour`.
    pub fn polyline(&mut self, points: &[(f64, f64)], colour: &str) {
        let pts: Vec<String> = points
            .iter()
            .map(|(x, y)| format!("{},{}", n(*x), n(*y)))
            .collect();
        let _ = write!(
            self.out,
            "<polyline points=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"2\"/>",
            pts.join(" "),
            escape(colour)
        );
    }

    /// A small circle with a tooltip.
    pub fn dot(&mut self, x: f64, y: f64, colour: &str, tip: &str) {
        let _ = write!(
            self.out,
            "<circle cx=\"{}\" cy=\"{}\" r=\"3\" fill=\"{}\"><title>{}</title></circle>",
            n(x),
            n(y),
            escape(colour),
            escape(tip)
        );
    }

    /// Opens a group with these attributes (names and values are escaped).
    pub fn open_group(&mut self, attributes: &[(&str, &str)]) {
        self.out.push_str("<g");
        for (k, v) in attributes {
            let _ = write!(self.out, " {}=\"{}\"", escape(k), escape(v));
        }
        self.out.push('>');
    }

    /// Closes the group opened last.
    pub fn close_group(&mut self) {
        self.out.push_str("</g>");
    }

    /// The image's text.
    pub fn finish(mut self) -> String {
        self.out.push_str("</svg>");
        self.out
    }
}

/// About `count` round values (1, 2 or 5 times a power of ten apart) from 0 to at least `max`.
pub fn nice_ticks(max: f64, count: usize) -> Vec<f64> {
    if !max.is_finite() || max <= 0.0 {
        return vec![0.0, 1.0];
    }
    let raw = max / count.max(1) as f64;
    let power = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * power)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * power);
    let mut out = vec![0.0];
    let mut v = 0.0;
    while v < max {
        v += step;
        out.push(v);
    }
    out
}

/// A number for an axis label: whole when it is, else as few decimals as show it.
pub fn short_number(v: f64) -> String {
    if v.abs() >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if v.abs() >= 1e4 {
        format!("{:.0}k", v / 1e3)
    } else if v == v.trunc() {
        format!("{}", v as i64)
    } else if v.abs() >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.3}")
    }
}

/// A line chart: one series over an x range, with labelled ticks.
pub struct LineChart<'a> {
    /// The image's id.
    pub id: &'a str,
    /// What it shows (the accessible label).
    pub label: &'a str,
    /// The x axis's title.
    pub x_title: &'a str,
    /// The y axis's title.
    pub y_title: &'a str,
    /// The x range shown.
    pub x_range: (f64, f64),
    /// Ticks on the x axis: (x, label).
    pub x_ticks: Vec<(f64, String)>,
    /// The points, in x order.
    pub points: Vec<(f64, f64)>,
    /// A tooltip per point (none when empty).
    pub tips: Vec<String>,
    /// The line's colour.
    pub colour: &'a str,
}

impl LineChart<'_> {
    /// The chart as SVG text.
    pub fn render(&self) -> String {
        let (w, h) = (720.0, 300.0);
        let (left, right, top, bottom) = (64.0, 16.0, 16.0, 48.0);
        let (pw, ph) = (w - left - right, h - top - bottom);
        let y_max = self.points.iter().map(|p| p.1).fold(0.0f64, f64::max);
        let ticks = nice_ticks(y_max, 5);
        let y_top = ticks.last().copied().unwrap_or(1.0).max(f64::MIN_POSITIVE);
        let (x0, x1) = self.x_range;
        let span = if x1 > x0 { x1 - x0 } else { 1.0 };
        let px = |x: f64| left + (x - x0) / span * pw;
        let py = |y: f64| top + ph - y / y_top * ph;
        let mut svg = Svg::new(self.id, w, h, self.label);
        for t in &ticks {
            svg.line(left, py(*t), left + pw, py(*t), "grid");
            svg.text(left - 6.0, py(*t) + 4.0, "end", "tick", &short_number(*t));
        }
        for (x, label) in &self.x_ticks {
            svg.line(px(*x), top + ph, px(*x), top + ph + 5.0, "axis");
            svg.text(px(*x), top + ph + 18.0, "middle", "tick", label);
        }
        svg.line(left, top + ph, left + pw, top + ph, "axis");
        svg.line(left, top, left, top + ph, "axis");
        svg.text(
            left + pw / 2.0,
            h - 6.0,
            "middle",
            "axis-title",
            self.x_title,
        );
        svg.text(left, top - 4.0, "start", "axis-title", self.y_title);
        let pts: Vec<(f64, f64)> = self.points.iter().map(|(x, y)| (px(*x), py(*y))).collect();
        svg.polyline(&pts, self.colour);
        for (i, (x, y)) in pts.iter().enumerate() {
            if let Some(tip) = self.tips.get(i) {
                svg.dot(*x, *y, self.colour, tip);
            }
        }
        svg.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_cover_the_maximum() {
        assert_eq!(nice_ticks(9.0, 5), vec![0.0, 2.0, 4.0, 6.0, 8.0, 10.0]);
        assert_eq!(nice_ticks(0.0, 5), vec![0.0, 1.0]);
        let t = nice_ticks(1234.0, 4);
        assert_eq!(t[1], 500.0);
        assert!(*t.last().unwrap() >= 1234.0);
    }

    #[test]
    fn a_chart_escapes_its_labels() {
        let c = LineChart {
            id: "c",
            label: "a <b>",
            x_title: "x & y",
            y_title: "ms",
            x_range: (0.0, 2.0),
            x_ticks: vec![(0.0, "0".into()), (2.0, "<2>".into())],
            points: vec![(0.0, 1.0), (1.0, 3.0), (2.0, 2.0)],
            tips: vec!["\"q\"".into()],
            colour: "#123456",
        }
        .render();
        assert!(c.starts_with("<svg id=\"c\""), "{c}");
        assert!(c.ends_with("</svg>"));
        assert!(c.contains("aria-label=\"a &lt;b&gt;\""), "{c}");
        assert!(c.contains("&lt;2&gt;") && c.contains("x &amp; y"), "{c}");
        assert!(c.contains("<title>&quot;q&quot;</title>"), "{c}");
        assert!(c.contains("<polyline points=\""), "{c}");
        assert_eq!(c.matches("<circle").count(), 1);
    }
}
