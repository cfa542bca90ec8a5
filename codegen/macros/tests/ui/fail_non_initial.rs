// A machine starts in the initial state; no other state can be made up.
#[allow(dead_code)]
mod door {
    fsm_macros::fsm!("door.fsm");
}

fn main() {
    let _locked = door::Door::<door::Locked, ()>::new(());
}
