// Nor can a machine in some state be put together by hand.
#[allow(dead_code)]
mod door {
    fsm_macros::fsm!("door.fsm");
}

fn main() {
    let _shut: door::Door<door::Shut> = door::Door {
        data: (),
        _state: core::marker::PhantomData,
    };
}
