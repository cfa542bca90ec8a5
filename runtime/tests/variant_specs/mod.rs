//! The variant specs of `examples/specs/`, compiled in with `machine!`.

pub mod no_time_wait {
    fsm_runtime::machine!("../examples/specs/no_time_wait.fsm");
}
pub mod server_closes_on_fin {
    fsm_runtime::machine!("../examples/specs/server_closes_on_fin.fsm");
}
pub mod no_simultaneous_open {
    fsm_runtime::machine!("../examples/specs/no_simultaneous_open.fsm");
}
pub mod no_syn_rcvd_established {
    fsm_runtime::machine!("../examples/specs/no_syn_rcvd_established.fsm");
}
pub mod no_close_wait {
    fsm_runtime::machine!("../examples/specs/no_close_wait.fsm");
}
pub mod rst_ignored_in_established {
    fsm_runtime::machine!("../examples/specs/rst_ignored_in_established.fsm");
}
pub mod no_linger {
    fsm_runtime::machine!("../examples/specs/no_linger.fsm");
}
pub mod reset_anywhere_in_window {
    fsm_runtime::machine!("../examples/specs/reset_anywhere_in_window.fsm");
}
pub mod time_wait_ignores_rst {
    fsm_runtime::machine!("../examples/specs/time_wait_ignores_rst.fsm");
}
pub mod rfc793_figure6_open {
    fsm_runtime::machine!("../examples/specs/rfc793_figure6_open.fsm");
}
