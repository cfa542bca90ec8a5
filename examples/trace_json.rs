//! The `--trace-json FILE` option of the example programs: every event
//! raised on an endpoint, refused ones included, as one JSON object a
//! line. `docs/trace-json.md` documents the fields.
//!
//! The lines come from [`Options::on_step`](fsm_runtime::Options::on_step)
//! ([`StepRecord`]s); the path step marks of a transition come from the
//! machine. Several endpoints can write to one file: each line is written
//! whole, and says which side it is from.

use std::fs::File;
use std::io::{self, LineWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use fsm_lab::trace_json::{cc_line, line};
use fsm_runtime::cc::Congestion;
use fsm_runtime::endpoint::{CcStepSink, StepSink};
use fsm_runtime::vocab::Machine;

/// A JSON-lines trace file shared by the endpoints of one program.
#[derive(Clone)]
pub struct TraceJson {
    path: PathBuf,
    out: Arc<Mutex<Out>>,
}

struct Out {
    /// Flushed at every line, so a server stopped by a signal leaves a
    /// complete file.
    file: LineWriter<File>,
    /// The first write error, reported by `finish`.
    error: Option<io::Error>,
    lines: u64,
}

impl TraceJson {
    /// Creates (or truncates) the file at `path`.
    pub fn create(path: &Path) -> io::Result<TraceJson> {
        let file = File::create(path)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        Ok(TraceJson {
            path: path.to_owned(),
            out: Arc::new(Mutex::new(Out {
                file: LineWriter::new(file),
                error: None,
                lines: 0,
            })),
        })
    }

    /// The `--trace-json` file of `program`: `Ok(None)` when none was asked
    /// for; when it cannot be created, the error goes to stderr as
    /// `PROGRAM: error` and the answer is `Err(())`: the program should exit
    /// with failure.
    #[allow(clippy::result_unit_err)]
    pub fn open(program: &str, path: Option<&Path>) -> Result<Option<TraceJson>, ()> {
        match path.map(TraceJson::create) {
            None => Ok(None),
            Some(Ok(t)) => Ok(Some(t)),
            Some(Err(e)) => {
                eprintln!("{program}: {e}");
                Err(())
            }
        }
    }

    /// Finishes the file and says so: `PROGRAM: N events written to FILE`,
    /// or the first error met writing it, to stderr. Answers whether the
    /// file is whole.
    pub fn report(&self, program: &str) -> bool {
        match self.finish() {
            Ok(n) => {
                println!("{program}: {n} events written to {}", self.path.display());
                true
            }
            Err(e) => {
                eprintln!("{program}: {e}");
                false
            }
        }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A callback for [`Options::on_step`](fsm_runtime::Options::on_step)
    /// of an endpoint driven by `machine`, writing lines labelled `side`.
    pub fn sink<M: Machine>(&self, machine: &M, side: &str) -> StepSink {
        let (out, machine, side) = (self.out.clone(), machine.clone(), side.to_owned());
        Box::new(move |record| write_line(&out, line(&machine, &side, record)))
    }

    /// The same for the congestion machine's events: lines whose `spec`
    /// is the congestion spec.
    pub fn cc_sink(&self, congestion: &Congestion, side: &str) -> CcStepSink {
        let (out, congestion, side) = (self.out.clone(), congestion.clone(), side.to_owned());
        Box::new(move |record| {
            write_line(&out, cc_line(congestion.machine(), &side, record));
        })
    }

    /// Flushes the file; answers how many lines it holds, or the first
    /// error met writing it.
    pub fn finish(&self) -> io::Result<u64> {
        let mut out = self.out.lock().unwrap_or_else(PoisonError::into_inner);
        let flushed = out.file.flush();
        match out.error.take().map_or(flushed, Err) {
            Ok(()) => Ok(out.lines),
            Err(e) => Err(io::Error::new(
                e.kind(),
                format!("{}: {e}", self.path.display()),
            )),
        }
    }
}

/// Writes one line (whole, or not at all after an error).
fn write_line(out: &Mutex<Out>, line: String) {
    let mut out = out.lock().unwrap_or_else(PoisonError::into_inner);
    if out.error.is_some() {
        return;
    }
    match writeln!(out.file, "{line}") {
        Ok(()) => out.lines += 1,
        Err(e) => out.error = Some(e),
    }
}
