//! Small SVG line charts: a line per series, axes with ticks and labels,
//! a legend, dashed horizontal reference lines. Enough for the
//! bottleneck's figures (`examples/bottleneck.rs`) without a plotting
//! dependency.

use std::fmt::Write;

/// One line of a chart.
#[derive(Clone, Debug)]
pub struct Series {
    /// What the legend calls it.
    pub name: String,
    /// (x, y) points, in x order.
    pub points: Vec<(f64, f64)>,
}

/// A dashed horizontal line at `y`, labelled.
#[derive(Clone, Debug)]
pub struct Reference {
    /// Its label, drawn above it at the right.
    pub name: String,
    /// Where.
    pub y: f64,
}

/// A line chart; a legend names the lines when there are two or more.
#[derive(Clone, Debug, Default)]
pub struct Chart {
    /// The title, above the plot.
    pub title: String,
    /// A second line under the title, smaller (what the reader should
    /// know to read it).
    pub subtitle: String,
    /// The x axis's label.
    pub x_label: String,
    /// The y axis's label.
    pub y_label: String,
    /// The lines.
    pub series: Vec<Series>,
    /// Horizontal reference lines.
    pub references: Vec<Reference>,
    /// The top of the y axis; `None` fits the data. Points above it are
    /// drawn at it.
    pub y_max: Option<f64>,
}

/// Colours for the series, in order (distinguishable, also in grey).
const COLOURS: [&str; 8] = [
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
];

const WIDTH: f64 = 960.0;
const HEIGHT: f64 = 540.0;
const LEFT: f64 = 90.0;
const RIGHT: f64 = 30.0;
const TOP: f64 = 80.0;
const BOTTOM: f64 = 70.0;

/// A tick step for `range` split in about `ticks` parts: 1, 2 or 5 times
/// a power of ten.
pub fn nice_step(range: f64, ticks: usize) -> f64 {
    if range <= 0.0 || !range.is_finite() {
        return 1.0;
    }
    let raw = range / ticks.max(1) as f64;
    let power = 10f64.powf(raw.log10().floor());
    let m = raw / power;
    let nice = if m <= 1.0 {
        1.0
    } else if m <= 2.0 {
        2.0
    } else if m <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * power
}

/// `v` with as many decimals as `step` needs, thousands separated.
fn label(v: f64, step: f64) -> String {
    let decimals = if step >= 1.0 {
        0
    } else {
        (-step.log10().floor()) as usize
    };
    let s = format!("{:.*}", decimals, v.abs());
    let (int, frac) = s
        .split_once('.')
        .map_or((s.as_str(), None), |(i, f)| (i, Some(f)));
    let mut grouped = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    let sign = if v < 0.0 && s.chars().any(|c| c != '0' && c != '.') {
        "-"
    } else {
        ""
    };
    match frac {
        Some(f) => format!("{sign}{grouped}.{f}"),
        None => format!("{sign}{grouped}"),
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

impl Chart {
    /// The chart as an SVG document.
    pub fn svg(&self) -> String {
        let points = self.series.iter().flat_map(|s| s.points.iter());
        let (mut x_min, mut x_max) = (f64::INFINITY, f64::NEG_INFINITY);
        let mut y_data = 0f64;
        for &(x, y) in points {
            x_min = x_min.min(x);
            x_max = x_max.max(x);
            y_data = y_data.max(y);
        }
        if !x_min.is_finite() {
            (x_min, x_max) = (0.0, 1.0);
        }
        let x_min = x_min.min(0.0);
        let y_top = self.references.iter().map(|r| r.y).fold(y_data, f64::max);
        let y_top = self.y_max.unwrap_or(y_top * 1.05).max(1e-9);
        let x_step = nice_step(x_max - x_min, 10);
        let y_step = nice_step(y_top, 8);
        let x_max = (x_max / x_step).ceil() * x_step;
        let y_max = self.y_max.unwrap_or((y_top / y_step).ceil() * y_step);
        // A legend for two lines or more, right of the plot.
        let legend = self.series.len() > 1;
        let legend_width = self
            .series
            .iter()
            .map(|s| 44.0 + s.name.chars().count() as f64 * 7.5)
            .fold(0.0, f64::max);
        let right = if legend { RIGHT + legend_width } else { RIGHT };
        let (w, h) = (WIDTH - LEFT - right, HEIGHT - TOP - BOTTOM);
        let sx = |x: f64| LEFT + (x - x_min) / (x_max - x_min).max(1e-9) * w;
        let sy = |y: f64| TOP + h - y.clamp(0.0, y_max) / y_max * h;

        let mut o = String::new();
        let _ = writeln!(
            o,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="Helvetica, Arial, sans-serif" font-size="13">"#
        );
        let _ = writeln!(
            o,
            r#"<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>"#
        );
        let _ = writeln!(
            o,
            r#"<text x="{}" y="28" font-size="18" font-weight="bold" text-anchor="middle">{}</text>"#,
            WIDTH / 2.0,
            escape(&self.title)
        );
        let _ = writeln!(
            o,
            r##"<text x="{}" y="50" font-size="13" fill="#444" text-anchor="middle">{}</text>"##,
            WIDTH / 2.0,
            escape(&self.subtitle)
        );
        // Grid and ticks.
        let mut x = (x_min / x_step).ceil() * x_step;
        while x <= x_max + x_step * 1e-6 {
            let px = sx(x);
            let _ = writeln!(
                o,
                r##"<line x1="{px:.1}" y1="{TOP}" x2="{px:.1}" y2="{:.1}" stroke="#e4e4e4"/><line x1="{px:.1}" y1="{:.1}" x2="{px:.1}" y2="{:.1}" stroke="black"/><text x="{px:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
                TOP + h,
                TOP + h,
                TOP + h + 5.0,
                TOP + h + 20.0,
                label(x, x_step)
            );
            x += x_step;
        }
        let mut y = 0.0;
        while y <= y_max + y_step * 1e-6 {
            let py = sy(y);
            let _ = writeln!(
                o,
                r##"<line x1="{LEFT}" y1="{py:.1}" x2="{:.1}" y2="{py:.1}" stroke="#e4e4e4"/><line x1="{:.1}" y1="{py:.1}" x2="{LEFT}" y2="{py:.1}" stroke="black"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
                LEFT + w,
                LEFT - 5.0,
                LEFT - 8.0,
                py + 4.0,
                label(y, y_step)
            );
            y += y_step;
        }
        // Axes and their labels.
        let _ = writeln!(
            o,
            r#"<rect x="{LEFT}" y="{TOP}" width="{w}" height="{h}" fill="none" stroke="black"/>"#
        );
        let _ = writeln!(
            o,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            LEFT + w / 2.0,
            HEIGHT - 22.0,
            escape(&self.x_label)
        );
        let _ = writeln!(
            o,
            r#"<text transform="translate(22 {:.1}) rotate(-90)" text-anchor="middle">{}</text>"#,
            TOP + h / 2.0,
            escape(&self.y_label)
        );
        // Reference lines.
        for r in &self.references {
            let py = sy(r.y);
            let _ = writeln!(
                o,
                r##"<line x1="{LEFT}" y1="{py:.1}" x2="{:.1}" y2="{py:.1}" stroke="#555" stroke-dasharray="6 4"/><text x="{:.1}" y="{:.1}" text-anchor="end" fill="#333" stroke="white" stroke-width="3" paint-order="stroke">{}</text>"##,
                LEFT + w,
                LEFT + w - 6.0,
                py - 5.0,
                escape(&r.name)
            );
        }
        // The lines, clipped to the plot.
        let _ = writeln!(
            o,
            r#"<clipPath id="plot"><rect x="{LEFT}" y="{TOP}" width="{w}" height="{h}"/></clipPath>"#
        );
        for (i, s) in self.series.iter().enumerate() {
            let mut d = String::new();
            for &(x, y) in &s.points {
                let _ = write!(d, "{:.1},{:.1} ", sx(x), sy(y));
            }
            let _ = writeln!(
                o,
                r#"<polyline clip-path="url(#plot)" fill="none" stroke="{}" stroke-width="1.4" stroke-linejoin="round" points="{}"/>"#,
                COLOURS[i % COLOURS.len()],
                d.trim_end()
            );
        }
        if legend {
            let lw = legend_width - 10.0;
            let lh = 8.0 + 20.0 * self.series.len() as f64;
            let (lx, ly) = (LEFT + w + 10.0, TOP);
            let _ = writeln!(
                o,
                r##"<rect x="{lx}" y="{ly}" width="{lw:.1}" height="{lh:.1}" fill="white" fill-opacity="0.9" stroke="#999"/>"##
            );
            for (i, s) in self.series.iter().enumerate() {
                let y = ly + 18.0 + 20.0 * i as f64;
                let _ = writeln!(
                    o,
                    r#"<line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="{}" stroke-width="3"/><text x="{:.1}" y="{:.1}">{}</text>"#,
                    lx + 8.0,
                    y - 4.0,
                    lx + 30.0,
                    y - 4.0,
                    COLOURS[i % COLOURS.len()],
                    lx + 36.0,
                    y,
                    escape(&s.name)
                );
            }
        }
        o.push_str("</svg>\n");
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_one_two_or_five_times_a_power_of_ten() {
        assert_eq!(nice_step(20.0, 10), 2.0);
        assert_eq!(nice_step(1_000.0, 8), 200.0);
        assert_eq!(nice_step(0.3, 6), 0.05);
        assert_eq!(nice_step(0.0, 6), 1.0);
    }

    #[test]
    fn labels_group_thousands_and_keep_the_step_s_decimals() {
        assert_eq!(label(1_250_000.0, 250_000.0), "1,250,000");
        assert_eq!(label(0.25, 0.05), "0.25");
        assert_eq!(label(-1500.0, 500.0), "-1,500");
        assert_eq!(label(0.0, 0.5), "0.0");
    }

    #[test]
    fn a_chart_names_its_series_and_escapes_text() {
        let svg = Chart {
            title: "cwnd <flow>".into(),
            series: vec![
                Series {
                    name: "flow 1".into(),
                    points: vec![(0.0, 1.0), (1.0, 2.0)],
                };
                2
            ],
            references: vec![Reference {
                name: "BDP".into(),
                y: 1.5,
            }],
            ..Chart::default()
        }
        .svg();
        assert!(svg.starts_with("<svg"));
        assert!(svg.contains("cwnd &lt;flow&gt;"));
        assert!(svg.contains(">flow 1<"));
        assert!(svg.contains(">BDP<"));
        assert!(svg.trim_end().ends_with("</svg>"));
    }
}
