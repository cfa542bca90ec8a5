// The word lists and the vocabulary's enums must agree: a variant the
// list lacks does not compile (`from_vocabulary` matches every listed word).
#[allow(dead_code)]
mod vocab {
    pub enum Event { Push, Pull, Lock, Unlock, Knock }
    pub enum Guard { HasKey }
    pub enum Action { Creak, Click }
}

#[allow(dead_code)]
mod door {
    fsm_macros::fsm!("door.fsm", vocabulary = crate::vocab {
        events: [push, pull, lock, unlock],
        guards: [has_key],
        actions: [creak, click],
    });
}

fn main() {}
