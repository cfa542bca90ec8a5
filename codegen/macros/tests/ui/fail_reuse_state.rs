// A transition consumes the machine: the old state cannot be used again.
#[allow(dead_code)]
mod door {
    fsm_macros::fsm!("door.fsm");
}

struct Quiet;

impl door::DoorActions for Quiet {
    fn creak(&mut self) {}
    fn click(&mut self) {}
}

fn main() {
    let open = door::Door::new(Quiet);
    let _shut = open.push();
    let _again = open.push();
}
