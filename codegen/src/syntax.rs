//! Parsing: source text to a syntax tree that still holds names as written,
//! each with its byte span. Name resolution happens in [`crate::model`].

use std::ops::Range;

use pest::Parser as _;
use pest::error::{ErrorVariant, InputLocation};
use pest::iterators::Pair;

use crate::diagnostic::Diagnostic;
use crate::guard::GuardExpr;

/// A byte range in the source text.
pub type Span = Range<usize>;

mod grammar {
    #![allow(missing_docs)]
    #[derive(pest_derive::Parser)]
    #[grammar = "grammar.pest"]
    pub(crate) struct Grammar;
}
pub(crate) use grammar::{Grammar, Rule};

/// A name as written, with where it was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Name {
    /// The name itself.
    pub text: String,
    /// Where it stands in the source.
    pub span: Span,
}

/// An English text with its translations, keyed by language tag (`zh`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Text {
    /// The English text.
    pub en: String,
    /// `(language, text)` pairs in source order.
    pub translations: Vec<(String, String)>,
}

impl Text {
    /// The text in `lang`, falling back to English.
    pub fn get(&self, lang: &str) -> &str {
        self.translated(lang).unwrap_or(&self.en)
    }

    /// The text in `lang` if the spec translates it (`en` always answers).
    pub fn translated(&self, lang: &str) -> Option<&str> {
        if lang == "en" {
            return Some(&self.en);
        }
        self.translations
            .iter()
            .find(|(l, _)| l == lang)
            .map(|(_, t)| t.as_str())
    }
}

/// `client 3`: a step of a typical path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathStepSyntax {
    /// The path's name.
    pub path: Name,
    /// The step number.
    pub step: u32,
    /// Where the number stands.
    pub step_span: Span,
}

/// The kind of an event, which the runtime binds to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventKind {
    /// A call from the application (OPEN, SEND, CLOSE, ABORT).
    Call,
    /// A segment arriving from the network.
    Segment,
    /// A timer expiring.
    Timer,
}

impl EventKind {
    /// The keyword that declares it.
    pub fn keyword(self) -> &'static str {
        match self {
            EventKind::Call => "call",
            EventKind::Segment => "segment",
            EventKind::Timer => "timer",
        }
    }
}

/// How a path's arrows are drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LineStyle {
    /// Bold solid arrows.
    Solid,
    /// Bold dashed arrows.
    Dashed,
}

/// How a path's step numbers are drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Marker {
    /// ① ② ③ …
    Circled,
    /// A number in a box.
    Boxed,
}

/// One declaration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decl {
    /// `state NAME [initial] "description" … path steps`
    State {
        /// The state's name.
        name: Name,
        /// Where `initial` stands, if it does.
        initial: Option<Span>,
        /// Description and translations.
        text: Text,
        /// Typical-path steps that start here.
        steps: Vec<PathStepSyntax>,
    },
    /// `event NAME KIND [on MESSAGE, …] "label"`
    Event {
        /// The event's name.
        name: Name,
        /// What raises it.
        kind: EventKind,
        /// The messages whose arrival raises it (`on …`), if any.
        on: Vec<Name>,
        /// Label and translations.
        text: Text,
    },
    /// `guard NAME "label"`
    Guard {
        /// The guard's name.
        name: Name,
        /// Label and translations.
        text: Text,
    },
    /// `action NAME [internal] [sends MESSAGE] "label"`
    Action {
        /// The action's name.
        name: Name,
        /// Internal actions are left out of drawn labels.
        internal: bool,
        /// The message it puts on the wire (`sends …`), if any.
        sends: Option<Name>,
        /// Label and translations.
        text: Text,
    },
    /// `message NAME "label"`
    Message {
        /// The message's name.
        name: Name,
        /// Label and translations.
        text: Text,
    },
    /// `path NAME solid|dashed circled|boxed "label"`
    Path {
        /// The path's name.
        name: Name,
        /// How its arrows are drawn.
        style: LineStyle,
        /// How its step numbers are drawn.
        marker: Marker,
        /// Label and translations.
        text: Text,
    },
    /// `group NAME = STATE, …`
    Group {
        /// The group's name.
        name: Name,
        /// Its member states (or groups).
        members: Vec<Name>,
    },
    /// `SOURCES -> TARGET on EVENT [GUARD] / ACTIONS notes…`
    Transition(TransitionSyntax),
}

/// Where a transition starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SourcesSyntax {
    /// `any`: every state.
    Any(Span),
    /// States and groups by name.
    Names(Vec<Name>),
}

/// A transition as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransitionSyntax {
    /// The whole statement.
    pub span: Span,
    /// Source states.
    pub sources: SourcesSyntax,
    /// Target state; `None` for `same`.
    pub target: Option<Name>,
    /// Where the target (or `same`) stands.
    pub target_span: Span,
    /// The event.
    pub event: Name,
    /// The condition, with its span.
    pub guard: Option<(GuardExpr<Name>, Span)>,
    /// Actions in order.
    pub actions: Vec<Name>,
    /// Typical-path steps.
    pub steps: Vec<PathStepSyntax>,
    /// `rfc 3.10.7.4`
    pub rfc: Option<String>,
    /// `label "…"` overrides the drawn label; translations apply to it.
    pub label: Option<Text>,
}

/// A parsed file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyntaxTree {
    /// `machine NAME`
    pub machine: Name,
    /// The machine's title.
    pub title: Text,
    /// Declarations in source order.
    pub decls: Vec<Decl>,
}

/// Parses `source`. On a syntax error, returns one diagnostic at its position.
pub fn parse(source: &str) -> Result<SyntaxTree, Diagnostic> {
    let mut pairs = Grammar::parse(Rule::file, source).map_err(|e| syntax_error(source, e))?;
    let file = pairs.next().expect("the file rule matched");
    let mut inner = file.into_inner();
    let machine = inner.next().expect("a file starts with its machine");
    let mut m = machine.into_inner();
    let _kw = m.next();
    let machine_name = name(m.next().expect("machine name"));
    let title = text(m.next().expect("machine title"));
    let decls = inner
        .filter(|p| p.as_rule() != Rule::EOI)
        .map(decl)
        .collect();
    Ok(SyntaxTree {
        machine: machine_name,
        title,
        decls,
    })
}

fn span(pair: &Pair<'_, Rule>) -> Span {
    let s = pair.as_span();
    s.start()..s.end()
}

/// The pair's span without what the grammar skipped after its last token
/// (white space and comments before an optional part that is absent): it
/// ends where its last token (a pair with no inner pairs) ends.
fn content_span(pair: &Pair<'_, Rule>) -> Span {
    let start = pair.as_span().start();
    let end = pair
        .clone()
        .into_inner()
        .flatten()
        .filter(|p| p.clone().into_inner().next().is_none())
        .map(|p| p.as_span().end())
        .max()
        .unwrap_or_else(|| pair.as_span().end());
    start..end
}

fn name(pair: Pair<'_, Rule>) -> Name {
    Name {
        text: pair.as_str().to_owned(),
        span: span(&pair),
    }
}

fn string(pair: Pair<'_, Rule>) -> String {
    let body = pair
        .into_inner()
        .next()
        .expect("a string has a body")
        .as_str();
    let mut out = String::with_capacity(body.len());
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

fn text(pair: Pair<'_, Rule>) -> Text {
    let mut inner = pair.into_inner();
    let en = string(inner.next().expect("a text starts with a string"));
    let translations = inner.map(translation).collect();
    Text { en, translations }
}

fn translation(pair: Pair<'_, Rule>) -> (String, String) {
    let mut inner = pair.into_inner();
    let lang = inner.next().expect("language").as_str().to_owned();
    (lang, string(inner.next().expect("translated string")))
}

fn path_step(pair: Pair<'_, Rule>) -> PathStepSyntax {
    let mut inner = pair.into_inner();
    let path = name(inner.next().expect("path name"));
    let number = inner.next().expect("step number");
    PathStepSyntax {
        path,
        // The grammar admits only digits; an absurdly long number saturates
        // and is then reported by the path check.
        step: number.as_str().parse().unwrap_or(u32::MAX),
        step_span: span(&number),
    }
}

fn name_list(pair: Pair<'_, Rule>) -> Vec<Name> {
    pair.into_inner().map(name).collect()
}

fn decl(pair: Pair<'_, Rule>) -> Decl {
    let rule = pair.as_rule();
    if rule == Rule::transition {
        return Decl::Transition(transition(pair));
    }
    let mut inner = pair.into_inner().skip(1); // the keyword
    let n = name(inner.next().expect("declared name"));
    match rule {
        Rule::state => {
            let mut initial = None;
            let mut desc = Text::default();
            let mut steps = Vec::new();
            for p in inner {
                match p.as_rule() {
                    Rule::initial => initial = Some(span(&p)),
                    Rule::text => desc = text(p),
                    Rule::path_step => steps.push(path_step(p)),
                    other => unreachable!("state part {other:?}"),
                }
            }
            Decl::State {
                name: n,
                initial,
                text: desc,
                steps,
            }
        }
        Rule::event => {
            let kind = match inner.next().expect("event kind").as_str() {
                "call" => EventKind::Call,
                "segment" => EventKind::Segment,
                _ => EventKind::Timer,
            };
            let mut next = inner.next().expect("event label");
            let mut on = Vec::new();
            if next.as_rule() == Rule::receives {
                let list = next.into_inner().nth(1).expect("received messages");
                on = name_list(list);
                next = inner.next().expect("event label");
            }
            Decl::Event {
                name: n,
                kind,
                on,
                text: text(next),
            }
        }
        Rule::guard => Decl::Guard {
            name: n,
            text: text(inner.next().expect("guard label")),
        },
        Rule::action => {
            let mut next = inner.next().expect("action label");
            let internal = next.as_rule() == Rule::internal;
            if internal {
                next = inner.next().expect("action label");
            }
            let mut sends = None;
            if next.as_rule() == Rule::sends {
                sends = Some(name(next.into_inner().nth(1).expect("sent message")));
                next = inner.next().expect("action label");
            }
            Decl::Action {
                name: n,
                internal,
                sends,
                text: text(next),
            }
        }
        Rule::message => Decl::Message {
            name: n,
            text: text(inner.next().expect("message label")),
        },
        Rule::path => {
            let style = match inner.next().expect("line style").as_str() {
                "solid" => LineStyle::Solid,
                _ => LineStyle::Dashed,
            };
            let marker = match inner.next().expect("marker").as_str() {
                "circled" => Marker::Circled,
                _ => Marker::Boxed,
            };
            Decl::Path {
                name: n,
                style,
                marker,
                text: text(inner.next().expect("path label")),
            }
        }
        Rule::group => Decl::Group {
            name: n,
            members: name_list(inner.next().expect("group members")),
        },
        other => unreachable!("statement {other:?}"),
    }
}

fn transition(pair: Pair<'_, Rule>) -> TransitionSyntax {
    let whole = content_span(&pair);
    let mut inner = pair.into_inner();
    let sources_pair = inner.next().expect("sources");
    let src = sources_pair.into_inner().next().expect("sources body");
    let sources = match src.as_rule() {
        Rule::kw_any => SourcesSyntax::Any(span(&src)),
        _ => SourcesSyntax::Names(name_list(src)),
    };
    let target_pair = inner
        .next()
        .expect("target")
        .into_inner()
        .next()
        .expect("target body");
    let target_span = span(&target_pair);
    let target = match target_pair.as_rule() {
        Rule::kw_same => None,
        _ => Some(name(target_pair)),
    };
    let _on = inner.next();
    let event = name(inner.next().expect("event"));
    let mut t = TransitionSyntax {
        span: whole,
        sources,
        target,
        target_span,
        event,
        guard: None,
        actions: Vec::new(),
        steps: Vec::new(),
        rfc: None,
        label: None,
    };
    for p in inner {
        match p.as_rule() {
            Rule::guard_clause => {
                let s = span(&p);
                let expr = p.into_inner().next().expect("guard expression");
                t.guard = Some((guard_expr(expr), s));
            }
            Rule::action_clause => {
                let body = p.into_inner().next().expect("action list");
                if body.as_rule() == Rule::name_list {
                    t.actions = name_list(body);
                }
            }
            Rule::path_step => t.steps.push(path_step(p)),
            Rule::rfc_ref => {
                // `3.10.1`, or `5681 3.2` with the RFC's number.
                let parts: Vec<&str> = p.into_inner().skip(1).map(|q| q.as_str()).collect();
                t.rfc = Some(parts.join(" "));
            }
            Rule::label => {
                let label = text(p.into_inner().nth(1).expect("label text"));
                let mut merged = label;
                if let Some(old) = t.label.take() {
                    merged.translations.extend(old.translations);
                }
                t.label = Some(merged);
            }
            Rule::translation => {
                let (lang, s) = translation(p);
                t.label
                    .get_or_insert_with(Text::default)
                    .translations
                    .push((lang, s));
            }
            other => unreachable!("transition part {other:?}"),
        }
    }
    t
}

fn guard_expr(pair: Pair<'_, Rule>) -> GuardExpr<Name> {
    match pair.as_rule() {
        Rule::guard_expr => fold(pair, GuardExpr::Or),
        Rule::guard_and => fold(pair, GuardExpr::And),
        Rule::guard_not => {
            let mut negations = 0;
            let mut atom = None;
            for p in pair.into_inner() {
                match p.as_rule() {
                    Rule::negation => negations += 1,
                    _ => atom = Some(guard_expr(p)),
                }
            }
            let mut e = atom.expect("a negation applies to something");
            for _ in 0..negations {
                e = GuardExpr::Not(Box::new(e));
            }
            e
        }
        Rule::name => GuardExpr::Var(name(pair)),
        other => unreachable!("guard part {other:?}"),
    }
}

/// Builds a binary guard node (`GuardExpr::And` or `GuardExpr::Or`).
type Combine = fn(Box<GuardExpr<Name>>, Box<GuardExpr<Name>>) -> GuardExpr<Name>;

fn fold(pair: Pair<'_, Rule>, make: Combine) -> GuardExpr<Name> {
    let mut parts = pair.into_inner().map(guard_expr);
    let first = parts.next().expect("at least one operand");
    parts.fold(first, |acc, e| make(Box::new(acc), Box::new(e)))
}

/// The language's reserved words, which cannot be names.
pub(crate) const KEYWORDS: &[&str] = &[
    "machine", "state", "event", "guard", "action", "message", "path", "group", "initial", "on",
    "sends", "any", "same", "rfc", "label",
];

/// Characters that can start or continue a token of the language.
fn in_language(c: char) -> bool {
    c.is_ascii_alphanumeric() || c.is_whitespace() || "_\"-<>[]()!&|/,=.".contains(c)
}

/// Turns a pest error into a diagnostic that says what was expected in
/// words, where it was expected: an unterminated string, a reserved word
/// used as a name, a character the language does not have, and a
/// statement cut short at the end of its line each get their own message.
fn syntax_error(source: &str, e: pest::error::Error<Rule>) -> Diagnostic {
    let at = match e.location {
        InputLocation::Pos(p) => p..p,
        InputLocation::Span((a, b)) => a..b,
    };
    let mut wanted: Vec<&str> = match &e.variant {
        ErrorVariant::ParsingError { positives, .. } => {
            positives.iter().filter_map(|r| describe(*r)).collect()
        }
        ErrorVariant::CustomError { message } => {
            return Diagnostic::error(message.clone()).with_primary(at, "here");
        }
    };
    wanted.sort_unstable();
    wanted.dedup();
    let rest = &source[at.start..];
    let line_end = at.start + rest.find('\n').unwrap_or(rest.len());

    // An opening quote with no closing one on its line.
    if rest.starts_with('"') && !closes(&source[at.start + 1..line_end]) {
        return Diagnostic::error("unterminated string")
            .with_primary(
                at.start..line_end.max(at.start + 1),
                "this string has no closing `\"` before the end of the line",
            )
            .with_note("help: close it with `\"` (a string cannot span lines; write `\\n` for a line break)");
    }
    // A reserved word where a name was expected.
    let word: String = rest
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    if KEYWORDS.contains(&word.as_str()) && wanted.iter().any(|w| w.contains("name")) {
        return Diagnostic::error(format!("`{word}` is a reserved word, not a name"))
            .with_primary(at.start..at.start + word.len(), "reserved")
            .with_note(format!(
                "help: pick another name; the reserved words are {}",
                KEYWORDS
                    .iter()
                    .map(|k| format!("`{k}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
    }
    // A character that has no place in the language.
    if let Some(c) = rest.chars().next().filter(|&c| !in_language(c)) {
        let d = Diagnostic::error(format!("unexpected character `{c}`")).with_primary(
            at.start..at.start + c.len_utf8(),
            "not part of the language",
        );
        return match c {
            ';' => {
                d.with_note("help: a statement ends with its line; nothing separates statements")
            }
            _ => d.with_note(format!("help: expected {}", join_or(&wanted))),
        };
    }
    // Nothing more on the line where the statement stopped: say so there,
    // not at the start of the next statement.
    let before = source[..at.start].trim_end();
    let skipped = &source[before.len()..at.start];
    if skipped.contains('\n') && !before.is_empty() && !wanted.is_empty() {
        let prev: String = before
            .chars()
            .rev()
            .take_while(|c| !c.is_whitespace())
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        let is_lang = (2..=3).contains(&prev.len()) && prev.chars().all(|c| c.is_ascii_lowercase());
        if is_lang && wanted.contains(&"a quoted string") {
            wanted = vec!["a quoted string"];
        }
        let end = before.len();
        return Diagnostic::error(format!("expected {} after `{prev}`", join_or(&wanted)))
            .with_primary(end..end, "the line ends here");
    }
    let message = match wanted.as_slice() {
        [] => "syntax error".to_owned(),
        _ => format!("expected {}", join_or(&wanted)),
    };
    Diagnostic::error(message).with_primary(at, "here")
}

/// Whether a string body (after its opening quote) closes on this text.
fn closes(body: &str) -> bool {
    let mut escaped = false;
    for c in body.chars() {
        match (escaped, c) {
            (true, _) => escaped = false,
            (false, '\\') => escaped = true,
            (false, '"') => return true,
            _ => {}
        }
    }
    false
}

/// `a, b or c`.
fn join_or(words: &[&str]) -> String {
    match words {
        [] => "something else".to_owned(),
        [one] => (*one).to_owned(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

fn describe(rule: Rule) -> Option<&'static str> {
    Some(match rule {
        Rule::EOI => "end of file",
        Rule::machine | Rule::kw_machine => "`machine NAME \"title\"` first",
        Rule::name | Rule::name_list => "a name",
        Rule::sources => "a state name",
        Rule::target => "a state name or `same`",
        Rule::text | Rule::string => "a quoted string",
        Rule::translation | Rule::lang => "a translation (`zh \"…\"`)",
        Rule::event_kind => "an event kind (`call`, `segment` or `timer`)",
        Rule::line_style => "a line style (`solid` or `dashed`)",
        Rule::marker => "a step marker (`circled` or `boxed`)",
        Rule::initial | Rule::kw_initial => "`initial`",
        Rule::internal => "`internal`",
        Rule::kw_on => "`on EVENT`",
        Rule::sends | Rule::kw_sends => "`sends MESSAGE`",
        Rule::receives => "`on MESSAGE, …`",
        Rule::guard_clause => "a guard (`[condition]`)",
        Rule::action_clause => "actions (`/ action, …`)",
        Rule::guard_expr | Rule::guard_and | Rule::guard_not => "a guard name",
        Rule::path_step | Rule::step_number => "a path step (`client 2`)",
        Rule::rfc_ref | Rule::section | Rule::rfc_number => {
            "an RFC section (`rfc 3.10.7`, or `rfc 5681 3.2`)"
        }
        Rule::label => "a label (`label \"…\"`)",
        Rule::state
        | Rule::event
        | Rule::guard
        | Rule::action
        | Rule::message
        | Rule::path
        | Rule::group
        | Rule::transition
        | Rule::kw_state
        | Rule::kw_event
        | Rule::kw_guard
        | Rule::kw_action
        | Rule::kw_message
        | Rule::kw_path
        | Rule::kw_group => "a declaration or a transition",
        _ => return None,
    })
}
