//! The diagrams in `docs/` are generated from `tcp.fsm` and committed. This
//! test draws them again and fails, naming the stale files, when they
//! differ; with `UPDATE_DOCS=1` it writes them instead (the rust-analyzer
//! "sourcegen" way: staleness is an ordinary test, not a CI step).

use std::path::{Path, PathBuf};

use fsm_codegen::dot::DrawOptions;
use fsm_codegen::figure::Provenance;
use fsm_codegen::{dot, mermaid, svg};

/// The one command that regenerates `docs/`.
const COMMAND: &str = "UPDATE_DOCS=1 cargo test -p fsm-codegen --test docs";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("codegen/ sits in the workspace")
        .to_owned()
}

/// Each generated file, relative to the repository root, with its text:
/// the diagrams of tcp.fsm (the connection machine), congestion.fsm (the
/// congestion machine) and recovery.fsm (the recovery machine).
fn generated() -> Vec<(String, String)> {
    let root = repo_root();
    let en = DrawOptions::default();
    let zh = DrawOptions {
        lang: "zh".to_owned(),
        ..DrawOptions::default()
    };
    let mut files = Vec::new();
    for name in ["tcp", "congestion", "recovery"] {
        let source = format!("{name}.fsm");
        let spec = match fsm_codegen::load(root.join(&source)) {
            Ok(spec) => spec,
            Err(e) => panic!("{e}"),
        };
        let model = &spec.model;
        let provenance = Provenance {
            source,
            command: COMMAND.to_owned(),
        };
        files.extend([
            (
                format!("docs/{name}.dot"),
                dot::render_with(model, &en, &provenance),
            ),
            (
                format!("docs/{name}.svg"),
                svg::render_with(model, &en, &provenance),
            ),
            (
                format!("docs/{name}.zh.svg"),
                svg::render_with(model, &zh, &provenance),
            ),
            (
                format!("docs/{name}.mmd"),
                mermaid::render_with(model, &en, &provenance),
            ),
        ]);
    }
    files
}

#[test]
fn docs_diagrams_are_up_to_date() {
    let root = repo_root();
    let update = std::env::var_os("UPDATE_DOCS").is_some_and(|v| v != "0");
    let mut stale = Vec::new();
    for (file, text) in generated() {
        let path = root.join(&file);
        // A checkout that turned line ends into CRLF is not stale.
        let current = std::fs::read_to_string(&path)
            .ok()
            .map(|s| s.replace("\r\n", "\n"));
        if current.as_deref() == Some(text.as_str()) {
            continue;
        }
        if update {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
            }
            std::fs::write(&path, &text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            eprintln!("updated {file}");
        } else {
            stale.push(file);
        }
    }
    assert!(
        stale.is_empty(),
        "stale generated diagram{}: {} (they no longer match the specs and the renderers)\n\
         regenerate them with:\n\n    {COMMAND}\n",
        if stale.len() == 1 { "" } else { "s" },
        stale.join(", ")
    );
}

#[test]
fn every_generated_file_names_the_command_that_regenerates_it() {
    for (file, text) in generated() {
        let head: String = text.lines().take(8).collect::<Vec<_>>().join("\n");
        assert!(head.contains("Generated from "), "{file}: {head}");
        assert!(text.contains(COMMAND), "{file} does not name `{COMMAND}`");
    }
}
