//! The dynamic API: the enums, the transition table, `step`.

use proc_macro2::{Ident, Literal, TokenStream};
use quote::quote;

use crate::guard::GuardExpr;
use crate::model::{GuardId, Model};
use crate::syntax::{EventKind, Text};

use super::names::Names;
use super::table::{DispatchTable, TableLayout};

/// `#[doc = " line"]` for each line of `text`.
pub fn doc(text: &str) -> TokenStream {
    text.lines()
        .map(|l| {
            let l = if l.is_empty() {
                String::new()
            } else {
                format!(" {l}")
            };
            quote!(#[doc = #l])
        })
        .collect()
}

/// A spec text made safe for rustdoc's Markdown: brackets would be taken
/// for intra-doc links, angle brackets for HTML.
pub fn md(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '\\' | '[' | ']' | '<' | '>' | '*' | '`') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A text and its translations for a doc comment: `text` then
/// `zh: 翻译` lines.
pub fn doc_text(head: &str, text: &Text) -> String {
    let mut s = format!("{head}{}", md(&text.en));
    for (lang, t) in &text.translations {
        s.push_str(&format!("\n\n{lang}: {}", md(t)));
    }
    s
}

pub fn usize_lit(n: usize) -> Literal {
    Literal::usize_unsuffixed(n)
}

/// The smallest `repr` integer for an enum of `n` variants.
fn repr(n: usize) -> TokenStream {
    match n {
        0 => quote!(),
        1..=256 => quote!(#[repr(u8)]),
        257..=65536 => quote!(#[repr(u16)]),
        _ => quote!(#[repr(u32)]),
    }
}

/// One of the five enums of spec names: its items and the methods they all
/// share.
struct NameEnum<'a> {
    ident: Ident,
    doc: String,
    /// What one value is called in docs (`state`).
    kind: &'static str,
    variants: &'a [Ident],
    variant_docs: Vec<String>,
    names: Vec<&'a str>,
    texts: Vec<&'a Text>,
    /// More associated items.
    extra: TokenStream,
}

impl NameEnum<'_> {
    fn emit(&self) -> TokenStream {
        let NameEnum {
            ident,
            kind,
            variants,
            ..
        } = self;
        let n = variants.len();
        let n_lit = usize_lit(n);
        let doc = doc(&self.doc);
        let repr = repr(n);
        let defs = variants.iter().zip(&self.variant_docs).map(|(v, d)| {
            let d = self::doc(d);
            quote!(#d #v,)
        });
        let all = variants.iter().map(|v| quote!(Self::#v,));
        let extra = &self.extra;
        let all_doc = format!(" Every {kind}, in declaration order (the order of `index`).");
        let name_doc = format!(" The {kind}'s name as the spec spells it.");
        let desc_doc = format!(" What the {kind} means, in English.");
        let tr_doc = format!(
            " What the {kind} means in `lang` (`\"en\"`, or a language the spec translates into)."
        );
        let index_doc = format!(" Position of the {kind} in [`{ident}::ALL`].");
        let from_name_doc = format!(" The {kind} the spec calls `name`.");
        let (name_body, desc_body, tr_body, index_body, from_name_body, display_body);
        if n == 0 {
            name_body = quote!({ match self {} });
            desc_body = quote!({ match self {} });
            tr_body = quote!({
                let _ = lang;
                match self {}
            });
            index_body = quote!({ match self {} });
            from_name_body = quote!({
                let _ = name;
                None
            });
            display_body = quote!({
                let _ = f;
                match *self {}
            });
        } else {
            let names = &self.names;
            name_body = quote!({
                const NAMES: [&str; #n_lit] = [#(#names),*];
                NAMES[self as usize]
            });
            let descs = self.texts.iter().map(|t| t.en.as_str());
            desc_body = quote!({
                const DESCRIPTIONS: [&str; #n_lit] = [#(#descs),*];
                DESCRIPTIONS[self as usize]
            });
            let mut langs: Vec<&str> = self
                .texts
                .iter()
                .flat_map(|t| t.translations.iter().map(|(l, _)| l.as_str()))
                .filter(|l| *l != "en")
                .collect();
            langs.sort_unstable();
            langs.dedup();
            let arms = langs.iter().map(|lang| {
                let cells = self.texts.iter().map(|t| match t.translated(lang) {
                    Some(s) => quote!(Some(#s)),
                    None => quote!(None),
                });
                quote!(#lang => {
                    static TEXTS: [Option<&str>; #n_lit] = [#(#cells),*];
                    TEXTS[self as usize]
                })
            });
            tr_body = quote!({
                match lang {
                    "en" => Some(self.description()),
                    #(#arms)*
                    _ => None,
                }
            });
            index_body = quote!({ self as usize });
            from_name_body = quote!({ Self::ALL.iter().copied().find(|x| x.name() == name) });
            display_body = quote!({ f.write_str(self.name()) });
        }
        quote! {
            #doc
            #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
            #repr
            #[allow(clippy::enum_variant_names)]
            pub enum #ident {
                #(#defs)*
            }

            impl #ident {
                #[doc = #all_doc]
                pub const ALL: [Self; #n_lit] = [#(#all)*];

                #[doc = #name_doc]
                pub const fn name(self) -> &'static str #name_body

                #[doc = #desc_doc]
                pub const fn description(self) -> &'static str #desc_body

                #[doc = #tr_doc]
                pub fn translation(self, lang: &str) -> Option<&'static str> #tr_body

                #[doc = #index_doc]
                pub const fn index(self) -> usize #index_body

                #[doc = #from_name_doc]
                pub fn from_name(name: &str) -> Option<Self> #from_name_body

                #extra
            }

            impl ::core::fmt::Display for #ident {
                fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result #display_body
            }
        }
    }
}

/// Everything of the dynamic API.
pub fn dynamic(model: &Model, names: &Names, table: &DispatchTable, dot: &str) -> TokenStream {
    let machine_name = &model.name.text;
    let mut out = TokenStream::new();

    let machine_doc = doc(&doc_text(
        &format!("The machine's name, `{machine_name}`: "),
        &model.title,
    ));
    let decls = usize_lit(model.transitions.len());
    out.extend(quote! {
        #machine_doc
        pub const MACHINE: &str = #machine_name;

        /// The machine drawn as Graphviz DOT, as `fsm dot` prints it.
        pub const DOT: &str = #dot;

        /// How many transition declarations the spec has; [`Transition::decl`]
        /// counts them.
        pub const DECLARATIONS: usize = #decls;
    });

    out.extend(state_enum(model, names));
    out.extend(event_enum(model, names));
    out.extend(guard_enum(model, names));
    out.extend(action_enum(model, names));
    out.extend(path_enum(model, names));
    out.extend(fixed_types(names));
    out.extend(transitions(model, names));
    out.extend(step_fn(names, table));
    out
}

fn state_enum(model: &Model, names: &Names) -> TokenStream {
    let initial = &names.states[model.initial().0];
    let n = usize_lit(model.states.len());
    let steps = model.states.iter().map(|s| {
        let steps = path_steps(names, &s.steps);
        quote!(&[#steps])
    });
    let steps_body = if model.states.is_empty() {
        quote!({ match self {} })
    } else {
        quote!({
            const STEPS: [&[PathStep]; #n] = [#(#steps),*];
            STEPS[self as usize]
        })
    };
    let groups = model
        .groups
        .iter()
        .zip(&names.group_methods)
        .map(|(g, method)| {
            let members: Vec<&str> = g
                .members
                .iter()
                .map(|m| model.states[m.0].name.text.as_str())
                .collect();
            let doc_line = if members.is_empty() {
                format!(
                    " Whether the state is in group `{}`, which has no members.",
                    g.name.text
                )
            } else {
                format!(
                    " Whether the state is in group `{}`: `{}`.",
                    g.name.text,
                    members.join("`, `")
                )
            };
            let body = if g.members.is_empty() {
                quote!({ false })
            } else {
                let variants = g.members.iter().map(|m| &names.states[m.0]);
                quote!({ ::core::matches!(self, #(Self::#variants)|*) })
            };
            quote! {
                #[doc = #doc_line]
                pub const fn #method(self) -> bool #body
            }
        });
    let extra = quote! {
        /// The initial state.
        pub const INITIAL: Self = Self::#initial;

        /// The typical-path steps that start in this state (`client 1`).
        pub const fn steps(self) -> &'static [PathStep] #steps_body

        #(#groups)*
    };
    NameEnum {
        ident: super::names::fixed("State"),
        doc: doc_text(
            &format!("The states of `{}`: ", model.name.text),
            &model.title,
        ),
        kind: "state",
        variants: &names.states,
        variant_docs: model
            .states
            .iter()
            .map(|s| {
                let initial = if s.initial { " (initial)" } else { "" };
                doc_text(&format!("`{}`{initial}: ", s.name.text), &s.text)
            })
            .collect(),
        names: model.states.iter().map(|s| s.name.text.as_str()).collect(),
        texts: model.states.iter().map(|s| &s.text).collect(),
        extra,
    }
    .emit()
}

fn path_steps(names: &Names, steps: &[crate::model::PathStep]) -> TokenStream {
    let items = steps.iter().map(|st| {
        let p = &names.paths[st.path.0];
        let n = Literal::u8_unsuffixed(u8::try_from(st.step).unwrap_or(u8::MAX));
        quote!(PathStep { path: Path::#p, step: #n })
    });
    quote!(#(#items),*)
}

fn event_enum(model: &Model, names: &Names) -> TokenStream {
    let n = usize_lit(model.events.len());
    let kinds = model.events.iter().map(|e| match e.kind {
        EventKind::Call => quote!(EventKind::Call),
        EventKind::Segment => quote!(EventKind::Segment),
        EventKind::Timer => quote!(EventKind::Timer),
    });
    let kind_body = if model.events.is_empty() {
        quote!({ match self {} })
    } else {
        quote!({
            const KINDS: [EventKind; #n] = [#(#kinds),*];
            KINDS[self as usize]
        })
    };
    NameEnum {
        ident: super::names::fixed("Event"),
        doc: format!("The events `{}` reacts to.", model.name.text),
        kind: "event",
        variants: &names.events,
        variant_docs: model
            .events
            .iter()
            .map(|e| {
                doc_text(
                    &format!("`{}` ({}): ", e.name.text, e.kind.keyword()),
                    &e.text,
                )
            })
            .collect(),
        names: model.events.iter().map(|e| e.name.text.as_str()).collect(),
        texts: model.events.iter().map(|e| &e.text).collect(),
        extra: quote! {
            /// What raises the event.
            pub const fn kind(self) -> EventKind #kind_body
        },
    }
    .emit()
}

fn guard_enum(model: &Model, names: &Names) -> TokenStream {
    NameEnum {
        ident: super::names::fixed("Guard"),
        doc: format!(
            "The conditions `{}` asks about; whoever drives the machine answers through [`Guards`].",
            model.name.text
        ),
        kind: "guard",
        variants: &names.guards,
        variant_docs: model
            .guards
            .iter()
            .map(|g| doc_text(&format!("`{}`: ", g.name.text), &g.text))
            .collect(),
        names: model.guards.iter().map(|g| g.name.text.as_str()).collect(),
        texts: model.guards.iter().map(|g| &g.text).collect(),
        extra: TokenStream::new(),
    }
    .emit()
}

fn action_enum(model: &Model, names: &Names) -> TokenStream {
    let n = usize_lit(model.actions.len());
    let internal = model.actions.iter().map(|a| a.internal);
    let body = if model.actions.is_empty() {
        quote!({ match self {} })
    } else {
        quote!({
            const INTERNAL: [bool; #n] = [#(#internal),*];
            INTERNAL[self as usize]
        })
    };
    NameEnum {
        ident: super::names::fixed("Action"),
        doc: format!(
            "What `{}` does on its transitions, in the order [`Step::actions`] lists them.",
            model.name.text
        ),
        kind: "action",
        variants: &names.actions,
        variant_docs: model
            .actions
            .iter()
            .map(|a| {
                let internal = if a.internal { " (internal)" } else { "" };
                doc_text(&format!("`{}`{internal}: ", a.name.text), &a.text)
            })
            .collect(),
        names: model.actions.iter().map(|a| a.name.text.as_str()).collect(),
        texts: model.actions.iter().map(|a| &a.text).collect(),
        extra: quote! {
            /// Whether the action is bookkeeping, left out of drawn labels.
            pub const fn is_internal(self) -> bool #body
        },
    }
    .emit()
}

fn path_enum(model: &Model, names: &Names) -> TokenStream {
    let n = usize_lit(model.paths.len());
    let circled = model
        .paths
        .iter()
        .map(|p| p.marker == crate::syntax::Marker::Circled);
    let circled_body = if model.paths.is_empty() {
        quote!({ match self {} })
    } else {
        quote!({
            const CIRCLED: [bool; #n] = [#(#circled),*];
            CIRCLED[self as usize]
        })
    };
    NameEnum {
        ident: super::names::fixed("Path"),
        doc: format!(
            "The typical paths through `{}`, drawn in bold with numbered steps.",
            model.name.text
        ),
        kind: "path",
        variants: &names.paths,
        variant_docs: model
            .paths
            .iter()
            .map(|p| doc_text(&format!("`{}`: ", p.name.text), &p.text))
            .collect(),
        names: model.paths.iter().map(|p| p.name.text.as_str()).collect(),
        texts: model.paths.iter().map(|p| &p.text).collect(),
        extra: quote! {
            /// Whether the figure marks the path's steps with circled digits
            /// (①), else with boxed numbers.
            pub const fn circled(self) -> bool #circled_body
        },
    }
    .emit()
}

/// Types whose shape does not depend on the spec.
fn fixed_types(names: &Names) -> TokenStream {
    let f = &names.generic_fn;
    quote! {
        /// What raises an event.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum EventKind {
            /// A call from the application.
            Call,
            /// A segment arriving from the network.
            Segment,
            /// A timer expiring.
            Timer,
        }

        impl EventKind {
            /// The keyword that declares the kind in a spec.
            pub const fn name(self) -> &'static str {
                match self {
                    Self::Call => "call",
                    Self::Segment => "segment",
                    Self::Timer => "timer",
                }
            }
        }

        impl ::core::fmt::Display for EventKind {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                f.write_str(self.name())
            }
        }

        /// A step of a typical path: the path and its number, from 1.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct PathStep {
            /// Which path.
            pub path: Path,
            /// The step's number, from 1.
            pub step: u8,
        }

        /// A transition declaration taken from one of its source states: one
        /// row of [`TRANSITIONS`].
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub struct Transition {
            /// The source state.
            pub from: State,
            /// The event that fires it.
            pub event: Event,
            /// The state it leads to.
            pub to: State,
            /// The guard as the spec writes it (`!passive`), if any.
            pub guard: Option<&'static str>,
            /// What it does, in order.
            pub actions: &'static [Action],
            /// The typical-path steps it is.
            pub steps: &'static [PathStep],
            /// The RFC section it implements (`3.10.7.4`), if given.
            pub rfc: Option<&'static str>,
            /// The label drawn beside its arrow, in English.
            pub label: &'static str,
            /// Index of its declaration among the spec's [`DECLARATIONS`].
            pub decl: u32,
            /// The line of its declaration in the spec.
            pub line: u32,
        }

        /// The conditions of guarded transitions, answered by whoever drives the
        /// machine: a closure `|guard: Guard| -> bool`, a `[bool]` indexed by
        /// [`Guard::index`], or a type of one's own.
        pub trait Guards {
            /// Whether `guard` holds now.
            fn holds(&self, guard: Guard) -> bool;
        }

        impl<#f: Fn(Guard) -> bool> Guards for #f {
            fn holds(&self, guard: Guard) -> bool {
                self(guard)
            }
        }

        impl Guards for [bool] {
            fn holds(&self, guard: Guard) -> bool {
                self.get(guard.index()).copied().unwrap_or(false)
            }
        }

        impl<const N: usize> Guards for [bool; N] {
            fn holds(&self, guard: Guard) -> bool {
                self.get(guard.index()).copied().unwrap_or(false)
            }
        }

        /// A transition taken by [`step`].
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub struct Step {
            /// The state it left.
            pub from: State,
            /// The state it entered (the same for a self-loop).
            pub to: State,
            /// What to do, in order.
            pub actions: &'static [Action],
            /// Index of the transition in [`TRANSITIONS`].
            pub transition: u32,
        }

        impl Step {
            /// The transition's row of [`TRANSITIONS`]: guard, RFC section,
            /// label, line.
            pub fn info(&self) -> &'static Transition {
                &TRANSITION_TABLE[self.transition as usize]
            }
        }

        /// [`step`] found no transition.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub struct NoTransition {
            /// The state.
            pub state: State,
            /// The event that found nothing to do.
            pub event: Event,
            /// Whether transitions exist for the event in the state, but no
            /// guard held.
            pub guarded: bool,
        }

        impl ::core::fmt::Display for NoTransition {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                ::core::write!(f, "no transition from {} on `{}`", self.state, self.event)?;
                if self.guarded {
                    f.write_str(" (no guard held)")?;
                }
                Ok(())
            }
        }

        impl ::core::error::Error for NoTransition {}
    }
}

/// Guard text with the spec's names, as written modulo spacing.
pub fn guard_source(model: &Model, g: &GuardExpr<GuardId>) -> String {
    let mut s = String::new();
    g.write(&mut s, &|id: &GuardId| model.guards[id.0].name.text.clone());
    s
}

fn transitions(model: &Model, names: &Names) -> TokenStream {
    let rows: Vec<TokenStream> = model
        .edges()
        .map(|e| {
            let t = &model.transitions[e.transition.0];
            let from = &names.states[e.from.0];
            let to = &names.states[e.to.0];
            let event = &names.events[t.event.0];
            let guard = match &t.guard {
                Some(g) => {
                    let s = guard_source(model, g);
                    quote!(Some(#s))
                }
                None => quote!(None),
            };
            let actions = t.actions.iter().map(|a| &names.actions[a.0]);
            let steps = path_steps(names, &t.steps);
            let rfc = match &t.rfc {
                Some(r) => quote!(Some(#r)),
                None => quote!(None),
            };
            let label = model.transition_label(t, "en");
            let decl = Literal::u32_unsuffixed(u32::try_from(e.transition.0).unwrap_or(u32::MAX));
            let line = Literal::u32_unsuffixed(u32::try_from(t.line).unwrap_or(u32::MAX));
            quote! {
                Transition {
                    from: State::#from,
                    event: Event::#event,
                    to: State::#to,
                    guard: #guard,
                    actions: &[#(Action::#actions),*],
                    steps: &[#steps],
                    rfc: #rfc,
                    label: #label,
                    decl: #decl,
                    line: #line,
                },
            }
        })
        .collect();
    let n = usize_lit(rows.len());
    quote! {
        /// Every transition, one row per declaration and source state, in
        /// declaration order; [`Step::transition`] indexes it.
        #[allow(clippy::large_const_arrays)]
        pub const TRANSITIONS: [Transition; #n] = [#(#rows)*];

        static TRANSITION_TABLE: [Transition; #n] = TRANSITIONS;
    }
}

/// Rust for a guard expression, asking `guards` for each variable.
fn guard_code(names: &Names, g: &GuardExpr<GuardId>, prec: u8) -> TokenStream {
    match g {
        GuardExpr::Var(v) => {
            let v = &names.guards[v.0];
            quote!(guards.holds(Guard::#v))
        }
        GuardExpr::Not(e) => {
            let inner = guard_code(names, e, 3);
            quote!(!#inner)
        }
        GuardExpr::And(a, b) => {
            let (a, b) = (guard_code(names, a, 2), guard_code(names, b, 2));
            if prec > 2 {
                quote!((#a && #b))
            } else {
                quote!(#a && #b)
            }
        }
        GuardExpr::Or(a, b) => {
            let (a, b) = (guard_code(names, a, 1), guard_code(names, b, 1));
            if prec > 1 {
                quote!((#a || #b))
            } else {
                quote!(#a || #b)
            }
        }
    }
}

/// The guard expression as a Rust condition.
pub fn condition(names: &Names, g: &GuardExpr<GuardId>) -> TokenStream {
    guard_code(names, g, 0)
}

/// The smallest unsigned type for values up to `max`, and a literal maker.
fn uint(max: usize) -> (TokenStream, fn(usize) -> Literal) {
    if max <= usize::from(u16::MAX) {
        (quote!(u16), |n| Literal::u16_unsuffixed(n as u16))
    } else {
        (quote!(u32), |n| Literal::u32_unsuffixed(n as u32))
    }
}

fn step_fn(names: &Names, table: &DispatchTable) -> TokenStream {
    let (off_ty, off_lit) = uint(table.entries.len());
    let offsets = table.offsets.iter().map(|&o| off_lit(o));
    let n_offsets = usize_lit(table.offsets.len());
    let n_entries = usize_lit(table.entries.len());
    let guarded = !table.guards.is_empty();

    // Rows of TRANSITIONS, numbered in the smallest type that holds them.
    let (edge_ty, edge_lit) = uint(table.entries.len());
    let (entries_decl, scan) = if guarded {
        let entries = table.entries.iter().map(|e| {
            let t = edge_lit(e.edge);
            let g = Literal::u16_unsuffixed(e.guard.map_or(0, |g| g as u16 + 1));
            quote!((#t, #g))
        });
        let arms = table.guards.iter().enumerate().map(|(i, g)| {
            let id = Literal::u16_unsuffixed(i as u16 + 1);
            let cond = condition(names, g);
            quote!(#id => #cond,)
        });
        (
            quote! {
                static ENTRIES: [(#edge_ty, u16); #n_entries] = [#(#entries),*];
                #[inline]
                fn holds(guard: u16, guards: &(impl Guards + ?Sized)) -> bool {
                    match guard {
                        #(#arms)*
                        _ => true,
                    }
                }
            },
            quote! {
                for &(transition, guard) in &ENTRIES[start..end] {
                    if guard == 0 || holds(guard, guards) {
                        let t = &TRANSITION_TABLE[transition as usize];
                        return Ok(Step { from: state, to: t.to, actions: t.actions, transition: transition as u32 });
                    }
                }
                Err(NoTransition { state, event, guarded: end > start })
            },
        )
    } else {
        let entries = table.entries.iter().map(|e| edge_lit(e.edge));
        (
            quote! {
                static ENTRIES: [#edge_ty; #n_entries] = [#(#entries),*];
            },
            quote! {
                let _ = guards;
                if start < end {
                    let transition = ENTRIES[start];
                    let t = &TRANSITION_TABLE[transition as usize];
                    return Ok(Step { from: state, to: t.to, actions: t.actions, transition: transition as u32 });
                }
                Err(NoTransition { state, event, guarded: false })
            },
        )
    };

    let events = usize_lit(table.events);
    let cell = if table.events == 1 {
        quote!(state.index() + event.index())
    } else {
        quote!(state.index() * #events + event.index())
    };
    let lookup = match table.layout {
        TableLayout::Dense => quote! {
            static OFFSETS: [#off_ty; #n_offsets] = [#(#offsets),*];
            let cell = #cell;
            let (start, end) = (OFFSETS[cell] as usize, OFFSETS[cell + 1] as usize);
        },
        TableLayout::Sparse => {
            let (row_ty, row_lit) = uint(table.keys.len());
            let rows = table.rows.iter().map(|&r| row_lit(r));
            let n_rows = usize_lit(table.rows.len());
            let (key_ty, key_lit) = uint(table.events);
            let keys = table.keys.iter().map(|k| key_lit(k.0));
            let n_keys = usize_lit(table.keys.len());
            quote! {
                static ROWS: [#row_ty; #n_rows] = [#(#rows),*];
                static EVENTS: [#key_ty; #n_keys] = [#(#keys),*];
                static OFFSETS: [#off_ty; #n_offsets] = [#(#offsets),*];
                let row = ROWS[state.index()] as usize..ROWS[state.index() + 1] as usize;
                let key = event.index() as #key_ty;
                let Ok(k) = EVENTS[row.clone()].binary_search(&key) else {
                    return Err(NoTransition { state, event, guarded: false });
                };
                let cell = row.start + k;
                let (start, end) = (OFFSETS[cell] as usize, OFFSETS[cell + 1] as usize);
            }
        }
    };
    let layout_doc = match table.layout {
        TableLayout::Dense => "one offset per (state, event) pair",
        TableLayout::Sparse => "per state, a sorted list of the events it handles",
    };
    let doc = doc(&format!(
        "Takes `event` in `state`: the first transition, in declaration order,\n\
         whose guard holds (the spec's checks ensure at most one can).\n\
         \n\
         Table-driven ({layout_doc}) and allocation-free; a guard is asked\n\
         only when a transition depends on it."
    ));
    let body = if table.events == 0 {
        // No events: nothing to look up.
        quote! {
            let _ = (state, guards);
            match event {}
        }
    } else {
        quote! {
            #entries_decl
            #lookup
            #scan
        }
    };
    quote! {
        #doc
        #[inline]
        pub fn step(
            state: State,
            event: Event,
            guards: &(impl Guards + ?Sized),
        ) -> Result<Step, NoTransition> {
            #body
        }
    }
}
