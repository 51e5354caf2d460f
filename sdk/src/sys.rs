//! The raw ABI: `#[repr(C)]` mirrors of `include/tipring/handler.h`, checked field by field
//! against a C compiler's view of the header by `tests/layout.rs`.

#![allow(non_camel_case_types, missing_docs)]

use core::ffi::{c_char, c_int, c_void};

pub const TIPRING_ABI_MAJOR: u16 = 1;
pub const TIPRING_ABI_MINOR: u16 = 1;
pub const TIPRING_ENTRY_SYMBOL: &str = "tipring_handler_entry_v1";

/// Opaque: the host's per-call channel.
#[repr(C)]
#[derive(Debug)]
pub struct tipring_channel {
    _private: [u8; 0],
}

pub type tipring_op = u64;

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct tipring_str {
    pub ptr: *const c_char,
    pub len: usize,
}

pub type tipring_status = u32;
pub const TIPRING_OK: u32 = 0;
pub const TIPRING_EINVAL: u32 = 1;
pub const TIPRING_EGONE: u32 = 2;
pub const TIPRING_EBUSY: u32 = 3;
pub const TIPRING_EUNSUPPORTED: u32 = 4;
pub const TIPRING_ELIMIT: u32 = 5;
pub const TIPRING_EINTERNAL: u32 = 6;
pub const TIPRING_ECONTEXT: u32 = 7;

pub type tipring_event_kind = u32;
pub const TIPRING_EV_OFFER: u32 = 1;
pub const TIPRING_EV_ANSWERED: u32 = 2;
pub const TIPRING_EV_OP_COMPLETE: u32 = 3;
pub const TIPRING_EV_DTMF: u32 = 4;
pub const TIPRING_EV_HANGUP: u32 = 5;
pub const TIPRING_EV_TIMER: u32 = 6;
pub const TIPRING_EV_WAKE: u32 = 7;
pub const TIPRING_EV_MESSAGE: u32 = 8;
/// A hook flash on the call's line (an FXS phone; ABI 1.1).
pub const TIPRING_EV_FLASH: u32 = 9;

pub type tipring_result = u32;
pub const TIPRING_R_DONE: u32 = 0;
pub const TIPRING_R_STOPPED: u32 = 1;
pub const TIPRING_R_TIMEOUT: u32 = 2;
pub const TIPRING_R_MAXDIGITS: u32 = 3;
pub const TIPRING_R_TERMDIGIT: u32 = 4;
pub const TIPRING_R_BUSY: u32 = 5;
pub const TIPRING_R_NOANSWER: u32 = 6;
pub const TIPRING_R_REJECTED: u32 = 7;
pub const TIPRING_R_FAILED: u32 = 8;
pub const TIPRING_R_HANGUP: u32 = 9;
pub const TIPRING_R_BARGEIN: u32 = 10;
pub const TIPRING_R_SILENCE: u32 = 11;
pub const TIPRING_R_MAXTIME: u32 = 12;

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct tipring_event {
    pub struct_size: u32,
    pub kind: tipring_event_kind,
    pub op: tipring_op,
    pub result: tipring_result,
    pub cause: u32,
    pub digits: tipring_str,
    pub detail_json: tipring_str,
    pub wake_token: u64,
    pub mono_ns: u64,
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct tipring_collect_opts {
    pub struct_size: u32,
    pub max_digits: u32,
    pub term_digits: tipring_str,
    pub first_digit_ms: u32,
    pub inter_digit_ms: u32,
    pub total_ms: u32,
    pub flush_typeahead: u8,
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct tipring_play_opts {
    pub struct_size: u32,
    pub barge_in: u8,
    pub loops: u32,
    pub collect: *const tipring_collect_opts,
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct tipring_record_opts {
    pub struct_size: u32,
    pub max_ms: u32,
    pub final_silence_ms: u32,
    pub term_digits: tipring_str,
    pub beep: u8,
}

pub const TIPRING_LOG_ERROR: u32 = 1;
pub const TIPRING_LOG_WARN: u32 = 2;
pub const TIPRING_LOG_INFO: u32 = 3;
pub const TIPRING_LOG_DEBUG: u32 = 4;

pub type Ch = *mut tipring_channel;
pub type OpOut = *mut tipring_op;

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct tipring_host_api {
    pub struct_size: u32,
    pub abi_major: u16,
    pub abi_minor: u16,
    pub answer: Option<unsafe extern "C" fn(Ch, OpOut) -> tipring_status>,
    pub hangup: Option<unsafe extern "C" fn(Ch, u32) -> tipring_status>,
    pub originate:
        Option<unsafe extern "C" fn(Ch, tipring_str, tipring_str, OpOut) -> tipring_status>,
    pub bridge: Option<unsafe extern "C" fn(Ch, u32, OpOut) -> tipring_status>,
    pub transfer: Option<unsafe extern "C" fn(Ch, tipring_str, OpOut) -> tipring_status>,
    pub play: Option<
        unsafe extern "C" fn(Ch, tipring_str, *const tipring_play_opts, OpOut) -> tipring_status,
    >,
    pub collect_digits:
        Option<unsafe extern "C" fn(Ch, *const tipring_collect_opts, OpOut) -> tipring_status>,
    pub record: Option<
        unsafe extern "C" fn(Ch, tipring_str, *const tipring_record_opts, OpOut) -> tipring_status,
    >,
    pub stop: Option<unsafe extern "C" fn(Ch, tipring_op) -> tipring_status>,
    pub send_dtmf: Option<unsafe extern "C" fn(Ch, tipring_str, OpOut) -> tipring_status>,
    pub set_timer: Option<unsafe extern "C" fn(Ch, u32, OpOut) -> tipring_status>,
    pub get_var: Option<
        unsafe extern "C" fn(Ch, tipring_str, *mut c_char, usize, *mut usize) -> tipring_status,
    >,
    pub set_var: Option<unsafe extern "C" fn(Ch, tipring_str, tipring_str) -> tipring_status>,
    pub log: Option<unsafe extern "C" fn(Ch, u32, tipring_str)>,
    pub wake: Option<unsafe extern "C" fn(Ch, u64) -> tipring_status>,
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct tipring_handler_vtable {
    pub struct_size: u32,
    pub abi_major: u16,
    pub abi_minor: u16,
    pub name: *const c_char,
    pub version: *const c_char,
    pub caps: u64,
    pub init: Option<
        unsafe extern "C" fn(*const tipring_host_api, tipring_str, *mut *mut c_void) -> c_int,
    >,
    pub shutdown: Option<unsafe extern "C" fn(*mut c_void)>,
    pub instance_create:
        Option<unsafe extern "C" fn(*mut c_void, Ch, tipring_str, *mut *mut c_void) -> c_int>,
    pub on_event: Option<unsafe extern "C" fn(*mut c_void, Ch, *const tipring_event) -> c_int>,
    pub instance_destroy: Option<unsafe extern "C" fn(*mut c_void)>,
}

pub const TIPRING_CAP_THREADSAFE_GLOBAL: u64 = 1;

pub type tipring_entry_fn =
    unsafe extern "C" fn(host_major: u16, host_minor: u16) -> *const tipring_handler_vtable;
