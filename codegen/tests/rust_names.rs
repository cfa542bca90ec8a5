//! Rust names for spec names: what cannot be named is a spec diagnostic
//! with `file:line:col`, and keywords become raw identifiers.

use fsm_codegen::rust::{RustOptions, Vocabulary, generate, generate_file, generate_file_with};

fn spec(body: &str) -> fsm_codegen::Spec {
    let source = format!("machine Door \"a door\"\n{body}");
    fsm_codegen::compile("door.fsm", &source).unwrap_or_else(|r| panic!("{}", r.render()))
}

/// The rendered diagnostics of generating `body`'s Rust.
fn rejected(body: &str) -> String {
    let s = spec(body);
    match generate(&s, &RustOptions::default()) {
        Ok(_) => panic!("generated Rust for a spec whose names collide"),
        Err(r) => r.render(),
    }
}

#[test]
fn states_that_become_the_same_type() {
    let text = rejected(
        "state SYN_SENT initial \"a\"\nstate SynSent \"b\"\nevent e call \"e\"\n\
         SYN_SENT -> SynSent on e\nSynSent -> SYN_SENT on e\n",
    );
    assert!(
        text.contains("state `SynSent` and state `SYN_SENT` both become the Rust name `SynSent`"),
        "{text}"
    );
    assert!(text.contains("door.fsm:3:7"), "{text}");
}

#[test]
fn a_state_named_like_a_generated_item() {
    let text = rejected("state STEP initial \"s\"\nevent e call \"e\"\nSTEP -> same on e\n");
    assert!(
        text.contains("state `STEP` becomes the Rust name `Step`, which the generated code already uses for the result of `step`"),
        "{text}"
    );
    assert!(text.contains("door.fsm:2:7"), "{text}");
    let text = rejected("state DOOR initial \"s\"\nevent e call \"e\"\nDOOR -> same on e\n");
    assert!(text.contains("both become the Rust name `Door`"), "{text}");
    let text = rejected("state OPTION initial \"s\"\nevent e call \"e\"\nOPTION -> same on e\n");
    assert!(
        text.contains("a prelude type the generated code uses"),
        "{text}"
    );
}

#[test]
fn events_that_become_the_same_variant_or_a_reserved_method() {
    let text = rejected(
        "state OPEN initial \"o\"\nevent rcv_syn call \"a\"\nevent rcvSyn call \"b\"\n\
         OPEN -> same on rcv_syn\nOPEN -> same on rcvSyn\n",
    );
    assert!(
        text.contains("events `rcv_syn` and `rcvSyn` both become the Rust name `RcvSyn`"),
        "{text}"
    );
    let text = rejected("state OPEN initial \"o\"\nevent new call \"n\"\nOPEN -> same on new\n");
    assert!(
        text.contains(
            "event `new` becomes the method `new`, which the generated machine type already has"
        ),
        "{text}"
    );
}

#[test]
fn a_name_without_letters() {
    let text = rejected("state _ initial \"o\"\nevent e call \"e\"\n_ -> same on e\n");
    assert!(text.contains("state `_` has no Rust name"), "{text}");
}

#[test]
fn keywords_become_raw_identifiers() {
    let s = spec(
        "state OPEN initial \"o\"\nevent type call \"t\"\naction loop \"l\"\nOPEN -> same on type / loop\n",
    );
    let code = generate_file(&s).unwrap();
    assert!(code.contains("pub fn r#type(mut self)"), "{code}");
    assert!(code.contains("fn r#loop(&mut self);"), "{code}");
    assert!(code.contains("Type,"), "{code}");
}

#[test]
fn generic_parameters_step_aside_for_states() {
    let s = spec(
        "state D initial \"d\"\nstate S \"s\"\nevent e call \"e\"\nD -> S on e\nS -> D on e\n",
    );
    let code = generate_file(&s).unwrap();
    assert!(code.contains("pub struct Door<S0, D0 = ()>"), "{code}");
    assert!(code.contains("impl<D0: DoorActions> Door<D, D0>"), "{code}");
}

#[test]
fn unchanged_is_taken_where_guards_may_all_fail() {
    let text = rejected(
        "state OPEN initial \"o\"\nstate UNCHANGED \"u\"\nevent e call \"e\"\nguard g \"g\"\n\
         OPEN -> UNCHANGED on e [g]\nUNCHANGED -> OPEN on e\n",
    );
    assert!(
        text.contains("state `UNCHANGED` becomes the Rust name `Unchanged`"),
        "{text}"
    );
}

#[test]
fn a_spec_must_fit_its_vocabulary() {
    let s = spec(
        "state OPEN initial \"o\"\nevent push call \"p\"\nevent pull call \"q\"\nguard key \"k\"\n\
         action creak \"c\"\nOPEN -> same on push [key] / creak\nOPEN -> same on pull\n",
    );
    let vocab = Vocabulary::new(
        "crate::vocab",
        ["push", "poll"],
        ["key"],
        Vec::<&str>::new(),
    )
    .unwrap();
    let r = generate(&s, &RustOptions::with_vocabulary(vocab.clone())).unwrap_err();
    let text = r.render();
    assert!(
        text.contains("event `pull` is not in the vocabulary `crate::vocab`"),
        "{text}"
    );
    assert!(text.contains("door.fsm:4:7"), "{text}");
    assert!(text.contains("help: did you mean `poll`?"), "{text}");
    assert!(
        text.contains("action `creak` is not in the vocabulary"),
        "{text}"
    );
    assert!(
        text.contains("help: the vocabulary has no actions"),
        "{text}"
    );
    assert_eq!(r.errors().count(), 2);

    let fits = Vocabulary::parse(
        "crate::vocab { events: [push, pull, knock], guards: [key], actions: [creak] }",
    )
    .unwrap();
    let code = generate_file_with(&s, &RustOptions::with_vocabulary(fits)).unwrap();
    assert!(
        code.contains("crate::vocab::Event::Knock => None,"),
        "{code}"
    );
    assert!(
        code.contains("pub const fn to_vocabulary(self) -> crate::vocab::Action"),
        "{code}"
    );
}

#[test]
fn groups_become_membership_methods_of_state() {
    let s = spec(
        "state OPEN initial \"o\"\nstate AJAR \"a\"\nstate SHUT \"s\"\nevent push call \"p\"\n\
         group not_shut = OPEN, AJAR\ngroup Closed = SHUT\n\
         OPEN -> AJAR on push\nAJAR -> SHUT on push\nSHUT -> OPEN on push\n",
    );
    let code = generate_file(&s).unwrap();
    assert!(
        code.contains(
            "    /// Whether the state is in group `not_shut`: `OPEN`, `AJAR`.\n    \
             pub const fn in_not_shut(self) -> bool {\n        \
             ::core::matches!(self, Self::Open | Self::Ajar)\n    }"
        ),
        "{code}"
    );
    assert!(
        code.contains(
            "    /// Whether the state is in group `Closed`: `SHUT`.\n    \
             pub const fn in_closed(self) -> bool {\n        \
             ::core::matches!(self, Self::Shut)\n    }"
        ),
        "{code}"
    );
    // Without a vocabulary's groups list, nothing asks for a `Group` enum.
    assert!(!code.contains("in_vocabulary_group"), "{code}");
}

#[test]
fn groups_that_become_the_same_method() {
    let text = rejected(
        "state OPEN initial \"o\"\nevent e call \"e\"\ngroup half_open = OPEN\n\
         group HalfOpen = OPEN\nOPEN -> same on e\n",
    );
    assert!(
        text.contains("groups `half_open` and `HalfOpen` both become the method `in_half_open`"),
        "{text}"
    );
    assert!(text.contains("door.fsm:5:7"), "{text}");
    let text = rejected(
        "state OPEN initial \"o\"\nevent e call \"e\"\ngroup vocabulary_group = OPEN\n\
         OPEN -> same on e\n",
    );
    assert!(
        text.contains(
            "group `vocabulary_group` becomes the method `in_vocabulary_group`, which the \
             generated `State` already has"
        ),
        "{text}"
    );
    let text = rejected(
        "state OPEN initial \"o\"\nevent e call \"e\"\ngroup _ = OPEN\nOPEN -> same on e\n",
    );
    assert!(text.contains("group `_` has no Rust name"), "{text}");
}

#[test]
fn a_spec_must_declare_its_vocabularys_groups() {
    let s = spec(
        "state OPEN initial \"o\"\nstate SHUT \"s\"\nevent push call \"p\"\n\
         group open = OPEN\ngroup all = OPEN, SHUT\nOPEN -> SHUT on push\nSHUT -> OPEN on push\n",
    );
    let vocab = Vocabulary::new(
        "crate::vocab",
        ["push"],
        Vec::<&str>::new(),
        Vec::<&str>::new(),
    )
    .unwrap()
    .with_groups(["open", "closing"])
    .unwrap();
    let r = generate(&s, &RustOptions::with_vocabulary(vocab)).unwrap_err();
    assert_eq!(r.errors().count(), 1);
    let d = &r.diagnostics[0];
    assert_eq!(
        d.message,
        "the vocabulary `crate::vocab` needs a group `closing`"
    );
    assert_eq!(d.line_col(&s.source), (1, 9));
    let text = r.render();
    assert!(text.contains("door.fsm:1:9"), "{text}");
    assert!(
        text.contains("help: declare it: `group closing = STATE, ...`"),
        "{text}"
    );

    // `all` is the spec's own: the vocabulary need not list it.
    let fits = Vocabulary::parse("crate::vocab { events: [push], groups: [open] }").unwrap();
    let code = generate_file_with(&s, &RustOptions::with_vocabulary(fits)).unwrap();
    assert!(
        code.contains(
            "pub const fn in_vocabulary_group(self, group: crate::vocab::Group) -> bool {\n        \
             match group {\n            \
             crate::vocab::Group::Open => self.in_open(),\n        }"
        ),
        "{code}"
    );
    assert!(code.contains("pub const fn in_all(self) -> bool"), "{code}");
}

#[test]
fn vocabularies_are_checked_when_made() {
    assert!(Vocabulary::new("not a path", ["a"], ["b"], ["c"]).is_err());
    assert!(Vocabulary::new("v", ["a", "a"], ["b"], ["c"]).is_err());
    assert!(Vocabulary::new("v", ["no-dash"], ["b"], ["c"]).is_err());
    let v = Vocabulary::new("v", ["type"], Vec::<&str>::new(), ["c"]).unwrap();
    assert_eq!(v.events().collect::<Vec<_>>(), ["type"]);
    assert!(Vocabulary::parse("v { events: [a], events: [b] }").is_err());
    assert!(Vocabulary::parse("v { groups: [a, a] }").is_err());
    assert!(v.groups().is_none());
    let v = v.with_groups(["r#loop", "open"]).unwrap();
    assert_eq!(v.groups().unwrap().collect::<Vec<_>>(), ["loop", "open"]);
    assert!(v.with_groups(["a", "a"]).is_err());
}

#[test]
fn path_steps_must_fit_a_byte() {
    // A ring of 300 states, every transition a step of one path.
    let mut body = String::from("path p solid circled \"p\"\nevent e call \"e\"\n");
    for i in 0..300 {
        let first = if i == 0 { " initial" } else { "" };
        let step = if i == 0 { " p 1" } else { "" };
        body.push_str(&format!("state S{i}{first} \"s\"{step}\n"));
    }
    for i in 0..300 {
        body.push_str(&format!("S{i} -> S{} on e p {}\n", (i + 1) % 300, i + 2));
    }
    let text = rejected(&body);
    assert!(
        text.contains("step 256 is too big: the generated Rust numbers steps with `u8`"),
        "{text}"
    );
    assert_eq!(text.matches("is too big").count(), 301 - 255);
}
