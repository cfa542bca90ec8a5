//! Completion: which kinds of name fit where the cursor is, read from the
//! text of the line before it (statements are one a line by convention).
//! A heuristic, not a parse: it has to work on the half-written statement
//! that the parser rejects.

use super::index::Kind;

/// What may be written at the cursor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Slot {
    /// Kinds of declared names that fit.
    pub kinds: Vec<Kind>,
    /// Keywords that fit.
    pub keywords: Vec<&'static str>,
}

impl Slot {
    fn new(kinds: &[Kind], keywords: &[&'static str]) -> Self {
        Slot {
            kinds: kinds.to_vec(),
            keywords: keywords.to_vec(),
        }
    }
}

/// Keywords that start a declaration.
const DECLARATIONS: &[&str] = &[
    "state", "event", "guard", "action", "message", "path", "group",
];

/// What fits after `before`, the text of the cursor's line up to the
/// cursor.
pub fn slot(before: &str) -> Slot {
    let code = code_of(before);
    // The word being typed is replaced, so it says nothing about the slot.
    let code = code.trim_end_matches(|c: char| c.is_ascii_alphanumeric() || c == '_');
    let words: Vec<&str> = code
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
        .collect();
    let first = words.first().copied().unwrap_or("");
    if code.matches('[').count() > code.matches(']').count() {
        return Slot::new(&[Kind::Guard], &[]);
    }
    if let Some(arrow) = code.find("->") {
        let after = &code[arrow + 2..];
        if let Some(slash) = after.rfind('/') {
            let tail = after[slash + 1..].trim_end();
            return if tail.is_empty() || tail.ends_with(',') {
                Slot::new(&[Kind::Action], &[])
            } else {
                Slot::new(&[Kind::Path], &["rfc", "label"])
            };
        }
        let after_words: Vec<&str> = after.split_whitespace().collect();
        return match after_words.iter().position(|w| *w == "on") {
            None if after_words.is_empty() => Slot::new(&[Kind::State], &["same"]),
            None => Slot::new(&[], &["on"]),
            Some(on) if on + 1 == after_words.len() => Slot::new(&[Kind::Event], &[]),
            Some(_) => Slot::new(&[Kind::Path], &["rfc", "label"]),
        };
    }
    match first {
        "group" if code.contains('=') => Slot::new(&[Kind::State], &[]),
        "state" if words.len() >= 2 => Slot::new(&[Kind::Path], &["initial"]),
        "event" if words.len() == 2 => Slot::new(&[], &["call", "segment", "timer"]),
        "event" if words.len() == 3 && words[2] == "segment" => Slot::new(&[], &["on"]),
        "event" if words.get(3) == Some(&"on") => Slot::new(&[Kind::Message], &[]),
        "action" if words.last() == Some(&"sends") => Slot::new(&[Kind::Message], &[]),
        "action" if words.len() == 2 => Slot::new(&[], &["internal", "sends"]),
        "action" if words.len() == 3 && words[2] == "internal" => Slot::new(&[], &["sends"]),
        "path" if words.len() == 2 => Slot::new(&[], &["solid", "dashed"]),
        "path" if words.len() == 3 => Slot::new(&[], &["circled", "boxed"]),
        "machine" | "state" | "event" | "guard" | "action" | "message" | "path" | "group" => {
            Slot::new(&[], &[])
        }
        _ if code.trim().is_empty() => {
            let mut keywords = DECLARATIONS.to_vec();
            keywords.extend(["machine", "any"]);
            Slot::new(&[Kind::State, Kind::Group], &keywords)
        }
        _ if code.trim_end().ends_with(',') => Slot::new(&[Kind::State, Kind::Group], &[]),
        _ => Slot::new(&[], &[]),
    }
}

/// The line without its `//` comment and with the insides of strings
/// blanked, so that a `/` or `[` in a label does not count.
fn code_of(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut in_string = false;
    let mut escaped = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if in_string {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
            out.push(if in_string { ' ' } else { c });
            continue;
        }
        match c {
            '"' => {
                in_string = true;
                out.push(c);
            }
            '/' if chars.peek() == Some(&'/') => break,
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(before: &str) -> Vec<Kind> {
        slot(before).kinds
    }

    #[test]
    fn each_part_of_a_transition_asks_for_its_kind() {
        assert_eq!(kinds("A -> B on "), [Kind::Event]);
        assert_eq!(kinds("A -> B on rcv_"), [Kind::Event]);
        assert_eq!(kinds("A -> B on e [ok && !"), [Kind::Guard]);
        assert_eq!(kinds("A -> B on e [ok] / "), [Kind::Action]);
        assert_eq!(kinds("A -> B on e / a, b"), [Kind::Action]);
        assert_eq!(kinds("A -> B on e / a "), [Kind::Path]);
        assert_eq!(kinds("A -> "), [Kind::State]);
        assert!(slot("A -> ").keywords.contains(&"same"));
        assert_eq!(kinds("A, "), [Kind::State, Kind::Group]);
        assert_eq!(kinds("  "), [Kind::State, Kind::Group]);
        assert_eq!(kinds("group g = A, "), [Kind::State]);
        assert_eq!(kinds("event rcv_syn segment on "), [Kind::Message]);
        assert_eq!(kinds("event rcv_syn segment on SYN, "), [Kind::Message]);
        assert_eq!(kinds("action send_syn sends "), [Kind::Message]);
        assert_eq!(kinds("action init internal sends S"), [Kind::Message]);
        assert!(slot("action send_syn ").keywords.contains(&"sends"));
    }

    #[test]
    fn comments_and_strings_do_not_count() {
        assert_eq!(kinds("A -> B on e label \"a/b [x\" "), [Kind::Path]);
        assert_eq!(kinds("// A -> B on "), [Kind::State, Kind::Group]);
    }
}
