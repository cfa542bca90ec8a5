//! The typestate API: a zero-sized type per state, the machine type
//! `Machine<S, D>`, the actions trait, and one consuming method per
//! (state, event) the spec has a transition for. A transition the spec
//! lacks is a method that does not exist.

use proc_macro2::{Ident, TokenStream};
use quote::quote;

use crate::model::{Model, StateId};

use super::emit::{condition, doc, doc_text, guard_source, md};
use super::names::Names;
use super::table::{DispatchTable, Entry, Shape};

/// Everything of the typestate API.
pub fn typestate(
    model: &Model,
    names: &Names,
    table: &DispatchTable,
    diagram: Option<&str>,
) -> TokenStream {
    let machine = &names.machine;
    let actions_trait = &names.actions_trait;
    let s = &names.generic_state;
    let d = &names.generic_data;
    let initial = &model.states[model.initial().0];
    let initial_ty = &names.states[model.initial().0];
    let mut out = TokenStream::new();

    let transitions = state_transitions(model);
    let state_types = model
        .states
        .iter()
        .zip(&names.states)
        .enumerate()
        .map(|(i, (st, ty))| {
            let mut text = doc_text(
                &format!("The state `{}` as a type: ", st.name.text),
                &st.text,
            );
            text.push_str(&transitions[i]);
            let doc = doc(&text);
            quote! {
                #doc
                #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
                pub struct #ty;

                impl sealed::Sealed for #ty {}

                impl TypeState for #ty {
                    const STATE: State = State::#ty;
                }

                impl From<#ty> for State {
                    fn from(_: #ty) -> Self {
                        State::#ty
                    }
                }
            }
        });

    let mut machine_text = format!(
        "The machine `{name}` in state `{s}`, carrying the data `{d}` its actions work on.\n\
         \n\
         It starts in `{init}` ([`{machine}::new`]); each transition is a method, named\n\
         after its event, that consumes the machine and returns it in the next state, so\n\
         a transition the spec lacks does not compile. Each state's type lists the\n\
         transitions into and out of it.",
        name = model.name.text,
        init = initial.name.text,
    );
    if let Some(html) = diagram {
        machine_text.push_str("\n\n# The spec's figure\n\n");
        machine_text.push_str(html);
    }
    let machine_doc = doc(&machine_text);
    let new_doc = format!(
        " A machine in the initial state `{}`, carrying `data`.",
        initial.name.text
    );
    out.extend(quote! {
        mod sealed {
            pub trait Sealed {}
        }

        /// A state of [`State`] as a type, for the typestate API. Sealed: only the
        /// generated state types implement it.
        pub trait TypeState: sealed::Sealed {
            /// The state as a value.
            const STATE: State;
        }

        #(#state_types)*

        #machine_doc
        #[must_use = "a transition returns the machine in its new state"]
        pub struct #machine<#s, #d = ()> {
            /// The data the actions work on.
            pub data: #d,
            _state: ::core::marker::PhantomData<#s>,
        }

        impl<#d> #machine<#initial_ty, #d> {
            #[doc = #new_doc]
            pub const fn new(data: #d) -> Self {
                #machine {
                    data,
                    _state: ::core::marker::PhantomData,
                }
            }
        }

        impl<#s: TypeState, #d> #machine<#s, #d> {
            /// The state the machine is in.
            pub const fn state(&self) -> State {
                #s::STATE
            }

            /// Ends the machine, giving back its data.
            pub fn into_data(self) -> #d {
                self.data
            }
        }

        impl<#s: TypeState, #d: ::core::fmt::Debug> ::core::fmt::Debug for #machine<#s, #d> {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                f.debug_struct(MACHINE)
                    .field("state", &#s::STATE)
                    .field("data", &self.data)
                    .finish()
            }
        }
    });

    let trait_methods = model
        .actions
        .iter()
        .zip(&names.action_methods)
        .map(|(a, m)| {
            let internal = if a.internal { " (internal)" } else { "" };
            let doc = doc(&doc_text(
                &format!("`{}`{internal}: ", a.name.text),
                &a.text,
            ));
            quote!(#doc fn #m(&mut self);)
        });
    let trait_doc = doc(&format!(
        "What `{name}` does on its transitions: implement it for the data `{d}` of\n\
         [`{machine}<S, {d}>`]({machine}). The typestate methods call these in the order the\n\
         spec lists the actions.",
        name = model.name.text
    ));
    out.extend(quote! {
        #trait_doc
        pub trait #actions_trait {
            #(#trait_methods)*
        }
    });

    // One impl block per state with transitions.
    let mut cells = table.cells().peekable();
    while let Some(&(state, _, _)) = cells.peek() {
        let mut methods = TokenStream::new();
        while let Some(&(s2, event, entries)) = cells.peek() {
            if s2 != state {
                break;
            }
            cells.next();
            let (method, outcome) = cell_method(model, names, state, event, entries);
            methods.extend(method);
            out.extend(outcome);
        }
        let ty = &names.states[state.0];
        let impl_doc = doc(&format!(
            "Transitions out of `{}`.",
            model.states[state.0].name.text
        ));
        out.extend(quote! {
            #impl_doc
            #[allow(clippy::wrong_self_convention, clippy::should_implement_trait)]
            impl<#d: #actions_trait> #machine<#ty, #d> {
                #methods
            }
        });
    }
    out
}

/// The doc paragraph of one transition taken from `from`.
fn transition_doc(model: &Model, e: &Entry) -> String {
    let t = &model.transitions[e.transition.0];
    let label = model.transition_label(t, "en");
    let from = &model.states[e.from.0].name.text;
    let mut s = if e.from == e.to {
        format!("`{}`: in `{from}`, staying there", label.replace('`', "'"))
    } else {
        format!(
            "`{}`: from `{from}` to `{}`",
            label.replace('`', "'"),
            model.states[e.to.0].name.text
        )
    };
    if let Some(g) = &t.guard {
        s.push_str(&format!(" when `{}`", guard_source(model, g)));
    }
    if t.actions.is_empty() {
        s.push_str(", doing nothing.");
    } else {
        let acts: Vec<String> = t
            .actions
            .iter()
            .map(|a| format!("`{}`", model.actions[a.0].name.text))
            .collect();
        s.push_str(&format!(", running {}.", acts.join(", ")));
    }
    let mut notes = vec![format!("Line {}", t.line)];
    if let Some(r) = &t.rfc {
        notes.push(format!("rfc {r}"));
    }
    for st in &t.steps {
        notes.push(format!(
            "{} step {}",
            model.paths[st.path.0].name.text, st.step
        ));
    }
    s.push_str(&format!("\n{}.", md(&notes.join(", "))));
    s
}

/// The method of one (state, event) cell, and the enum of its outcomes if
/// it needs one.
fn cell_method(
    model: &Model,
    names: &Names,
    state: StateId,
    event: crate::model::EventId,
    entries: &[Entry],
) -> (TokenStream, TokenStream) {
    let machine = &names.machine;
    let actions_trait = &names.actions_trait;
    let d = &names.generic_data;
    let method = &names.event_methods[event.0];
    let shape = Shape::of(model, entries);
    let live = &entries[..shape.live];
    let ty = |s: StateId| -> &Ident { &names.states[s.0] };
    let from_ty = ty(state);
    let mutable = live
        .iter()
        .any(|e| !model.transitions[e.transition.0].actions.is_empty());
    let self_arg = if mutable {
        quote!(mut self)
    } else {
        quote!(self)
    };
    let run = |e: &Entry| -> TokenStream {
        let calls = model.transitions[e.transition.0].actions.iter().map(|a| {
            let m = &names.action_methods[a.0];
            quote!(#actions_trait::#m(&mut self.data);)
        });
        quote!(#(#calls)*)
    };
    let enter = quote!(#machine { data: self.data, _state: ::core::marker::PhantomData });

    let docs: Vec<String> = live.iter().map(|e| transition_doc(model, e)).collect();
    let mut method_doc = docs.join("\n\n");
    if shape.guarded {
        method_doc.push_str("\n\nThe guards choose; `guards` answers them.");
    }
    let method_doc = doc(&method_doc);

    if !shape.guarded {
        let e = &live[0];
        let to = ty(e.to);
        let body = run(e);
        let method = quote! {
            #method_doc
            pub fn #method(#self_arg) -> #machine<#to, #d> {
                #body
                #enter
            }
        };
        return (method, TokenStream::new());
    }

    // Guards choose: `if g1 { … } else if g2 { … } else { … }`.
    let outcome = names.outcomes.get(&(state, event));
    let wrap = |e: &Entry| -> TokenStream {
        match outcome {
            Some(o) => {
                let v = ty(e.to);
                quote!(#o::#v(#enter))
            }
            None => enter.clone(),
        }
    };
    let mut chain = TokenStream::new();
    for (i, e) in live.iter().enumerate() {
        let body = run(e);
        let result = wrap(e);
        let last = i + 1 == live.len();
        let guard = model.transitions[e.transition.0].guard.as_ref();
        let else_kw = if i == 0 { quote!() } else { quote!(else) };
        match guard {
            Some(g) if !last || shape.may_stay => {
                let cond = condition(names, g);
                chain.extend(quote!(#else_kw if #cond { #body #result }));
            }
            _ => {
                if i == 0 {
                    chain.extend(quote!(#body #result));
                } else {
                    chain.extend(quote!(else { #body #result }));
                }
            }
        }
    }
    if shape.may_stay {
        let o = outcome.expect("a method that may stay has an outcome enum");
        chain.extend(quote!(else { #o::Unchanged(self) }));
    } else if live.len() == 1 {
        // A guard that always holds: nothing to ask.
        chain = quote!(let _ = guards; #chain);
    }

    let (ret, outcome_enum) = match outcome {
        None => {
            let to = ty(shape.targets[0]);
            (quote!(#machine<#to, #d>), TokenStream::new())
        }
        Some(o) => {
            let st = &model.states[state.0].name.text;
            let ev = &model.events[event.0].name.text;
            let enum_doc = doc(&format!(
                "Where `{ev}` leads from `{st}`: the guards choose (see `{machine}::{method}`)."
            ));
            let mut variants = Vec::new();
            let mut state_arms = Vec::new();
            for &target in &shape.targets {
                let v = ty(target);
                let how: Vec<String> = live
                    .iter()
                    .filter(|e| e.to == target)
                    .map(|e| transition_doc(model, e))
                    .collect();
                let vdoc = doc(&how.join("\n\n"));
                variants.push(quote!(#vdoc #v(#machine<#v, #d>),));
                state_arms.push(quote!(Self::#v(_) => State::#v,));
            }
            if shape.may_stay {
                let vdoc = doc(&format!("No guard held: still in `{st}`, nothing done."));
                variants.push(quote!(#vdoc Unchanged(#machine<#from_ty, #d>),));
                state_arms.push(quote!(Self::Unchanged(_) => State::#from_ty,));
            }
            let e = quote! {
                #enum_doc
                #[derive(Debug)]
                #[must_use = "a transition returns the machine in its new state"]
                #[allow(clippy::enum_variant_names)]
                pub enum #o<#d = ()> {
                    #(#variants)*
                }

                impl<#d> #o<#d> {
                    /// The state the machine is in now.
                    pub const fn state(&self) -> State {
                        match self {
                            #(#state_arms)*
                        }
                    }
                }
            };
            (quote!(#o<#d>), e)
        }
    };
    let method = quote! {
        #method_doc
        pub fn #method(#self_arg, guards: &(impl Guards + ?Sized)) -> #ret {
            #chain
        }
    };
    (method, outcome_enum)
}

/// For each state, the transitions out of and into it, as Markdown lists
/// for the state type's documentation: `` `ACK / –` → `FIN_WAIT_2`
/// (`rcv_ack`, line 119) ``. One pass over the edges.
fn state_transitions(model: &Model) -> Vec<String> {
    let name = |s: StateId| &model.states[s.index()].name.text;
    let item = |e: &crate::model::Edge, other: StateId, arrow: &str| {
        let t = &model.transitions[e.transition.index()];
        format!(
            "\n- `{}` {arrow} `{}` (`{}`, line {})",
            model.transition_label(t, "en").replace('`', "'"),
            name(other),
            model.events[t.event.index()].name.text,
            t.line
        )
    };
    let n = model.states.len();
    let (mut from, mut into) = (vec![String::new(); n], vec![String::new(); n]);
    for e in model.edges() {
        from[e.from.index()].push_str(&item(&e, e.to, "→"));
        if e.to != e.from {
            into[e.to.index()].push_str(&item(&e, e.from, "←"));
        }
    }
    from.into_iter()
        .zip(into)
        .map(|(from, into)| {
            let mut out = String::new();
            if !from.is_empty() {
                out.push_str("\n\n# Transitions from here\n");
                out.push_str(&from);
            }
            if !into.is_empty() {
                out.push_str("\n\n# Transitions into here\n");
                out.push_str(&into);
            }
            out
        })
        .collect()
}
