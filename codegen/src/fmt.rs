//! `fsm fmt`: the canonical layout of a spec.
//!
//! One statement per line, in the order written; every comment kept (on its
//! own line, or at the end of a statement's line); runs of blank lines
//! collapsed to one. Consecutive statements of one kind (a *block*: not
//! separated by a blank line or a comment line) are aligned in columns:
//! transitions as `SOURCES -> TARGET on EVENT [GUARD] / ACTIONS  steps  notes`,
//! declarations as `keyword NAME modifier "text" translations notes`, and the
//! comments at the end of their lines too. A statement written over several
//! lines keeps its line breaks: the later lines are indented continuation
//! lines. Formatting adds or removes no line except blank ones (and splits
//! statements written on one line), so line numbers stay.
//!
//! Strings, names and numbers are copied as written; only the space between
//! them changes. A statement the layout cannot hold (a line break or a
//! comment inside a clause) is copied as written.

use pest::Parser as _;
use pest::iterators::Pair;

use crate::diagnostic::Diagnostic;
use crate::syntax::{Grammar, Rule};

/// Formats `source`. A spec that does not parse is not formatted: its syntax
/// diagnostic is returned.
pub fn format(source: &str) -> Result<String, Diagnostic> {
    crate::syntax::parse(source)?;
    let file = Grammar::parse(Rule::file, source)
        .expect("parsed above")
        .next()
        .expect("the file rule matched");
    let statements: Vec<Pair<'_, Rule>> = file
        .into_inner()
        .filter(|p| p.as_rule() != Rule::EOI)
        .collect();

    let mut items = Vec::new();
    let mut pos = 0;
    for (i, pair) in statements.iter().enumerate() {
        let start = pair.as_span().start();
        gap_items(&source[pos..start], i == 0, &mut items);
        let end = content_end(pair);
        let line_end = source[end..].find('\n').map_or(source.len(), |n| end + n);
        let trailing = source[end..line_end].trim();
        let comment = trailing.starts_with("//").then(|| trailing.to_owned());
        pos = if comment.is_some() { line_end } else { end };
        let stmt = statement(source, pair, comment)
            .unwrap_or_else(|| Stmt::Verbatim(source[start..pos].trim_end().to_owned()));
        items.push(Item::Stmt(stmt));
    }
    gap_items(&source[pos..], false, &mut items);
    Ok(render(&items))
}

enum Item {
    Blank,
    Comment(String),
    Stmt(Stmt),
}

enum Stmt {
    Laid { kind: Rule, lines: Vec<Line> },
    Verbatim(String),
}

struct Line {
    /// Text per column; empty where the line has nothing in it.
    cells: Vec<String>,
    comment: Option<String>,
}

/// The number of columns of a kind of statement.
fn columns(kind: Rule) -> usize {
    if kind == Rule::transition { 6 } else { 5 }
}

/// Spaces before column `c`.
fn separator(kind: Rule, c: usize) -> usize {
    if kind == Rule::transition && c >= 4 {
        2
    } else {
        1
    }
}

/// Where continuation lines start: under the event (transitions), under
/// the text (declarations).
fn indent_column(kind: Rule) -> usize {
    if kind == Rule::transition { 2 } else { 3 }
}

/// Blank lines and comment lines between statements. `first`: the text
/// before the first statement (no statement line to end).
fn gap_items(gap: &str, first: bool, items: &mut Vec<Item>) {
    let mut lines: Vec<&str> = gap.split('\n').collect();
    if !first {
        // The rest of the last statement's line (its comment is taken).
        lines.remove(0);
    }
    // The start of the next statement's line.
    lines.pop();
    for line in lines {
        let line = line.trim();
        if line.is_empty() {
            items.push(Item::Blank);
        } else {
            items.push(Item::Comment(line.to_owned()));
        }
    }
}

/// Where the statement's last token ends (its pair may take the white
/// space and comments after it). Strings and guard clauses end with a
/// quote or a bracket, which are not pairs of their own.
fn content_end(pair: &Pair<'_, Rule>) -> usize {
    if matches!(pair.as_rule(), Rule::string | Rule::guard_clause) {
        return pair.as_span().end();
    }
    pair.clone()
        .into_inner()
        .flatten()
        .filter(|p| {
            matches!(p.as_rule(), Rule::string | Rule::guard_clause)
                || p.clone().into_inner().next().is_none()
        })
        .map(|p| p.as_span().end())
        .max()
        .unwrap_or_else(|| pair.as_span().end())
}

/// A statement's parts: (start, end, column), in source order.
fn parts(source: &str, pair: &Pair<'_, Rule>) -> Option<Vec<(usize, usize, usize)>> {
    let mut parts = Vec::new();
    let kind = pair.as_rule();
    let mut inner = pair.clone().into_inner().peekable();
    if kind == Rule::transition {
        let sources = inner.next()?;
        let target = inner.next()?;
        parts.push((sources.as_span().start(), content_end(&sources), 0));
        let arrow = skip_gap(source, content_end(&sources))?;
        parts.push((arrow, content_end(&target), 1));
        let on = inner.next()?;
        let mut end = content_end(&inner.next()?);
        if let Some(g) = inner.next_if(|p| p.as_rule() == Rule::guard_clause) {
            end = content_end(&g);
        }
        parts.push((on.as_span().start(), end, 2));
        for p in inner {
            let column = match p.as_rule() {
                Rule::action_clause => 3,
                Rule::path_step => 4,
                _ => 5,
            };
            parts.push((p.as_span().start(), content_end(&p), column));
        }
        return Some(parts);
    }
    let mut named = false;
    for p in inner {
        let (s, e) = (p.as_span().start(), content_end(&p));
        match p.as_rule() {
            Rule::name if !named => {
                named = true;
                parts.push((s, e, 1));
            }
            Rule::initial => parts.push((s, e, 3)),
            Rule::internal
            | Rule::event_kind
            | Rule::line_style
            | Rule::marker
            | Rule::sends
            | Rule::receives => parts.push((s, e, 2)),
            Rule::name_list => {
                let last = parts.last()?.1;
                parts.push((skip_gap(source, last)?, e, 2));
            }
            Rule::text => {
                for t in p.into_inner() {
                    let column = if t.as_rule() == Rule::string { 3 } else { 4 };
                    parts.push((t.as_span().start(), content_end(&t), column));
                }
            }
            Rule::path_step => parts.push((s, e, 4)),
            _ => parts.push((s, e, 0)),
        }
    }
    Some(parts)
}

/// The first position at or after `from` that is neither white space nor
/// in a comment.
fn skip_gap(source: &str, mut from: usize) -> Option<usize> {
    loop {
        let rest = &source[from..];
        let trimmed = rest.trim_start();
        from += rest.len() - trimmed.len();
        if trimmed.starts_with("//") {
            from += trimmed.find('\n')?;
        } else {
            return Some(from);
        }
    }
}

/// Lays a statement out in lines, or `None` if it must be copied as written.
fn statement(source: &str, pair: &Pair<'_, Rule>, comment: Option<String>) -> Option<Stmt> {
    let kind = pair.as_rule();
    let parts = parts(source, pair)?;
    let blank = || Line {
        cells: vec![String::new(); columns(kind)],
        comment: None,
    };
    let mut lines = vec![blank()];
    let mut previous_end = None;
    for (start, end, column) in parts {
        if let Some(previous_end) = previous_end {
            let (comment, newline) = inner_gap(&source[previous_end..start])?;
            let line = lines.last_mut().expect("one line at least");
            line.comment = comment;
            if newline {
                lines.push(blank());
            } else if line.comment.is_some() {
                return None;
            }
        }
        previous_end = Some(end);
        let text = normalize(&source[start..end])?;
        let cell = &mut lines.last_mut().expect("one line at least").cells[column];
        if !cell.is_empty() {
            cell.push(' ');
        }
        cell.push_str(&text);
    }
    lines.last_mut().expect("one line at least").comment = comment;
    Some(Stmt::Laid { kind, lines })
}

/// The space between two parts of a statement: at most one comment and one
/// line break. Returns the comment and whether the line breaks.
fn inner_gap(gap: &str) -> Option<(Option<String>, bool)> {
    let newlines = gap.matches('\n').count();
    if newlines > 1 {
        return None;
    }
    let first = gap.split('\n').next().unwrap_or_default().trim();
    let comment = first.starts_with("//").then(|| first.to_owned());
    if !first.is_empty() && comment.is_none() {
        return None;
    }
    Some((comment, newlines == 1))
}

/// A part's tokens with canonical space between them: one space, none
/// before `,` `]` `)` nor after `[` `(` `!`. `None` if the part holds a line
/// break or a comment.
fn normalize(part: &str) -> Option<String> {
    let mut tokens: Vec<&str> = Vec::new();
    let bytes = part.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let start = i;
        if c == b'\n' || part[i..].starts_with("//") {
            return None;
        } else if c.is_ascii_whitespace() {
            i += 1;
            continue;
        } else if c == b'"' {
            i += 1;
            while i < bytes.len() && bytes[i] != b'"' {
                i += if bytes[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
        } else if c.is_ascii_alphanumeric() || c == b'_' {
            while i < bytes.len()
                && (bytes[i].is_ascii_alphanumeric()
                    || matches!(bytes[i], b'_' | b'.')
                    || (bytes[i] == b'-'
                        && bytes.get(i + 1).is_some_and(u8::is_ascii_alphanumeric)))
            {
                i += 1;
            }
        } else if part[i..].starts_with("->")
            || part[i..].starts_with("&&")
            || part[i..].starts_with("||")
        {
            i += 2;
        } else {
            i += part[i..].chars().next().map_or(1, char::len_utf8);
        }
        tokens.push(&part[start..i.min(part.len())]);
    }
    let mut out = String::new();
    for (n, token) in tokens.iter().enumerate() {
        let glued =
            n == 0 || matches!(*token, "," | "]" | ")") || matches!(tokens[n - 1], "[" | "(" | "!");
        if !glued {
            out.push(' ');
        }
        out.push_str(token);
    }
    Some(out)
}

fn width(text: &str) -> usize {
    text.chars().count()
}

fn render(items: &[Item]) -> String {
    let mut out = String::new();
    let mut i = 0;
    let mut pending_blank = false;
    while i < items.len() {
        match &items[i] {
            Item::Blank => {
                pending_blank = !out.is_empty();
                i += 1;
                continue;
            }
            _ if pending_blank => {
                out.push('\n');
                pending_blank = false;
            }
            _ => {}
        }
        match &items[i] {
            Item::Blank => unreachable!(),
            Item::Comment(c) => {
                out.push_str(c);
                out.push('\n');
                i += 1;
            }
            Item::Stmt(Stmt::Verbatim(text)) => {
                out.push_str(text);
                out.push('\n');
                i += 1;
            }
            Item::Stmt(Stmt::Laid { kind, .. }) => {
                // A block runs on over blank lines, not over comment lines.
                let mut block = Vec::new();
                let mut blank = false;
                while let Some(item) = items.get(i) {
                    match item {
                        Item::Blank => blank = true,
                        Item::Stmt(Stmt::Laid { kind: k, lines }) if k == kind => {
                            block.push((blank, lines));
                            blank = false;
                        }
                        _ => break,
                    }
                    i += 1;
                }
                // Blank lines after the block are the next item's.
                while i > 0 && matches!(items[i - 1], Item::Blank) {
                    i -= 1;
                }
                render_block(*kind, &block, &mut out);
            }
        }
    }
    out
}

fn render_block(kind: Rule, block: &[(bool, &Vec<Line>)], out: &mut String) {
    let n = columns(kind);
    let mut widths = vec![0; n];
    for (_, lines) in block {
        for (c, cell) in lines[0].cells.iter().enumerate() {
            widths[c] = widths[c].max(width(cell));
        }
    }
    let mut starts = vec![0; n];
    let mut at = 0;
    for c in 0..n {
        if widths[c] > 0 {
            if at > 0 {
                at += separator(kind, c);
            }
            starts[c] = at;
            at += widths[c];
        } else {
            starts[c] = at + usize::from(at > 0);
        }
    }
    let firsts: Vec<String> = block
        .iter()
        .map(|(_, lines)| aligned(kind, &lines[0], &starts))
        .collect();
    let comment_at = block
        .iter()
        .zip(&firsts)
        .filter(|((_, lines), _)| lines[0].comment.is_some())
        .map(|(_, text)| width(text) + 2)
        .max()
        .unwrap_or(0);
    for ((blank, lines), first) in block.iter().zip(firsts) {
        if *blank {
            out.push('\n');
        }
        push_line(out, first, lines[0].comment.as_deref(), comment_at);
        for line in &lines[1..] {
            let mut text = " ".repeat(starts[indent_column(kind)]);
            let cells: Vec<&str> = line
                .cells
                .iter()
                .map(String::as_str)
                .filter(|c| !c.is_empty())
                .collect();
            text.push_str(&cells.join(" "));
            let at = width(&text) + 2;
            push_line(out, text, line.comment.as_deref(), at);
        }
    }
}

/// The first line of a statement, each cell at its column's start.
fn aligned(kind: Rule, line: &Line, starts: &[usize]) -> String {
    let mut text = String::new();
    for (c, cell) in line.cells.iter().enumerate() {
        if cell.is_empty() {
            continue;
        }
        if !text.is_empty() {
            let pad = starts[c]
                .saturating_sub(width(&text))
                .max(separator(kind, c));
            text.push_str(&" ".repeat(pad));
        }
        text.push_str(cell);
    }
    text
}

fn push_line(out: &mut String, mut text: String, comment: Option<&str>, at: usize) {
    if let Some(comment) = comment {
        if text.trim().is_empty() {
            text.clear();
        } else {
            let pad = at.saturating_sub(width(&text)).max(2);
            text.push_str(&" ".repeat(pad));
        }
        text.push_str(comment);
    }
    out.push_str(text.trim_end());
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::format;

    const HEAD: &str = "machine M \"m\"\nstate A initial \"a\"\nstate B \"b\"\nevent go call \"go\"\nevent stop call \"stop\"\naction x \"x\"\naction yy internal \"y\"\nguard g \"g\"\n";

    fn body(src: &str) -> String {
        let formatted = format(&format!("{HEAD}\n{src}")).unwrap();
        let head = format(HEAD).unwrap();
        formatted
            .strip_prefix(&format!("{head}\n"))
            .unwrap()
            .to_owned()
    }

    #[test]
    fn transitions_align_in_columns_across_blank_lines() {
        let got = body(
            "A -> B on go / x client 1 rfc 3.1\nB->same on stop[ !g ]/yy ,x   rfc 3.10.1\n\n\n\nany -> A on stop\n",
        );
        assert_eq!(
            got,
            "A   -> B    on go        / x      client 1  rfc 3.1\n\
             B   -> same on stop [!g] / yy, x            rfc 3.10.1\n\
             \n\
             any -> A    on stop\n"
        );
    }

    #[test]
    fn declarations_align_and_a_comment_line_ends_a_block() {
        let got = format("machine M \"m\"\nstate   A initial \"a\" zh \"甲\"\n// B\nstate B \"b\"\nstate LONG \"l\"\n").unwrap();
        assert_eq!(
            got,
            "machine M \"m\"\nstate A initial \"a\" zh \"甲\"\n// B\nstate B    \"b\"\nstate LONG \"l\"\n"
        );
    }

    #[test]
    fn every_comment_is_kept_and_trailing_ones_align() {
        let src = "  // head\n\n\nmachine M \"m\" // title\nstate A initial \"a\"   //  a\nstate BBBB \"b\" // b\n   // own line\nevent go call \"go\"\nA -> A on go\n// end\n";
        let got = format(src).unwrap();
        assert_eq!(
            got,
            "// head\n\nmachine M \"m\"  // title\nstate A    initial \"a\"  //  a\nstate BBBB \"b\"          // b\n// own line\nevent go call \"go\"\nA -> A on go\n// end\n"
        );
    }

    #[test]
    fn continuation_lines_stay_indented_under_the_event() {
        let got =
            body("A -> B on go / x   // why\n   label \"L\" zh \"l\"  // more\nB -> A on stop\n");
        assert_eq!(
            got,
            "A -> B on go   / x  // why\n       label \"L\" zh \"l\"  // more\nB -> A on stop\n"
        );
    }

    #[test]
    fn a_line_break_inside_a_clause_is_kept_as_written() {
        let src = "A -> B on go / x,\n      yy\nB -> A on stop\n";
        assert_eq!(body(src), src);
    }

    #[test]
    fn statements_on_one_line_are_split() {
        assert_eq!(
            format("machine M \"m\" state A initial \"a\"").unwrap(),
            "machine M \"m\"\nstate A initial \"a\"\n"
        );
    }

    #[test]
    fn a_spec_that_does_not_parse_is_not_formatted() {
        assert!(format("machine M \"m\"\nstate A").is_err());
    }
}
