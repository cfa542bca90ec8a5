// The data must carry out every action the spec declares.
#[allow(dead_code)]
mod door {
    fsm_macros::fsm!("door.fsm");
}

struct Silent;

impl door::DoorActions for Silent {
    fn creak(&mut self) {}
}

fn main() {
    let _shut = door::Door::new(Silent).push();
}
