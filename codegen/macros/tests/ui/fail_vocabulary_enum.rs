// The word lists and the vocabulary's enums must agree: a listed word the
// enum lacks does not compile, and the error points at the word.
#[allow(dead_code)]
mod vocab {
    pub enum Event { Push, Pull, Lock, Unlock }
    pub enum Guard { HasKey }
    pub enum Action { Creak, Click }
}

#[allow(dead_code)]
mod door {
    fsm_macros::fsm!("door.fsm", vocabulary = crate::vocab {
        events: [push, pull, lock, unlock, slam],
        guards: [has_key],
        actions: [creak, click],
    });
}

fn main() {}
