//! A crate that uses `fsm!` compiles the language, the checks and the Rust
//! generator, and nothing of the CLI, the language server, the live
//! figure's server or the formatter: fsm-macros takes fsm-codegen without
//! its default features (`cli`, `lsp`, `serve`, `pretty`). This test
//! reads fsm-macros' tree from Cargo (offline, from the lock file) and
//! fails, naming the culprits, if any of them creeps back in.

use std::process::Command;

/// What the macro must not compile: the CLI's argument parser, the
/// language server's protocol crates, the live figure's HTTP server and
/// folder watcher, the formatter, a layout engine nothing uses.
const BANNED: &[&str] = &[
    "clap",
    "lsp-server",
    "lsp-types",
    "tiny_http",
    "notify",
    "prettyplease",
    "layout-rs",
];

/// `cargo tree` for fsm-macros alone (its features resolved as a crate
/// that uses the macro would resolve them), one package or feature a line.
fn tree(edges: &str) -> String {
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
    let out = Command::new(env!("CARGO"))
        .args(["tree", "--offline", "--locked", "--prefix", "none"])
        .args(["--manifest-path", manifest, "-p", "fsm-macros", "-e", edges])
        .output()
        .expect("cargo runs");
    assert!(
        out.status.success(),
        "cargo tree failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("cargo tree prints UTF-8")
}

#[test]
fn the_macro_compiles_no_cli_and_no_formatter() {
    let tree = tree("normal,build");
    assert!(
        tree.lines().any(|l| l.starts_with("fsm-codegen ")),
        "fsm-codegen missing from the tree:\n{tree}"
    );
    let found: Vec<&str> = tree
        .lines()
        .filter(|l| {
            let name = l.split(' ').next().unwrap_or_default();
            BANNED.contains(&name)
        })
        .collect();
    assert!(
        found.is_empty(),
        "fsm-macros depends on {found:?}; fsm-codegen's features `cli`, `lsp` and \
         `pretty` must stay off for it:\n{tree}"
    );
}

#[test]
fn the_macro_compiles_syn_without_its_full_syntax_tree() {
    let tree = tree("normal,build,features");
    assert!(
        tree.lines()
            .any(|l| l.starts_with("syn feature \"parsing\"")),
        "syn's features missing from the tree:\n{tree}"
    );
    assert!(
        !tree.lines().any(|l| l.starts_with("syn feature \"full\"")),
        "syn is built with \"full\" for fsm-macros (only formatted files, the \
         feature `pretty`, need it):\n{tree}"
    );
}
