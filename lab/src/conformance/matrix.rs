//! The conformance matrix: rows the spec's pairs, columns the
//! implementations, written as Markdown (CONFORMANCE.md).

use std::fmt::Write as _;

use super::{Pair, Spec, Verdict};

/// One implementation's column.
pub struct Column {
    /// Its head (`smoltcp 0.14`).
    pub name: String,
    /// The letter its notes are numbered with (`S` for S1, S2, ...).
    pub key: char,
    /// The verdicts in pair order, or why the column was not run.
    pub result: Result<Vec<Verdict>, String>,
}

/// Agree, differ and untestable counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    /// Cells that agree.
    pub agree: usize,
    /// Cells that differ.
    pub differs: usize,
    /// Cells that could not be tested.
    pub untestable: usize,
}

impl Totals {
    /// The counts of `verdicts`.
    pub fn of(verdicts: &[Verdict]) -> Totals {
        let mut t = Totals::default();
        for v in verdicts {
            match v {
                Verdict::Agree => t.agree += 1,
                Verdict::Differs(_) => t.differs += 1,
                Verdict::Untestable(_) => t.untestable += 1,
            }
        }
        t
    }

    /// Cells tested (agree or differ).
    pub fn testable(&self) -> usize {
        self.agree + self.differs
    }

    /// Every cell.
    pub fn total(&self) -> usize {
        self.testable() + self.untestable
    }

    /// The share tested, in percent.
    pub fn percent_testable(&self) -> f64 {
        if self.total() == 0 {
            0.0
        } else {
            100.0 * self.testable() as f64 / self.total() as f64
        }
    }
}

/// What a cell of column `key` says, as the table shows it: `agree`,
/// `differs (S3)`, `untestable (SU1)`; notes numbered in row order.
pub fn cells(key: char, verdicts: &[Verdict]) -> Vec<String> {
    let (mut d, mut u) = (0, 0);
    verdicts
        .iter()
        .map(|v| match v {
            Verdict::Agree => "agree".to_string(),
            Verdict::Differs(_) => {
                d += 1;
                format!("**differs** ({key}{d})")
            }
            Verdict::Untestable(_) => {
                u += 1;
                format!("untestable ({key}U{u})")
            }
        })
        .collect()
}

/// The RFC section column: `3.10.7.4`, or `-` for a pair beyond the RFC.
fn rfc(p: &Pair) -> String {
    p.rfc.clone().unwrap_or_else(|| "-".to_string())
}

/// "`SYN_RCVD -close-> FIN_WAIT_1` (tcp.fsm:108" (the caller closes the
/// parenthesis).
fn cite(spec: &Spec, p: &Pair) -> String {
    format!("`{}` ({}:{}", p.describe(), spec.file, p.line)
}

/// The matrix table's cells of every row, for a column: (row number,
/// cell), as [`markdown`] writes them.
pub fn table_cells(column: &Column) -> Option<Vec<String>> {
    column.result.as_ref().ok().map(|v| cells(column.key, v))
}

/// Reads the cells of column `head` back from a matrix [`markdown`]
/// wrote, in row order (for checking a committed file is current).
pub fn read_cells(markdown: &str, head: &str) -> Option<Vec<String>> {
    let mut lines = markdown.lines().skip_while(|l| !l.starts_with("| # |"));
    let header: Vec<&str> = split_row(lines.next()?);
    let col = header.iter().position(|h| *h == head)?;
    Some(
        lines
            .skip(1)
            .take_while(|l| l.starts_with('|'))
            .map(|l| split_row(l).get(col).copied().unwrap_or("").to_string())
            .collect(),
    )
}

fn split_row(line: &str) -> Vec<&str> {
    line.trim()
        .trim_start_matches('|')
        .trim_end_matches('|')
        .split(" | ")
        .map(str::trim)
        .collect()
}

/// A class of differences: a title and the text that decides it.
pub type Class = (&'static str, &'static str);

/// The numbers of column `c`'s differing cells (`S3`), by pair index.
fn difference_numbers(c: &Column) -> Vec<Option<String>> {
    let mut d = 0;
    match &c.result {
        Ok(v) => v
            .iter()
            .map(|v| {
                matches!(v, Verdict::Differs(_)).then(|| {
                    d += 1;
                    format!("{}{d}", c.key)
                })
            })
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// CONFORMANCE.md: `intro`, the totals, the classes of differences (each
/// with the text that decides it, from `class`), the matrix, then each
/// column's differences (with their evidence) and untestable cells (with
/// their reasons).
pub fn markdown(
    spec: &Spec,
    columns: &[Column],
    intro: &str,
    class: &dyn Fn(&Pair) -> Option<Class>,
) -> String {
    let mut out = String::new();
    out.push_str(intro.trim_end());
    out.push_str("\n\n## Totals\n\n");
    out.push_str("| implementation | agree | differs | untestable | testable |\n");
    out.push_str("|---|---:|---:|---:|---:|\n");
    for c in columns {
        match &c.result {
            Ok(v) => {
                let t = Totals::of(v);
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} | {}/{} ({:.0}%) |",
                    c.name,
                    t.agree,
                    t.differs,
                    t.untestable,
                    t.testable(),
                    t.total(),
                    t.percent_testable()
                );
            }
            Err(why) => {
                let _ = writeln!(out, "| {} | not run: {why} | | | |", c.name);
            }
        }
    }
    let numbers: Vec<Vec<Option<String>>> = columns.iter().map(difference_numbers).collect();
    let mut classes: Vec<(Option<Class>, Vec<String>)> = Vec::new();
    for (i, p) in spec.pairs.iter().enumerate() {
        let cells: Vec<&String> = numbers.iter().filter_map(|n| n.get(i)?.as_ref()).collect();
        if cells.is_empty() {
            continue;
        }
        let k = class(p);
        let at = match classes.iter().position(|(c, _)| *c == k) {
            Some(at) => at,
            None => {
                classes.push((k, Vec::new()));
                classes.len() - 1
            }
        };
        classes[at].1.extend(cells.into_iter().cloned());
    }
    // Unclassified ones last.
    classes.sort_by_key(|(c, _)| c.is_none());
    if !classes.is_empty() {
        out.push_str("\n## Differences by class\n");
        for (c, cells) in &classes {
            let (title, text) = c.unwrap_or(("Other differences", ""));
            let _ = writeln!(out, "\n### {title}\n");
            if !text.is_empty() {
                let _ = writeln!(out, "{text}\n");
            }
            let _ = writeln!(out, "Cells: {}.", cells.join(", "));
        }
    }
    out.push_str("\n## Matrix\n\n");
    let _ = write!(out, "| # | pair | {} | RFC 9293 |", spec.file);
    for c in columns {
        let _ = write!(out, " {} |", c.name);
    }
    out.push_str("\n|---:|---|---:|---|");
    for _ in columns {
        out.push_str("---|");
    }
    out.push('\n');
    let all: Vec<Vec<String>> = columns
        .iter()
        .map(|c| table_cells(c).unwrap_or_else(|| vec!["not run".to_string(); spec.pairs.len()]))
        .collect();
    for (i, p) in spec.pairs.iter().enumerate() {
        let _ = write!(
            out,
            "| {} | `{}` | {} | {} |",
            i + 1,
            p.describe(),
            p.line,
            rfc(p)
        );
        for c in &all {
            let _ = write!(out, " {} |", c[i]);
        }
        out.push('\n');
    }
    for c in columns {
        let Ok(verdicts) = &c.result else {
            continue;
        };
        // One pass: each differing cell's section, each untestable cell's
        // line, numbered as the table numbers them.
        let (mut differs, mut untestable) = (String::new(), String::new());
        let (mut d, mut u) = (0, 0);
        for (p, v) in spec.pairs.iter().zip(verdicts) {
            match v {
                Verdict::Agree => {}
                Verdict::Differs(evidence) => {
                    d += 1;
                    let class = class(p)
                        .map(|(title, _)| format!("Class: {title}.\n\n"))
                        .unwrap_or_default();
                    let _ = write!(
                        differs,
                        "\n#### {}{d}. {}, RFC 9293 {})\n\n{class}```text\n{}\n```\n",
                        c.key,
                        cite(spec, p),
                        rfc(p),
                        evidence.trim_end()
                    );
                }
                Verdict::Untestable(why) => {
                    u += 1;
                    let why = why.replace('\n', " ");
                    let _ = writeln!(untestable, "- {}U{u}. {}): {why}", c.key, cite(spec, p));
                }
            }
        }
        let _ = writeln!(out, "\n## {}\n", c.name);
        if differs.is_empty() {
            out.push_str("No differences.\n");
        } else {
            out.push_str("### Differences\n");
            out.push_str(&differs);
        }
        if !untestable.is_empty() {
            out.push_str("\n### Untestable\n\n");
            out.push_str(&untestable);
        }
    }
    out
}
