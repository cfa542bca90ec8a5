//! `fsm!`: generates Rust for a `.fsm` state-machine spec where it is
//! invoked. A thin shell over [`fsm_codegen::rust::expand_macro_in`], which
//! does everything (the `pest_derive` / `pest_generator` split).
//!
//! ```ignore
//! mod tcp {
//!     fsm_macros::fsm!("tcp.fsm");
//! }
//! mod bound {
//!     fsm_macros::fsm!("tcp.fsm", vocabulary = crate::vocab {
//!         events: [passive_open, active_open /* … */],
//!         guards: [passive /* … */],
//!         actions: [send_syn /* … */],
//!         groups: [synchronized], // optional: groups of states the runtime reads
//!     });
//! }
//! ```
//!
//! A vocabulary's `events`, `guards` and `actions` are what the runtime
//! offers (the spec may use only those); its `groups` are what it asks for
//! (the spec must declare each, `group synchronized = …`, and `State` gets
//! `in_vocabulary_group(group)` over the vocabulary's `Group` enum). Every
//! group the spec declares is also a method `State::in_<group>`.
//!
//! The path is relative to the invoking crate's `CARGO_MANIFEST_DIR`; when
//! nothing is there, to the directory of the source file holding the call
//! (so tests that trybuild compiles elsewhere still find their specs).
//!
//! The items are `pub`; a binary that uses only some of them wants
//! `#[allow(dead_code)]` on the module that holds the call. Editing the spec
//! rebuilds the crate (the expansion `include_bytes!` the file).
#![deny(unsafe_code)]
#![warn(missing_docs)]

use std::path::PathBuf;

use proc_macro::TokenStream;

/// Generates the state machine of a `.fsm` spec: the dynamic API (`State`,
/// `Event`, `step`, `TRANSITIONS`, …) and the typestate API (one type per
/// state, the machine type, its actions trait). See the crate docs for the
/// syntax.
///
/// A spec with errors gives one `compile_error!` on the path, carrying the
/// diagnostics with `file:line:col`, the source line and a caret.
#[proc_macro]
pub fn fsm(input: TokenStream) -> TokenStream {
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_default();
    let invoking_file = proc_macro::Span::call_site().local_file();
    fsm_codegen::rust::expand_macro_in(input.into(), &manifest_dir, invoking_file.as_deref()).into()
}
