//! The build-script front end.
//!
//! ```text
//! // build.rs
//! fn main() {
//!     fsm_codegen::rust::Builder::new("tcp.fsm").build().unwrap();
//! }
//!
//! // src/lib.rs
//! pub mod tcp {
//!     include!(concat!(env!("OUT_DIR"), "/tcp.rs"));
//! }
//! ```

use std::fmt;
use std::path::PathBuf;

use crate::LoadError;

use super::expand::load_as;
use super::{RustOptions, TableLayout, Vocabulary, format, generate};

/// Generates a spec's Rust into `OUT_DIR` from a build script.
#[derive(Clone, Debug)]
pub struct Builder {
    spec: PathBuf,
    options: RustOptions,
    out_file: Option<PathBuf>,
    manifest_dir: Option<PathBuf>,
    out_dir: Option<PathBuf>,
    cargo_output: bool,
}

/// Why [`Builder::build`] failed.
#[derive(Debug)]
pub enum BuildError {
    /// An environment variable Cargo sets for build scripts is missing (not
    /// run by Cargo? then set the directory on the builder).
    MissingEnv(&'static str),
    /// The spec could not be read, or has errors (already printed).
    Load(LoadError),
    /// The output could not be written.
    Write {
        /// The output file.
        path: PathBuf,
        /// What the system said.
        error: std::io::Error,
    },
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::MissingEnv(var) => write!(
                f,
                "{var} is not set: run from a build script, or tell the Builder the directory"
            ),
            BuildError::Load(LoadError::Rejected(r)) => {
                let n = r.errors().count();
                write!(
                    f,
                    "{}: {n} error{} found",
                    r.file_name,
                    if n == 1 { "" } else { "s" }
                )
            }
            BuildError::Load(e) => e.fmt(f),
            BuildError::Write { path, error } => write!(f, "{}: {error}", path.display()),
        }
    }
}

impl std::error::Error for BuildError {}

impl Builder {
    /// A builder for the spec at `spec`, relative to `CARGO_MANIFEST_DIR`.
    pub fn new(spec: impl Into<PathBuf>) -> Builder {
        Builder {
            spec: spec.into(),
            options: RustOptions::default(),
            out_file: None,
            manifest_dir: None,
            out_dir: None,
            cargo_output: true,
        }
    }

    /// Binds the spec to a runtime's vocabulary.
    pub fn vocabulary(mut self, vocabulary: Vocabulary) -> Builder {
        self.options.vocabulary = Some(vocabulary);
        self
    }

    /// Sets every generation option at once.
    pub fn options(mut self, options: RustOptions) -> Builder {
        self.options = options;
        self
    }

    /// Forces a dispatch-table layout.
    pub fn layout(mut self, layout: TableLayout) -> Builder {
        self.options.layout = Some(layout);
        self
    }

    /// The output's file name in `OUT_DIR`; by default the spec's stem with
    /// `.rs` (`tcp.fsm` gives `tcp.rs`).
    pub fn out_file(mut self, name: impl Into<PathBuf>) -> Builder {
        self.out_file = Some(name.into());
        self
    }

    /// The directory the spec's path is relative to, instead of
    /// `CARGO_MANIFEST_DIR`.
    pub fn manifest_dir(mut self, dir: impl Into<PathBuf>) -> Builder {
        self.manifest_dir = Some(dir.into());
        self
    }

    /// The directory to write to, instead of `OUT_DIR`.
    pub fn out_dir(mut self, dir: impl Into<PathBuf>) -> Builder {
        self.out_dir = Some(dir.into());
        self
    }

    /// Whether to print `cargo:` instructions (`rerun-if-changed`,
    /// `warning`); on by default.
    pub fn cargo_output(mut self, on: bool) -> Builder {
        self.cargo_output = on;
        self
    }

    /// Generates the code and writes it (only if it changed, so that an
    /// unchanged spec does not rebuild the crate). Returns the file
    /// written. On spec errors, prints the diagnostics (`file:line:col`,
    /// source line, caret) to standard error and each line as a
    /// `cargo:warning`, and fails.
    pub fn build(self) -> Result<PathBuf, BuildError> {
        let manifest_dir = dir_or_env(self.manifest_dir.clone(), "CARGO_MANIFEST_DIR")?;
        let out_dir = dir_or_env(self.out_dir.clone(), "OUT_DIR")?;
        let spec_path = manifest_dir.join(&self.spec);
        if self.cargo_output {
            println!("cargo:rerun-if-changed={}", spec_path.display());
        }
        let name = self.spec.display().to_string();
        let spec = match load_as(&spec_path, &name) {
            Ok(spec) => spec,
            Err(LoadError::Rejected(r)) => {
                self.report(&r.render());
                return Err(BuildError::Load(LoadError::Rejected(r)));
            }
            Err(e) => {
                self.report(&e.to_string());
                return Err(BuildError::Load(e));
            }
        };
        if self.cargo_output {
            for w in &spec.warnings {
                println!(
                    "cargo:warning={}",
                    w.render_short(&spec.file_name, &spec.source).trim_end()
                );
            }
        }
        let tokens = match generate(&spec, &self.options) {
            Ok(t) => t,
            Err(r) => {
                self.report(&r.render());
                return Err(BuildError::Load(LoadError::Rejected(r)));
            }
        };
        let code = format(tokens, &spec.file_name);
        let out_file = self.out_file.clone().unwrap_or_else(|| {
            let stem = self
                .spec
                .file_stem()
                .map_or_else(|| "fsm".into(), |s| s.to_owned());
            PathBuf::from(stem).with_extension("rs")
        });
        let path = out_dir.join(out_file);
        if std::fs::read_to_string(&path).ok().as_deref() != Some(code.as_str()) {
            std::fs::write(&path, code).map_err(|error| BuildError::Write {
                path: path.clone(),
                error,
            })?;
        }
        Ok(path)
    }

    fn report(&self, text: &str) {
        eprint!("{text}");
        if self.cargo_output {
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                println!("cargo:warning={line}");
            }
        }
    }
}

fn dir_or_env(dir: Option<PathBuf>, var: &'static str) -> Result<PathBuf, BuildError> {
    match dir {
        Some(d) => Ok(d),
        None => std::env::var_os(var)
            .map(PathBuf::from)
            .ok_or(BuildError::MissingEnv(var)),
    }
}
