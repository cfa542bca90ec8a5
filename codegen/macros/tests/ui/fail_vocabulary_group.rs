// A vocabulary's groups are what the runtime reads: the spec must declare
// each, and door.fsm declares no group `closed`.
#[allow(dead_code)]
mod vocab {
    pub enum Event { Push, Pull, Lock, Unlock }
    pub enum Guard { HasKey }
    pub enum Action { Creak, Click }
    pub enum Group { Closed }
}

#[allow(dead_code)]
mod door {
    fsm_macros::fsm!("door.fsm", vocabulary = crate::vocab {
        events: [push, pull, lock, unlock],
        guards: [has_key],
        actions: [creak, click],
        groups: [closed],
    });
}

fn main() {}
