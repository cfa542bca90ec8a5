//! The one table, and the statistics and number formats it uses.

/// One line of the table.
struct Row {
    section: String,
    what: String,
    value: String,
    unit: String,
    runs: usize,
    ratio: String,
    note: String,
}

/// Rows in the order they were measured.
#[derive(Default)]
pub struct Table {
    rows: Vec<Row>,
}

impl Table {
    /// Adds a row: `value` in `unit`, the median of `runs` runs, a ratio
    /// (empty if none) and a note.
    #[allow(clippy::too_many_arguments)]
    pub fn row(
        &mut self,
        section: &str,
        what: &str,
        value: &str,
        unit: &str,
        runs: usize,
        ratio: &str,
        note: &str,
    ) {
        self.rows.push(Row {
            section: section.to_owned(),
            what: what.to_owned(),
            value: value.to_owned(),
            unit: unit.to_owned(),
            runs,
            ratio: ratio.to_owned(),
            note: note.trim().trim_end_matches(';').trim_end().to_owned(),
        });
    }

    /// The table as Markdown.
    pub fn render(&self) -> String {
        let mut s = String::from(
            "| section | measurement | median | unit | runs | ratio | notes |\n|---|---|--:|---|--:|--:|---|\n",
        );
        for r in &self.rows {
            let runs = if r.runs == 0 {
                String::new()
            } else {
                r.runs.to_string()
            };
            s.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} | {} |\n",
                r.section,
                r.what,
                r.value,
                r.unit,
                runs,
                r.ratio,
                r.note.replace('|', "\\|")
            ));
        }
        s
    }
}

/// The median of `xs` (the mean of the middle two for an even count);
/// NaN if empty.
pub fn median(xs: &[f64]) -> f64 {
    let mut v: Vec<f64> = xs.iter().copied().filter(|x| !x.is_nan()).collect();
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// The range of `xs`, as "min–max" with `num`.
pub fn spread(xs: &[f64]) -> String {
    if xs.len() < 2 {
        return String::new();
    }
    let lo = xs.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    format!("range {}–{}", num(lo), num(hi))
}

/// A number with three significant digits (more for large integers),
/// thousands separated by commas.
pub fn num(x: f64) -> String {
    if x.is_nan() {
        return "–".into();
    }
    if x.is_infinite() {
        return "∞".into();
    }
    if x == 0.0 {
        return "0".into();
    }
    let a = x.abs();
    let decimals = if a >= 100.0 {
        0
    } else if a >= 10.0 {
        1
    } else if a >= 1.0 {
        2
    } else if a >= 0.1 {
        3
    } else {
        4
    };
    let s = format!("{x:.decimals$}");
    let (int, frac) = match s.split_once('.') {
        Some((i, f)) => (i.to_owned(), Some(f.to_owned())),
        None => (s, None),
    };
    let (sign, digits) = match int.strip_prefix('-') {
        Some(d) => ("-", d.to_owned()),
        None => ("", int),
    };
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    match frac {
        Some(f) => format!("{sign}{grouped}.{f}"),
        None => format!("{sign}{grouped}"),
    }
}

/// A ratio as "0.42×".
pub fn ratio(a: f64, b: f64) -> String {
    if a.is_nan() || b.is_nan() || b == 0.0 {
        return "–".into();
    }
    format!("{}×", num(a / b))
}

/// A count, thousands separated by commas.
pub fn int(n: usize) -> String {
    if n < 1000 {
        n.to_string()
    } else {
        num(n as f64)
    }
}
