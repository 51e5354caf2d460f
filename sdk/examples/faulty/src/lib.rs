//! Four deliberately faulty C handlers (`faulty.c`), built into shared objects by this
//! crate's build script, for the acceptance tests of handler process isolation: a fault in
//! one handler's host process must end only that handler's calls.
//!
//! Each answers, collects up to 4 digits ended by `#`, logs at ERROR level what it is about
//! to do, sets the call variable `digits`, and then faults. Never deploy them.

/// `faulty-segv`: writes through a null pointer (SIGSEGV).
pub const SEGV_SO: &str = env!("TIPRING_FAULTY_SEGV_SO");

/// `faulty-abort`: calls `abort()` (SIGABRT).
pub const ABORT_SO: &str = env!("TIPRING_FAULTY_ABORT_SO");

/// `faulty-loop`: spins for ever inside `on_event`, never returning.
pub const LOOP_SO: &str = env!("TIPRING_FAULTY_LOOP_SO");

/// `faulty-leak`: every 20 ms allocates and touches 8 MiB it never frees, until killed.
pub const LEAK_SO: &str = env!("TIPRING_FAULTY_LEAK_SO");

/// Every faulty handler: (handler name, absolute path of its shared object).
pub const ALL: [(&str, &str); 4] = [
    ("faulty-segv", SEGV_SO),
    ("faulty-abort", ABORT_SO),
    ("faulty-loop", LOOP_SO),
    ("faulty-leak", LEAK_SO),
];
