//! The three front ends give the same Rust for tcp.fsm: the `fsm!` macro's
//! expansion (less the `include_bytes!` that makes the crate rebuild when
//! the spec changes), the build-script `Builder`'s file, and what
//! `fsm rust tcp.fsm` prints. Also how each reports a spec with errors.

use std::path::{Path, PathBuf};
use std::process::Command;

use quote::{ToTokens as _, quote};

const MANIFEST_DIR: &str = env!("CARGO_MANIFEST_DIR");

/// A fresh scratch directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Whether an item is the macro's `const _: &[u8] = include_bytes!(…);`.
fn is_tracking_const(item: &syn::Item) -> bool {
    match item {
        syn::Item::Const(c) => {
            c.ident == "_"
                && c.expr
                    .to_token_stream()
                    .to_string()
                    .contains("include_bytes")
        }
        _ => false,
    }
}

fn macro_output() -> String {
    let tokens = fsm_codegen::rust::expand_macro(quote!("../tcp.fsm"), Path::new(MANIFEST_DIR));
    let mut file: syn::File = syn::parse2(tokens).expect("the expansion is a Rust file");
    let before = file.items.len();
    file.items.retain(|i| !is_tracking_const(i));
    assert_eq!(
        file.items.len(),
        before - 1,
        "exactly one include_bytes! const"
    );
    fsm_codegen::rust::format(file.into_token_stream(), "tcp.fsm")
}

fn builder_output() -> String {
    let out = scratch("front_ends_builder");
    let path = fsm_codegen::rust::Builder::new("../tcp.fsm")
        .manifest_dir(MANIFEST_DIR)
        .out_dir(&out)
        .cargo_output(false)
        .build()
        .unwrap();
    assert_eq!(path, out.join("tcp.rs"));
    std::fs::read_to_string(path).unwrap()
}

fn cli_output() -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_fsm"))
        .args(["rust", "../tcp.fsm"])
        .current_dir(MANIFEST_DIR)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn macro_builder_and_cli_generate_the_same_code() {
    let from_macro = macro_output();
    let from_builder = builder_output();
    let from_cli = cli_output();
    assert!(from_cli.starts_with("// Generated from tcp.fsm by fsm-codegen. Do not edit.\n"));
    assert!(from_cli.contains("pub fn step("));
    assert!(from_macro == from_builder, "macro and Builder differ");
    assert!(from_builder == from_cli, "Builder and `fsm rust` differ");
}

#[test]
fn the_macro_tracks_the_spec_file() {
    let tokens = fsm_codegen::rust::expand_macro(quote!("../tcp.fsm"), Path::new(MANIFEST_DIR));
    let text = tokens.to_string();
    let tcp = std::path::absolute(Path::new(MANIFEST_DIR).join("../tcp.fsm")).unwrap();
    let lit = proc_macro2::Literal::string(&tcp.to_string_lossy()).to_string();
    assert!(text.contains(&format!("include_bytes ! ({lit})")), "{lit}");
}

#[test]
fn the_macro_falls_back_to_the_invoking_file_directory() {
    // As in trybuild, where CARGO_MANIFEST_DIR is a generated crate's.
    let invoking = Path::new(MANIFEST_DIR).join("src/lib.rs");
    let tokens = fsm_codegen::rust::expand_macro_in(
        quote!("../../tcp.fsm"),
        Path::new("/nonexistent/crate"),
        Some(&invoking),
    );
    assert!(!tokens.to_string().contains("compile_error"));
    let tokens =
        fsm_codegen::rust::expand_macro(quote!("../../tcp.fsm"), Path::new("/nonexistent"));
    let text = tokens.to_string();
    assert!(
        text.contains("cannot find the spec `../../tcp.fsm`"),
        "{text}"
    );
}

const BAD: &str = "machine Door \"a door\"\n\
                   state OPEN initial \"open\"\n\
                   state SHUT \"shut\"\n\
                   event push call \"push\"\n\
                   OPEN -> SHTU on push\n\
                   SHUT -> OPEN on push\n";

#[test]
fn a_spec_error_is_one_compile_error_with_file_line_col_and_caret() {
    let dir = scratch("front_ends_bad_macro");
    std::fs::write(dir.join("bad.fsm"), BAD).unwrap();
    let tokens = fsm_codegen::rust::expand_macro(quote!("bad.fsm"), &dir);
    let file: syn::File = syn::parse2(tokens).unwrap();
    let errors: Vec<String> = file
        .items
        .iter()
        .filter_map(|i| match i {
            syn::Item::Macro(m)
                if m.mac
                    .path
                    .to_token_stream()
                    .to_string()
                    .contains("compile_error") =>
            {
                let lit: syn::LitStr = m.mac.parse_body().unwrap();
                Some(lit.value())
            }
            _ => None,
        })
        .collect();
    assert_eq!(errors.len(), 1, "{errors:?}");
    let message = &errors[0];
    assert!(message.starts_with("unknown state `SHTU`"), "{message}");
    assert!(message.contains("bad.fsm:5:9"), "{message}");
    assert!(message.contains("OPEN -> SHTU on push"), "{message}");
    assert!(message.contains("^^^^"), "{message}");
    assert!(
        !message.contains(&dir.display().to_string()),
        "no absolute path: {message}"
    );
}

#[test]
fn a_checked_spec_with_errors_still_gives_the_items() {
    // Names resolve, but a state is unreachable: one error, plus the items,
    // so that code using them reports nothing more.
    let dir = scratch("front_ends_unreachable");
    std::fs::write(
        dir.join("door.fsm"),
        "machine Door \"d\"\nstate OPEN initial \"o\"\nstate SHUT \"s\"\nevent push call \"p\"\n\
         OPEN -> same on push\n",
    )
    .unwrap();
    let text = fsm_codegen::rust::expand_macro(quote!("door.fsm"), &dir).to_string();
    assert_eq!(text.matches("compile_error").count(), 1, "{text}");
    assert!(text.contains("unreachable"), "{text}");
    assert!(text.contains("pub fn step"), "{text}");
    assert!(text.contains("pub struct Door"), "{text}");
}

#[test]
fn a_machine_without_states_is_one_compile_error() {
    let dir = scratch("front_ends_no_states");
    std::fs::write(dir.join("empty.fsm"), "machine Empty \"e\"\n").unwrap();
    let text = fsm_codegen::rust::expand_macro(quote!("empty.fsm"), &dir).to_string();
    assert_eq!(text.matches("compile_error").count(), 1, "{text}");
    assert!(text.contains("has no initial state"), "{text}");
}

#[test]
fn the_builder_reports_a_spec_error_and_fails() {
    let dir = scratch("front_ends_bad_builder");
    std::fs::write(dir.join("bad.fsm"), BAD).unwrap();
    let err = fsm_codegen::rust::Builder::new("bad.fsm")
        .manifest_dir(&dir)
        .out_dir(&dir)
        .cargo_output(false)
        .build()
        .unwrap_err();
    assert_eq!(err.to_string(), "bad.fsm: 1 error found");
    match err {
        fsm_codegen::rust::BuildError::Load(fsm_codegen::LoadError::Rejected(r)) => {
            assert!(r.render().contains("bad.fsm:5:9"));
        }
        other => panic!("{other:?}"),
    }
    assert!(!dir.join("bad.rs").exists());
}

#[test]
fn the_builder_needs_cargo_or_directories() {
    // Not run by Cargo as a build script: OUT_DIR is unset in tests.
    if std::env::var_os("OUT_DIR").is_none() {
        let err = fsm_codegen::rust::Builder::new("tcp.fsm")
            .manifest_dir(MANIFEST_DIR)
            .build()
            .unwrap_err();
        assert!(err.to_string().starts_with("OUT_DIR is not set"), "{err}");
    }
}

#[test]
fn the_cli_reports_a_spec_error_and_fails() {
    let dir = scratch("front_ends_bad_cli");
    std::fs::write(dir.join("bad.fsm"), BAD).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_fsm"))
        .args(["rust", "bad.fsm"])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("bad.fsm:5:9"), "{stderr}");
    assert!(out.stdout.is_empty());
}
