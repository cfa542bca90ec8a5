//! The `.fsm` state-machine language and everything generated from it.
//!
//! A spec goes through one pipeline, whichever front end asks for it (the
//! `fsm!` macro, [`Builder`](rust::Builder) in a build script, the `fsm` CLI):
//!
//! ```text
//! source --syntax::parse--> SyntaxTree --model::resolve--> Model --check::check--> Spec
//!                                                                   |--> rust::generate
//!                                                                   |--> dot / mermaid / svg
//! ```
//!
//! Every problem is a [`Diagnostic`] that renders as `file:line:col`, the
//! source line and a caret.
//!
//! [`msc`] draws a run of two endpoints (an explorer's counterexample) as a
//! message sequence chart, in the figures' SVG style.
//!
//! ```
//! let spec = fsm_codegen::compile("door.fsm", r#"
//!     machine Door "a door"
//!     state OPEN initial "open"
//!     state SHUT "shut"
//!     event push call "push"
//!     event pull call "pull"
//!     OPEN -> SHUT on push
//!     SHUT -> OPEN on pull
//! "#).unwrap();
//! assert_eq!(spec.model.states.len(), 2);
//! ```
//!
//! # Features
//!
//! The defaults give the whole library and the `fsm` binary. Without them
//! (`default-features = false`, as the `fsm!` macro and the runtime's
//! loaded specs take it) the crate is the language, the checks, the
//! drawings and the Rust generator, and compiles neither clap nor
//! prettyplease nor syn's full syntax tree.
//!
//! - `cli`: the `fsm` binary (clap); takes `pretty`, `lsp` and `serve`.
//! - `lsp`: [`lsp`], the language server behind `fsm lsp` (lsp-server,
//!   lsp-types, serde_json).
//! - `serve`: [`serve`], the live figure behind `fsm serve` and `fsm play`
//!   (tiny_http, notify, serde_json).
//! - `pretty`: Rust formatted as a file (prettyplease):
//!   [`rust::format`], [`rust::generate_file`], [`rust::generate_file_with`]
//!   and [`rust::Builder`] for build scripts. [`rust::generate`] and the
//!   macro front end need nothing of it.
#![warn(missing_docs)]
#![deny(unsafe_code)]

pub mod check;
pub mod diagnostic;
pub mod dot;
pub mod explore;
pub mod figure;
pub mod fmt;
pub mod guard;
#[cfg(feature = "lsp")]
pub mod lsp;
pub mod mermaid;
pub mod model;
pub mod msc;
pub mod promela;
pub mod rust;
#[cfg(feature = "serve")]
pub mod serve;
pub mod stats;
pub mod svg;
pub mod syntax;
pub mod tour;

use std::fmt as std_fmt;
use std::path::{Path, PathBuf};

pub use diagnostic::{Diagnostic, Severity};
pub use model::Model;

/// A spec that parsed, resolved and passed every check (it may carry
/// warnings).
#[derive(Clone, Debug)]
pub struct Spec {
    /// The name diagnostics use for the file.
    pub file_name: String,
    /// The source text.
    pub source: String,
    /// The resolved model.
    pub model: Model,
    /// Warnings from the checks.
    pub warnings: Vec<Diagnostic>,
}

/// A spec with errors: every diagnostic found, errors and warnings, in
/// source order.
#[derive(Clone, Debug)]
pub struct Rejected {
    /// The name diagnostics use for the file.
    pub file_name: String,
    /// The source text.
    pub source: String,
    /// What was found, in source order.
    pub diagnostics: Vec<Diagnostic>,
}

impl Rejected {
    /// The errors alone.
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics.iter().filter(|d| d.is_error())
    }

    /// Every diagnostic rendered in full, without colour.
    pub fn render(&self) -> String {
        render_all(&self.diagnostics, &self.file_name, &self.source)
    }
}

impl std_fmt::Display for Rejected {
    fn fmt(&self, f: &mut std_fmt::Formatter<'_>) -> std_fmt::Result {
        f.write_str(&self.render())
    }
}

impl std::error::Error for Rejected {}

impl Spec {
    /// The warnings rendered in full, without colour.
    pub fn render_warnings(&self) -> String {
        render_all(&self.warnings, &self.file_name, &self.source)
    }
}

fn render_all(diags: &[Diagnostic], file_name: &str, source: &str) -> String {
    diags.iter().map(|d| d.render(file_name, source)).collect()
}

/// Parses, resolves and checks `source`; `file_name` is what diagnostics
/// call it.
pub fn compile(file_name: &str, source: &str) -> Result<Spec, Rejected> {
    let rejected = |diagnostics| Rejected {
        file_name: file_name.to_owned(),
        source: source.to_owned(),
        diagnostics,
    };
    let tree = syntax::parse(source).map_err(|d| rejected(vec![d]))?;
    let (model, mut diags) = model::resolve(&tree, source);
    let Some(model) = model else {
        diags.sort_by_key(Diagnostic::offset);
        return Err(rejected(diags));
    };
    diags.extend(check::check(&model, source));
    diags.sort_by_key(Diagnostic::offset);
    if diags.iter().any(Diagnostic::is_error) {
        return Err(rejected(diags));
    }
    Ok(Spec {
        file_name: file_name.to_owned(),
        source: source.to_owned(),
        model,
        warnings: diags,
    })
}

/// Why a spec file could not be used.
#[derive(Debug)]
pub enum LoadError {
    /// The file could not be read: missing, a directory, unreadable.
    Io {
        /// The path as given.
        path: PathBuf,
        /// What the system said.
        error: std::io::Error,
    },
    /// The file is not UTF-8.
    NotUtf8 {
        /// The path as given.
        path: PathBuf,
        /// Byte offset of the first invalid sequence.
        offset: usize,
        /// Its line and column (1-based; the column counts characters).
        line: usize,
        /// See `line`.
        column: usize,
        /// The first invalid byte.
        byte: u8,
    },
    /// The file holds nothing but white space and comments.
    Empty {
        /// The path as given.
        path: PathBuf,
    },
    /// The spec has errors.
    Rejected(Rejected),
}

impl std_fmt::Display for LoadError {
    fn fmt(&self, f: &mut std_fmt::Formatter<'_>) -> std_fmt::Result {
        match self {
            LoadError::Io { path, error } if path.is_dir() => {
                let _ = error;
                write!(f, "{}: is a directory, not a spec file", path.display())
            }
            LoadError::Io { path, error } => write!(f, "{}: {error}", path.display()),
            LoadError::NotUtf8 {
                path,
                offset,
                line,
                column,
                byte,
            } => write!(
                f,
                "{}:{line}:{column}: not UTF-8 text (invalid byte 0x{byte:02x} at offset {offset}); \
                 save the file as UTF-8",
                path.display()
            ),
            LoadError::Empty { path } => write!(
                f,
                "{}: empty spec (a spec starts with `machine NAME \"title\"`)",
                path.display()
            ),
            LoadError::Rejected(r) => f.write_str(&r.render()),
        }
    }
}

impl std::error::Error for LoadError {}

/// Reads and compiles a spec file. Diagnostics call it by `path` as given.
pub fn load(path: impl AsRef<Path>) -> Result<Spec, LoadError> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|error| LoadError::Io {
        path: path.to_owned(),
        error,
    })?;
    let source = String::from_utf8(bytes).map_err(|e| {
        let offset = e.utf8_error().valid_up_to();
        let bytes = e.as_bytes();
        // The valid prefix is text: count its lines and characters.
        let before = String::from_utf8_lossy(&bytes[..offset]);
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        LoadError::NotUtf8 {
            path: path.to_owned(),
            offset,
            line: before.matches('\n').count() + 1,
            column: before[line_start..].chars().count() + 1,
            byte: bytes[offset],
        }
    })?;
    if is_blank(&source) {
        return Err(LoadError::Empty {
            path: path.to_owned(),
        });
    }
    compile(&path.display().to_string(), &source).map_err(LoadError::Rejected)
}

/// Whether a source holds nothing but white space and `//` comments.
fn is_blank(source: &str) -> bool {
    source
        .lines()
        .map(str::trim)
        .all(|l| l.is_empty() || l.starts_with("//"))
}
