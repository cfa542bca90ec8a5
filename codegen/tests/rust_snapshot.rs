//! The Rust generated from tcp.fsm, formatted, as a reviewed snapshot.
//! After an intended change: `cargo insta review` (or
//! `INSTA_UPDATE=always cargo test -p fsm-codegen --test rust_snapshot`).
//!
//! The `DOT` constant is replaced by a placeholder: the drawing has a
//! snapshot of its own, and a change of layout is not a change of the Rust.

fn tcp_rust() -> String {
    let spec = fsm_codegen::load(concat!(env!("CARGO_MANIFEST_DIR"), "/../tcp.fsm")).unwrap();
    fsm_codegen::rust::generate_file(&spec).unwrap()
}

/// The code with the `DOT` constant's text left out.
fn without_dot(code: &str) -> String {
    code.lines()
        .map(|l| {
            if l.starts_with("pub const DOT: &str = ") {
                "pub const DOT: &str = \"…\";"
            } else {
                l
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn tcp_rust_snapshot() {
    let code = tcp_rust();
    assert!(code.starts_with("// Generated from tcp.fsm by fsm-codegen. Do not edit.\n"));
    insta::assert_snapshot!("tcp", without_dot(&code));
}

#[test]
fn dot_constant_is_the_dot_drawing() {
    let spec = fsm_codegen::load(concat!(env!("CARGO_MANIFEST_DIR"), "/../tcp.fsm")).unwrap();
    let dot = fsm_codegen::dot::render(&spec.model, &Default::default());
    let code = tcp_rust();
    let line = code
        .lines()
        .find(|l| l.starts_with("pub const DOT: &str = "))
        .unwrap();
    let lit: syn::LitStr = syn::parse_str(
        line.trim_start_matches("pub const DOT: &str = ")
            .trim_end_matches(';'),
    )
    .unwrap();
    assert_eq!(lit.value(), dot);
}
