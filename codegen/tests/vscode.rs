//! The VS Code extension in editors/vscode/ agrees with the language: its
//! TextMate grammar highlights exactly the reserved words of the pest
//! grammar (codegen/src/grammar.pest) and every other word the grammar
//! spells out, and its package.json wires up the `.fsm` language, that
//! grammar, and `fsm lsp`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::Value;

const PEST: &str = include_str!("../src/grammar.pest");

fn extension() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../editors/vscode")
}

fn json(relative: &str) -> Value {
    let path = extension().join(relative);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The quoted words in `text` outside comment lines: two letters or more
/// (single letters are the string escapes `n` and `t`).
fn quoted_words(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .flat_map(|line| line.split('"').skip(1).step_by(2))
        .filter(|w| w.len() >= 2 && w.chars().all(|c| c.is_ascii_alphabetic()))
        .map(str::to_owned)
        .collect()
}

/// The body of the pest rule `name = @{ … }`.
fn pest_rule(name: &str) -> &'static str {
    let start = PEST
        .lines()
        .scan(0, |offset, line| {
            let here = *offset;
            *offset += line.len() + 1;
            Some((here, line))
        })
        .find(|(_, line)| {
            line.starts_with(name) && line[name.len()..].trim_start().starts_with('=')
        })
        .map(|(offset, _)| offset)
        .unwrap_or_else(|| panic!("grammar.pest has no rule `{name}`"));
    let body = &PEST[start..];
    &body[..body.find('}').expect("the rule closes")]
}

/// The alternatives of a TextMate pattern `\b(a|b|c)\b`.
fn alternatives(pattern: &str) -> BTreeSet<String> {
    let inner = pattern
        .strip_prefix("\\b(")
        .and_then(|p| p.strip_suffix(")\\b"))
        .unwrap_or_else(|| panic!("not a list of words: {pattern}"));
    inner.split('|').map(str::to_owned).collect()
}

/// Asserts that the TextMate pattern `name` lists exactly `words`.
fn assert_lists(name: &str, words: &BTreeSet<String>, source: &str) {
    let grammar = json("syntaxes/fsm.tmLanguage.json");
    let pattern = grammar["repository"][name]["match"]
        .as_str()
        .unwrap_or_else(|| panic!("the TextMate grammar has no `{name}` pattern"));
    assert_eq!(
        &alternatives(pattern),
        words,
        "editors/vscode/syntaxes/fsm.tmLanguage.json `{name}` against {source}"
    );
}

#[test]
fn the_textmate_keywords_are_the_pest_grammars_reserved_words() {
    let reserved = quoted_words(pest_rule("keyword"));
    assert!(
        reserved.contains("machine") && reserved.contains("same"),
        "{reserved:?}"
    );
    assert_lists("keywords", &reserved, "grammar.pest's `keyword` rule");
}

#[test]
fn every_other_word_of_the_pest_grammar_is_highlighted_as_a_modifier() {
    let reserved = quoted_words(pest_rule("keyword"));
    let others: BTreeSet<String> = quoted_words(PEST).difference(&reserved).cloned().collect();
    assert!(
        others.contains("segment") && others.contains("internal"),
        "{others:?}"
    );
    assert_lists("modifiers", &others, "the other words of grammar.pest");
}

#[test]
fn the_package_wires_the_language_the_grammar_and_the_server() {
    let package = json("package.json");
    let contributes = &package["contributes"];
    let language = &contributes["languages"][0];
    assert_eq!(language["id"], "fsm");
    assert_eq!(language["extensions"][0], ".fsm");
    let config = json(language["configuration"].as_str().expect("a path"));
    assert_eq!(config["comments"]["lineComment"], "//");

    let entry = &contributes["grammars"][0];
    assert_eq!(entry["language"], "fsm");
    let grammar = json(entry["path"].as_str().expect("a path"));
    assert_eq!(grammar["scopeName"], entry["scopeName"]);

    let settings = &contributes["configuration"]["properties"];
    assert_eq!(settings["fsm.server.path"]["default"], "fsm");
    assert_eq!(
        settings["fsm.server.args"]["default"],
        serde_json::json!(["lsp"])
    );

    let main = package["main"].as_str().expect("a main script");
    assert!(extension().join(main).is_file(), "{main} missing");
    assert!(
        package["dependencies"]["vscode-languageclient"].is_string(),
        "{package}"
    );
}
