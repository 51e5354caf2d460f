//! The C example handler (`ivr.c`), built into a shared object by this crate's build script.
//! Rust code that needs the file (tests, the daemon's default handler set) finds it here.

/// Absolute path of the built `libtipring_ivr_c.so`.
pub const SO_PATH: &str = env!("TIPRING_IVR_C_SO");
