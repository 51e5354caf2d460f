//! DAHDI cards (feature `dahdi`): analog FXS/FXO ports and T1/E1 spans through the DAHDI
//! kernel interface (issue 5).
//!
//! So far this is the kernel interface itself, [`sys`]: request numbers, structure layouts
//! and constants, written from the interface's documented values (no driver source is
//! copied), checked against the real `dahdi/user.h` by `tests/dahdi_abi.rs`, which compiles
//! a small C probe against it. The channel backend, the analog state machines and the
//! user-space device model that tests it come next.

pub mod sys;
