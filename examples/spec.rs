//! The `--spec FILE` option of the example programs: the machine read
//! from a spec file at run time instead of `tcp.fsm` compiled in.
//!
//! A program's body is generic over [`Machine`](fsm_runtime::vocab::Machine)
//! and takes the machine as a value, so one body serves both:
//!
//! ```
//! use std::path::PathBuf;
//! use std::process::ExitCode;
//! use fsm_runtime::vocab::Machine;
//!
//! fn run<M: Machine>(machine: M) -> ExitCode {
//!     println!("{} starts in {}", machine.name(), machine.initial());
//!     ExitCode::SUCCESS
//! }
//!
//! let spec: Option<PathBuf> = None; // --spec FILE
//! let code = match &spec {
//!     None => run(fsm_runtime::tcp::Spec),
//!     Some(path) => match fsm_examples::spec::load("program", path) {
//!         Some(machine) => run(machine),
//!         None => ExitCode::FAILURE,
//!     },
//! };
//! # assert_eq!(code, ExitCode::SUCCESS);
//! ```

use std::path::Path;

use fsm_codegen::LoadError;
use fsm_runtime::cc::Congestion;
use fsm_runtime::loaded::Loaded;
use fsm_runtime::recovery::Recovery;

/// Reads, checks and binds the spec at `path`. Its warnings go to stderr.
/// A spec that cannot be used gets its diagnostics printed to stderr as
/// `fsm check` prints them (`file:line:col`, the line, a caret), then one
/// line `PROGRAM: FILE: N errors found`; the answer is then `None`, and
/// the program should exit with failure.
pub fn load(program: &str, path: &Path) -> Option<Loaded> {
    accept(program, Loaded::load(path), |m| Some(m.source()))
}

/// Reads, checks and binds the congestion spec at `path` (`--cc-spec
/// FILE`), reporting as [`load`] does.
pub fn congestion(program: &str, path: &Path) -> Option<Congestion> {
    accept(program, Congestion::load(path), |c| c.machine().source())
}

/// Reads, checks and binds the recovery spec at `path` (`--recovery-spec
/// FILE`), reporting as [`load`] does.
pub fn recovery(program: &str, path: &Path) -> Option<Recovery> {
    accept(program, Recovery::load(path), |c| c.machine().source())
}

/// What `loaded` gives, the spec's warnings printed; or its diagnostics
/// printed and `None`.
fn accept<T>(
    program: &str,
    loaded: Result<T, LoadError>,
    spec: impl Fn(&T) -> Option<&fsm_codegen::Spec>,
) -> Option<T> {
    match loaded {
        Ok(machine) => {
            if let Some(spec) = spec(&machine) {
                for w in &spec.warnings {
                    w.eprint(&spec.file_name, &spec.source);
                }
            }
            Some(machine)
        }
        Err(LoadError::Rejected(r)) => {
            for d in &r.diagnostics {
                d.eprint(&r.file_name, &r.source);
            }
            let n = r.errors().count();
            eprintln!(
                "{program}: {}: {n} error{} found",
                r.file_name,
                if n == 1 { "" } else { "s" }
            );
            None
        }
        Err(other) => {
            eprintln!("{program}: {other}");
            None
        }
    }
}

/// How a program names the spec it runs: the `--spec` file, or
/// `tcp.fsm (compiled in)`.
pub fn name(spec: Option<&Path>) -> String {
    spec.map_or_else(
        || "tcp.fsm (compiled in)".to_owned(),
        |p| p.display().to_string(),
    )
}
