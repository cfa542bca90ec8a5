// A spec bound to a vocabulary may use only its words: door.fsm's `unlock`
// is not one of them.
#[allow(dead_code)]
mod vocab {
    pub enum Event { Push, Pull, Lock }
    pub enum Guard { HasKey }
    pub enum Action { Creak, Click }
}

#[allow(dead_code)]
mod door {
    fsm_macros::fsm!("door.fsm", vocabulary = crate::vocab {
        events: [push, pull, lock],
        guards: [has_key],
        actions: [creak, click],
    });
}

fn main() {}
