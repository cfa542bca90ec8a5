//! Compile tests of `fsm!` through trybuild: programs that must build and
//! run (`ui/pass_*.rs`), and programs that must not build, with the exact
//! messages users see (`ui/fail_*.rs` and their `.stderr`).
//!
//! trybuild compiles each program in a crate of its own under
//! `target/tests/trybuild/`, so `CARGO_MANIFEST_DIR` is not this crate's
//! directory there; the programs name specs relative to their own file
//! (`fsm!("../../../../tcp.fsm")` from `tests/ui/`), which `fsm!` falls back
//! to when the manifest-relative path does not exist. That holds on any
//! checkout and with any `CARGO_TARGET_DIR`.
//!
//! Regenerate the `.stderr` files after an intended change with
//! `TRYBUILD=overwrite cargo test -p fsm-macros --test ui`.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass_*.rs");
    t.compile_fail("tests/ui/fail_*.rs");
}
