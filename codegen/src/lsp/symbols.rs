//! The document outline: the machine, and under it every declaration with
//! the range of its statement.

use lsp_types::{DocumentSymbol, SymbolKind};

use crate::syntax::{Decl, Name, Span, SyntaxTree};

use super::hover::declared_name;
use super::index::Kind;
use super::position::LineMap;

/// The outline of `tree`: one symbol for the machine holding the others.
pub fn outline(tree: &SyntaxTree, source: &str, lines: &LineMap) -> Vec<DocumentSymbol> {
    let children = tree
        .decls
        .iter()
        .filter_map(|d| {
            let (kind, _) = declared_name(d)?;
            let name = decl_name(d)?;
            let end = match d {
                Decl::Group { members, .. } => members.last().map_or(name.span.end, |m| m.span.end),
                _ => name.span.end,
            };
            let range = statement_span(source, kind, &name.span, end);
            Some(symbol(name, detail(d), kind, &range, source, lines, None))
        })
        .collect();
    let whole = 0..source.len();
    vec![symbol(
        &tree.machine,
        Some(tree.title.en.clone()),
        Kind::Machine,
        &whole,
        source,
        lines,
        Some(children),
    )]
}

fn decl_name(d: &Decl) -> Option<&Name> {
    match d {
        Decl::State { name, .. }
        | Decl::Event { name, .. }
        | Decl::Guard { name, .. }
        | Decl::Action { name, .. }
        | Decl::Message { name, .. }
        | Decl::Path { name, .. }
        | Decl::Group { name, .. } => Some(name),
        Decl::Transition(_) => None,
    }
}

fn detail(d: &Decl) -> Option<String> {
    match d {
        Decl::State { text, .. }
        | Decl::Event { text, .. }
        | Decl::Guard { text, .. }
        | Decl::Action { text, .. }
        | Decl::Message { text, .. }
        | Decl::Path { text, .. } => Some(text.en.clone()),
        Decl::Group { members, .. } => Some(
            members
                .iter()
                .map(|m| m.text.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        ),
        Decl::Transition(_) => None,
    }
}

/// From the declaring keyword (when it stands right before the name) to
/// the end of the line where the statement's last name stands.
fn statement_span(source: &str, kind: Kind, name: &Span, last: usize) -> Span {
    let before = source.get(..name.start).unwrap_or("").trim_end();
    let start = before
        .strip_suffix(kind.keyword())
        .map_or(name.start, str::len);
    let rest = source.get(last..).unwrap_or("");
    let line_end = last + rest.find('\n').unwrap_or(rest.len());
    let end = source
        .get(..line_end)
        .map_or(line_end, |s| s.trim_end().len())
        .max(last);
    start..end
}

fn symbol_kind(kind: Kind) -> SymbolKind {
    match kind {
        Kind::Machine => SymbolKind::CLASS,
        Kind::State => SymbolKind::ENUM_MEMBER,
        Kind::Group => SymbolKind::NAMESPACE,
        Kind::Event => SymbolKind::EVENT,
        Kind::Guard => SymbolKind::BOOLEAN,
        Kind::Action => SymbolKind::FUNCTION,
        Kind::Message => SymbolKind::STRUCT,
        Kind::Path => SymbolKind::ARRAY,
    }
}

#[allow(deprecated)] // `DocumentSymbol::deprecated` must be written, as `None`.
fn symbol(
    name: &Name,
    detail: Option<String>,
    kind: Kind,
    range: &Span,
    source: &str,
    lines: &LineMap,
    children: Option<Vec<DocumentSymbol>>,
) -> DocumentSymbol {
    DocumentSymbol {
        name: name.text.clone(),
        detail,
        kind: symbol_kind(kind),
        tags: None,
        deprecated: None,
        range: lines.range(source, range),
        selection_range: lines.range(source, &name.span),
        children,
    }
}
