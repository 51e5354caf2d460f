//! Real-time scheduling for media threads: SCHED_FIFO and locked memory, when permitted.

/// Puts the calling thread in SCHED_FIFO at `priority`.
///
/// # Errors
/// Not permitted (no CAP_SYS_NICE, `LimitRTPRIO` too low) or an invalid priority, in words.
pub(crate) fn set_fifo(priority: i32) -> Result<(), String> {
    let param = libc::sched_param {
        sched_priority: priority,
    };
    // SAFETY: `sched_setscheduler` with pid 0 acts on the calling thread and only reads
    // `param`, a valid, initialised struct that outlives the call.
    let r = unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO, &param) };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error().to_string())
    }
}

/// Locks the process's current and future pages in memory.
///
/// # Errors
/// Not permitted (no CAP_IPC_LOCK, `LimitMEMLOCK` too low), in words.
pub(crate) fn lock_memory() -> Result<(), String> {
    use nix::sys::mman::{MlockAllFlags, mlockall};
    mlockall(MlockAllFlags::MCL_CURRENT | MlockAllFlags::MCL_FUTURE).map_err(|e| e.to_string())
}
