//! One diagnostic type for every problem in a spec, rendered the same way by
//! every front end: `file:line:col`, the source line and a caret.

use std::ops::Range;

use codespan_reporting::diagnostic::{Diagnostic as Report, Label as ReportLabel, LabelStyle};
use codespan_reporting::files::SimpleFile;
use codespan_reporting::term::{self, Config, DisplayStyle};

/// How bad a diagnostic is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Worth knowing; the spec is still usable.
    Warning,
    /// The spec cannot be used.
    Error,
}

/// A marked span of the source with a short message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Label {
    /// Byte range in the source.
    pub span: Range<usize>,
    /// Shown beside the caret.
    pub message: String,
    /// The primary label is the one the `file:line:col` names.
    pub primary: bool,
}

/// A problem found in a spec.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// One sentence, lower case, no final period.
    pub message: String,
    /// Places in the source; the first primary one locates the diagnostic.
    pub labels: Vec<Label>,
    /// Extra lines (`help: …`).
    pub notes: Vec<String>,
}

impl Diagnostic {
    /// An error with `message`.
    pub fn error(message: impl Into<String>) -> Self {
        Self::new(Severity::Error, message)
    }

    /// A warning with `message`.
    pub fn warning(message: impl Into<String>) -> Self {
        Self::new(Severity::Warning, message)
    }

    fn new(severity: Severity, message: impl Into<String>) -> Self {
        Diagnostic {
            severity,
            message: message.into(),
            labels: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// Marks the place the diagnostic is about.
    pub fn with_primary(mut self, span: Range<usize>, message: impl Into<String>) -> Self {
        self.labels.push(Label {
            span,
            message: message.into(),
            primary: true,
        });
        self
    }

    /// Marks a related place.
    pub fn with_secondary(mut self, span: Range<usize>, message: impl Into<String>) -> Self {
        self.labels.push(Label {
            span,
            message: message.into(),
            primary: false,
        });
        self
    }

    /// Adds a note line.
    pub fn with_note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(note.into());
        self
    }

    /// Whether this is an error.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// Where the diagnostic points: the start of its primary label.
    pub fn offset(&self) -> usize {
        self.labels
            .iter()
            .find(|l| l.primary)
            .or(self.labels.first())
            .map_or(0, |l| l.span.start)
    }

    /// `(line, column)` of [`Self::offset`], both counted from 1, columns in
    /// characters.
    pub fn line_col(&self, source: &str) -> (usize, usize) {
        line_col(source, self.offset())
    }

    /// Renders the diagnostic in full: message, `file:line:col`, the source
    /// lines with carets, notes. No colour.
    pub fn render(&self, file_name: &str, source: &str) -> String {
        self.render_with(file_name, source, DisplayStyle::Rich)
    }

    /// Renders one line: `file:line:col: error: message`.
    pub fn render_short(&self, file_name: &str, source: &str) -> String {
        self.render_with(file_name, source, DisplayStyle::Short)
    }

    fn render_with(&self, file_name: &str, source: &str, style: DisplayStyle) -> String {
        let file = SimpleFile::new(file_name, source);
        let config = Config {
            display_style: style,
            ..Config::default()
        };
        term::emit_into_string(&config, &file, &self.to_report(source.len()))
            .unwrap_or_else(|_| format!("{file_name}: {}\n", self.message))
    }

    /// Writes the rich rendering to standard error, in colour when it is a
    /// terminal.
    pub fn eprint(&self, file_name: &str, source: &str) {
        use codespan_reporting::term::termcolor::{ColorChoice, StandardStream};
        use std::io::IsTerminal as _;
        let file = SimpleFile::new(file_name, source);
        let choice = if std::io::stderr().is_terminal() {
            ColorChoice::Auto
        } else {
            ColorChoice::Never
        };
        let stream = StandardStream::stderr(choice);
        let mut lock = stream.lock();
        let report = self.to_report(source.len());
        if term::emit_to_write_style(&mut lock, &Config::default(), &file, &report).is_err() {
            eprintln!("{file_name}: {}", self.message);
        }
    }

    fn to_report(&self, len: usize) -> Report<()> {
        let report = match self.severity {
            Severity::Error => Report::error(),
            Severity::Warning => Report::warning(),
        };
        let clamp = |r: &Range<usize>| r.start.min(len)..r.end.min(len);
        report
            .with_message(&self.message)
            .with_labels(
                self.labels
                    .iter()
                    .map(|l| {
                        let style = if l.primary {
                            LabelStyle::Primary
                        } else {
                            LabelStyle::Secondary
                        };
                        ReportLabel::new(style, (), clamp(&l.span)).with_message(&l.message)
                    })
                    .collect(),
            )
            .with_notes(self.notes.clone())
    }
}

/// Line numbers of byte offsets, answered in O(log lines) after one pass
/// over the text (callers with many offsets use this, not [`line_of`]).
#[derive(Clone, Debug)]
pub struct LineIndex {
    /// Offset just past each newline.
    starts: Vec<usize>,
}

impl LineIndex {
    /// Indexes the lines of `source`.
    pub fn new(source: &str) -> Self {
        LineIndex {
            starts: source.match_indices('\n').map(|(i, _)| i + 1).collect(),
        }
    }

    /// The 1-based line of byte `offset`.
    pub fn line(&self, offset: usize) -> usize {
        self.starts.partition_point(|&s| s <= offset) + 1
    }
}

/// `(line, column)` of a byte offset, both from 1; columns count characters.
pub fn line_col(source: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(source.len());
    let before = source.get(..offset).unwrap_or(source);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let col = before[line_start..].chars().count() + 1;
    (line, col)
}

/// The 1-based line number of a byte offset.
pub fn line_of(source: &str, offset: usize) -> usize {
    line_col(source, offset).0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rich_rendering_names_file_line_col_and_marks_the_span() {
        let src = "machine M \"m\"\nstate A initial \"a\"\nA -> B on e\n";
        let at = src.find("B on").unwrap();
        let d = Diagnostic::error("unknown state `B`").with_primary(at..at + 1, "not declared");
        let text = d.render("m.fsm", src);
        assert!(text.contains("error: unknown state `B`"), "{text}");
        assert!(text.contains("m.fsm:3:6"), "{text}");
        assert!(text.contains("A -> B on e"), "{text}");
        assert!(text.contains('^'), "{text}");
    }

    #[test]
    fn short_rendering_is_one_line() {
        let src = "abc\ndef\n";
        let d = Diagnostic::warning("w").with_primary(5..6, "x");
        assert_eq!(
            d.render_short("f.fsm", src).trim_end(),
            "f.fsm:2:2: warning: w"
        );
    }

    #[test]
    fn line_index_agrees_with_line_of() {
        let src = "a\nbc\n\ndef\n";
        let index = LineIndex::new(src);
        for offset in 0..=src.len() {
            assert_eq!(index.line(offset), line_of(src, offset), "offset {offset}");
        }
    }

    #[test]
    fn columns_count_characters_not_bytes() {
        let src = "zh \"不存在\" X";
        let at = src.find('X').unwrap();
        assert_eq!(line_col(src, at), (1, 10));
    }
}
