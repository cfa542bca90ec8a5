//! Binding a spec to a runtime's vocabulary: the events it raises, the
//! guards it can answer, the actions it can carry out, and the groups of
//! states it reads.
//!
//! A spec bound to a vocabulary may use only the vocabulary's events, guards
//! and actions, and must declare every group the vocabulary lists (a spec
//! diagnostic otherwise). It gets conversions to and from the vocabulary's
//! own enums and, with a groups list, `State::in_vocabulary_group`, written
//! as exhaustive `match`es so that the vocabulary's enums and the word lists
//! cannot drift apart either.

use std::collections::HashSet;

use proc_macro2::{Ident, Span, TokenStream};
use quote::{ToTokens, quote};
use syn::ext::IdentExt as _;
use syn::parse::{Parse, ParseStream, Parser as _};
use syn::punctuated::Punctuated;
use syn::{Token, braced, bracketed};

use crate::diagnostic::Diagnostic;
use crate::model::Model;
use crate::syntax::Name;

use super::names::{Names, camel};

/// A runtime's vocabulary: the module that holds its `Event`, `Guard` and
/// `Action` enums (and `Group`, when it reads groups of states), and the
/// words of each (snake_case, as a spec writes them; the enums' variants are
/// their CamelCase forms).
///
/// Written like the `fsm!` macro's argument:
/// `some::path { events: [a, b], guards: [c], actions: [d, e], groups: [f] }`.
///
/// Events, guards and actions are what the runtime offers: a spec uses some
/// of them. Groups are what the runtime asks of the spec: a spec must
/// declare every group listed (`group f = STATE, …`), and may declare more.
/// Without a groups list the vocabulary needs no `Group` enum.
#[derive(Clone, Debug)]
pub struct Vocabulary {
    path: PathTokens,
    events: Vec<Word>,
    guards: Vec<Word>,
    actions: Vec<Word>,
    /// `None` when no groups list is given: no `in_vocabulary_group`.
    groups: Option<Vec<Word>>,
}

/// A word and where it was written, so that the generated code's errors
/// point at it.
#[derive(Clone, Debug)]
struct Word {
    name: String,
    span: Span,
}

/// A module path, checked when made, kept as tokens (with the spans of
/// where it was written).
#[derive(Clone, Debug)]
struct PathTokens {
    tokens: TokenStream,
    text: String,
}

impl Vocabulary {
    /// A vocabulary in module `path` (`fsm_runtime::vocab`) with the given
    /// words. Fails when `path` is not a Rust path, a word is not an
    /// identifier, or a list repeats a word.
    pub fn new<E, G, A>(
        path: &str,
        events: impl IntoIterator<Item = E>,
        guards: impl IntoIterator<Item = G>,
        actions: impl IntoIterator<Item = A>,
    ) -> syn::Result<Vocabulary>
    where
        E: AsRef<str>,
        G: AsRef<str>,
        A: AsRef<str>,
    {
        let path: syn::Path = syn::parse_str(path)?;
        Ok(Vocabulary {
            path: path_tokens(&path),
            events: words(events)?,
            guards: words(guards)?,
            actions: words(actions)?,
            groups: None,
        })
    }

    /// The vocabulary with a groups list: the groups of states the runtime
    /// reads, each of which the spec must declare. The vocabulary's module
    /// then has a `Group` enum with their CamelCase forms, and the generated
    /// `State` gets `in_vocabulary_group`. Fails when a word is not an
    /// identifier or the list repeats one.
    pub fn with_groups<G: AsRef<str>>(
        mut self,
        groups: impl IntoIterator<Item = G>,
    ) -> syn::Result<Vocabulary> {
        self.groups = Some(words(groups)?);
        Ok(self)
    }

    /// Parses `some::path { events: [a, b], guards: [c], actions: [d],
    /// groups: [e] }`, the syntax of the `fsm!` macro's `vocabulary = …`
    /// argument. An events, guards or actions list left out is empty; a
    /// groups list left out is no groups list (see [`Self::with_groups`]).
    pub fn parse(text: &str) -> syn::Result<Vocabulary> {
        syn::parse_str(text)
    }

    /// Checks `spec` against this vocabulary: every event, guard and action
    /// it declares must be a word of the vocabulary, and every group the
    /// vocabulary lists must be declared. The check `fsm!` makes, with the
    /// same diagnostics, for front ends that bind a spec at run time.
    pub fn check(&self, spec: &crate::Spec) -> Result<(), crate::Rejected> {
        let mut diagnostics = check(&spec.model, self);
        if diagnostics.is_empty() {
            return Ok(());
        }
        diagnostics.sort_by_key(Diagnostic::offset);
        Err(crate::Rejected {
            file_name: spec.file_name.clone(),
            source: spec.source.clone(),
            diagnostics,
        })
    }

    /// The module path, as text.
    pub fn path(&self) -> &str {
        &self.path.text
    }

    /// The events, in the order given.
    pub fn events(&self) -> impl Iterator<Item = &str> {
        self.events.iter().map(|w| w.name.as_str())
    }

    /// The guards, in the order given.
    pub fn guards(&self) -> impl Iterator<Item = &str> {
        self.guards.iter().map(|w| w.name.as_str())
    }

    /// The actions, in the order given.
    pub fn actions(&self) -> impl Iterator<Item = &str> {
        self.actions.iter().map(|w| w.name.as_str())
    }

    /// The groups, in the order given; `None` without a groups list.
    pub fn groups(&self) -> Option<impl Iterator<Item = &str>> {
        self.groups
            .as_ref()
            .map(|g| g.iter().map(|w| w.name.as_str()))
    }
}

/// Words given as text: each an identifier (raw or not), none twice.
fn words<W: AsRef<str>>(list: impl IntoIterator<Item = W>) -> syn::Result<Vec<Word>> {
    let out = list
        .into_iter()
        .map(|w| {
            let id: Ident = Ident::parse_any.parse_str(w.as_ref())?;
            Ok(Word {
                name: id.unraw().to_string(),
                span: Span::call_site(),
            })
        })
        .collect::<syn::Result<Vec<Word>>>()?;
    no_repeats(&out)?;
    Ok(out)
}

fn path_tokens(path: &syn::Path) -> PathTokens {
    let tokens = path.to_token_stream();
    // `::fsm_runtime::vocab` reads as `fsm_runtime::vocab` in messages.
    let text = tokens.to_string().replace(' ', "");
    let text = text.strip_prefix("::").map_or(text.clone(), str::to_owned);
    PathTokens { tokens, text }
}

fn no_repeats(words: &[Word]) -> syn::Result<()> {
    let mut seen = HashSet::new();
    for w in words {
        if !seen.insert(w.name.as_str()) {
            return Err(syn::Error::new(
                w.span,
                format!("`{}` is listed twice", w.name),
            ));
        }
    }
    Ok(())
}

impl Parse for Vocabulary {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let path = input.call(syn::Path::parse_mod_style)?;
        let body;
        braced!(body in input);
        let mut events = None;
        let mut guards = None;
        let mut actions = None;
        let mut groups = None;
        while !body.is_empty() {
            let key: Ident = body.parse()?;
            body.parse::<Token![:]>()?;
            let list;
            bracketed!(list in body);
            let words: Punctuated<Ident, Token![,]> =
                list.parse_terminated(Ident::parse_any, Token![,])?;
            let words: Vec<Word> = words
                .iter()
                .map(|w| Word {
                    name: w.unraw().to_string(),
                    span: w.span(),
                })
                .collect();
            no_repeats(&words)?;
            let slot = match key.to_string().as_str() {
                "events" => &mut events,
                "guards" => &mut guards,
                "actions" => &mut actions,
                "groups" => &mut groups,
                other => {
                    return Err(syn::Error::new(
                        key.span(),
                        format!(
                            "unknown list `{other}`: a vocabulary lists `events`, `guards`, \
                             `actions` and `groups`"
                        ),
                    ));
                }
            };
            if slot.is_some() {
                return Err(syn::Error::new(
                    key.span(),
                    format!("`{key}` is given twice"),
                ));
            }
            *slot = Some(words);
            if body.is_empty() {
                break;
            }
            body.parse::<Token![,]>()?;
        }
        Ok(Vocabulary {
            path: path_tokens(&path),
            events: events.unwrap_or_default(),
            guards: guards.unwrap_or_default(),
            actions: actions.unwrap_or_default(),
            groups,
        })
    }
}

/// Every event, guard and action the spec declares that the vocabulary
/// lacks, and every group the vocabulary lists that the spec lacks.
pub fn check(model: &Model, vocab: &Vocabulary) -> Vec<Diagnostic> {
    let mut diags = Vec::new();
    let mut missing = |kind: &str, names: &mut dyn Iterator<Item = &Name>, words: &[Word]| {
        let known: HashSet<&str> = words.iter().map(|w| w.name.as_str()).collect();
        for n in names {
            if known.contains(n.text.as_str()) {
                continue;
            }
            let mut d = Diagnostic::error(format!(
                "{kind} `{}` is not in the vocabulary `{}`",
                n.text, vocab.path.text
            ))
            .with_primary(n.span.clone(), format!("the vocabulary has no such {kind}"));
            d = match closest(&n.text, words) {
                Some(w) => d.with_note(format!("help: did you mean `{w}`?")),
                None if words.is_empty() => {
                    d.with_note(format!("help: the vocabulary has no {kind}s"))
                }
                None => d.with_note(format!(
                    "help: the vocabulary's {kind}s are {}",
                    words
                        .iter()
                        .map(|w| format!("`{}`", w.name))
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            };
            diags.push(d);
        }
    };
    missing(
        "event",
        &mut model.events.iter().map(|e| &e.name),
        &vocab.events,
    );
    missing(
        "guard",
        &mut model.guards.iter().map(|g| &g.name),
        &vocab.guards,
    );
    missing(
        "action",
        &mut model.actions.iter().map(|a| &a.name),
        &vocab.actions,
    );
    for w in vocab.groups.iter().flatten() {
        if model.groups.iter().any(|g| g.name.text == w.name) {
            continue;
        }
        diags.push(
            Diagnostic::error(format!(
                "the vocabulary `{}` needs a group `{}`",
                vocab.path.text, w.name
            ))
            .with_primary(
                model.name.span.clone(),
                "this machine declares no such group",
            )
            .with_note(format!("help: declare it: `group {} = STATE, ...`", w.name)),
        );
    }
    diags
}

/// The word nearest to `name`, if near enough to be a typo.
fn closest<'w>(name: &str, words: &'w [Word]) -> Option<&'w str> {
    let limit = (name.chars().count() / 3).max(1);
    words
        .iter()
        .map(|w| (edit_distance(name, &w.name), w.name.as_str()))
        .filter(|(d, _)| *d <= limit)
        .min()
        .map(|(_, w)| w)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

/// The conversions between the spec's enums and the vocabulary's, and with
/// a groups list, `State::in_vocabulary_group`. With `stub`, bodies that
/// only panic (the spec does not fit; an error is reported anyway) so that
/// code using them still type-checks.
pub fn emit(model: &Model, names: &Names, vocab: &Vocabulary, stub: bool) -> TokenStream {
    let path = &vocab.path.tokens;
    let text = &vocab.path.text;
    let variant = |w: &Word| Ident::new(&camel(&w.name), w.span);
    let spec_index = |names: &[&Name], w: &Word| names.iter().position(|n| n.text == w.name);
    let event_names: Vec<&Name> = model.events.iter().map(|e| &e.name).collect();

    let stub_body = |arg: TokenStream| {
        quote!({
            let _ = #arg;
            ::core::panic!("the spec does not fit its vocabulary")
        })
    };

    let from_events = if stub {
        stub_body(quote!(event))
    } else {
        let arms = vocab.events.iter().map(|w| {
            let v = variant(w);
            match spec_index(&event_names, w) {
                Some(i) => {
                    let ours = &names.events[i];
                    quote!(#path::Event::#v => Some(Self::#ours),)
                }
                None => quote!(#path::Event::#v => None,),
            }
        });
        quote!({ match event { #(#arms)* } })
    };

    // Spec name -> vocabulary variant, for every name the spec declares.
    let to_vocab = |kind: &str,
                    spec: &mut dyn Iterator<Item = &Name>,
                    ours: &[Ident],
                    words: &[Word]|
     -> TokenStream {
        if stub {
            return stub_body(quote!(self));
        }
        let ty = Ident::new(kind, Span::call_site());
        let arms: Vec<TokenStream> = spec
            .zip(ours)
            .map(|(n, o)| {
                let w = words
                    .iter()
                    .find(|w| w.name == n.text)
                    .expect("checked: every name is in the vocabulary");
                let v = variant(w);
                quote!(Self::#o => #path::#ty::#v,)
            })
            .collect();
        quote!({ match self { #(#arms)* } })
    };
    let to_events = to_vocab(
        "Event",
        &mut model.events.iter().map(|e| &e.name),
        &names.events,
        &vocab.events,
    );
    let to_guards = to_vocab(
        "Guard",
        &mut model.guards.iter().map(|g| &g.name),
        &names.guards,
        &vocab.guards,
    );
    let to_actions = to_vocab(
        "Action",
        &mut model.actions.iter().map(|a| &a.name),
        &names.actions,
        &vocab.actions,
    );

    let from_doc = format!(
        " The event for an event of the vocabulary `{text}`; `None` for one this spec does not use."
    );
    let to_event_doc = format!(" The event as the vocabulary `{text}` names it.");
    let to_guard_doc = format!(" The guard as the vocabulary `{text}` names it.");
    let to_action_doc = format!(" The action as the vocabulary `{text}` names it.");

    let in_group = vocab.groups.as_ref().map(|groups| {
        let body = if stub {
            quote!({
                let _ = self;
                let _ = group;
                ::core::panic!("the spec does not fit its vocabulary")
            })
        } else {
            let arms = groups.iter().map(|w| {
                let v = variant(w);
                let i = model
                    .groups
                    .iter()
                    .position(|g| g.name.text == w.name)
                    .expect("checked: the spec declares every group of the vocabulary");
                let method = &names.group_methods[i];
                quote!(#path::Group::#v => self.#method(),)
            });
            quote!({ match group { #(#arms)* } })
        };
        let doc = format!(
            " Whether the state is in `group`, a group of the vocabulary `{text}` \
             (the spec's group of the same name)."
        );
        quote! {
            impl State {
                #[doc = #doc]
                pub const fn in_vocabulary_group(self, group: #path::Group) -> bool #body
            }
        }
    });
    quote! {
        impl Event {
            #[doc = #from_doc]
            pub const fn from_vocabulary(event: #path::Event) -> Option<Self> #from_events

            #[doc = #to_event_doc]
            pub const fn to_vocabulary(self) -> #path::Event #to_events
        }

        impl Guard {
            #[doc = #to_guard_doc]
            pub const fn to_vocabulary(self) -> #path::Guard #to_guards
        }

        impl Action {
            #[doc = #to_action_doc]
            pub const fn to_vocabulary(self) -> #path::Action #to_actions
        }

        #in_group
    }
}
