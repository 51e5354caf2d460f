//! Shared helpers of the model's tests: a mount in a unique temporary directory, raw
//! syscalls on the nodes, and timeouts so that no test can hang.

#![allow(dead_code)]

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use tipring_dahdi_model::{Model, ModelError, Spec};
use tipring_hal::dahdi::sys;

/// Mounts `spec` in a fresh directory, or prints why FUSE is unavailable and returns `None`
/// (the test then passes as skipped).
pub fn mount(spec: Spec) -> Option<Model> {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "tipring-dahdi-model-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    match Model::mount(&dir, spec) {
        Ok(m) => Some(m),
        Err(ModelError::Unavailable(why)) => {
            eprintln!("SKIPPED: {why}");
            None
        }
        Err(e) => panic!("mounting the model failed: {e}"),
    }
}

/// Opens a node read-write, optionally non-blocking.
pub fn open(model: &Model, name: &str, nonblock: bool) -> io::Result<File> {
    let mut o = OpenOptions::new();
    o.read(true).write(true);
    if nonblock {
        o.custom_flags(libc::O_NONBLOCK);
    }
    o.open(model.path(name))
}

/// Opens `channel` and binds it to `channo`.
pub fn specify(model: &Model, channo: i32, nonblock: bool) -> File {
    let f = open(model, "channel", nonblock).expect("open channel");
    let mut c = channo;
    sys::ioctl_int(f.as_fd(), sys::SPECIFY, &mut c).expect("SPECIFY");
    f
}

/// An `int` request; the errno on failure.
pub fn ioctl_int(f: &File, req: Req, v: i32) -> Result<i32, i32> {
    let mut x = v;
    sys::ioctl_int(f.as_fd(), req, &mut x).map_err(errno_of)?;
    Ok(x)
}

/// A structure request that may write the structure.
pub fn ioctl_mut<T: Copy>(f: &File, req: Req, arg: &mut T) -> Result<(), i32> {
    sys::ioctl_ptr_mut(f.as_fd(), req, arg).map_err(errno_of)
}

/// The platform's ioctl request type (what `sys`'s request numbers are).
pub type Req = libc::Ioctl;

fn errno_of(e: sys::IoctlError) -> i32 {
    match e {
        sys::IoctlError::Os { errno, .. } => errno as i32,
        sys::IoctlError::Size { .. } => panic!("{e}"),
    }
}

/// The next event (0: none).
pub fn getevent(f: &File) -> i32 {
    ioctl_int(f, sys::GETEVENT, 0).expect("GETEVENT")
}

/// `read(2)` into a buffer of `size`: the bytes, or the errno.
pub fn read(f: &File, size: usize) -> Result<Vec<u8>, i32> {
    let mut buf = vec![0u8; size];
    // SAFETY: `buf` is valid for `size` writable bytes; the fd is open.
    let n = unsafe { libc::read(f.as_raw_fd(), buf.as_mut_ptr().cast(), size) };
    if n < 0 {
        return Err(io::Error::last_os_error().raw_os_error().unwrap_or(0));
    }
    buf.truncate(n as usize);
    Ok(buf)
}

/// `write(2)`: the bytes taken, or the errno.
pub fn write(f: &File, data: &[u8]) -> Result<usize, i32> {
    // SAFETY: `data` is valid for `data.len()` bytes; the fd is open.
    let n = unsafe { libc::write(f.as_raw_fd(), data.as_ptr().cast(), data.len()) };
    if n < 0 {
        return Err(io::Error::last_os_error().raw_os_error().unwrap_or(0));
    }
    Ok(n as usize)
}

/// `poll(2)` on one fd: the returned events (0 on timeout).
pub fn poll(f: &File, events: i16, timeout: Duration) -> i16 {
    let mut p = libc::pollfd {
        fd: f.as_raw_fd(),
        events,
        revents: 0,
    };
    // SAFETY: one valid pollfd; the fd is open.
    let r = unsafe { libc::poll(&mut p, 1, timeout.as_millis() as libc::c_int) };
    assert!(r >= 0, "poll: {}", io::Error::last_os_error());
    p.revents
}

/// Drains the channel's events until a given one comes (or the timeout), returning all seen.
pub fn wait_event(f: &File, want: i32, timeout: Duration) -> Vec<i32> {
    let mut seen = Vec::new();
    let ok = tipring_dahdi_model::wait_until(timeout, || {
        loop {
            let e = getevent(f);
            if e == 0 {
                return false;
            }
            seen.push(e);
            if e == want {
                return true;
            }
        }
    });
    assert!(
        ok,
        "event {want} did not come within {timeout:?}; saw {seen:?}"
    );
    seen
}

/// Bytes of linear samples.
pub fn le(samples: &[i16]) -> Vec<u8> {
    samples.iter().flat_map(|s| s.to_ne_bytes()).collect()
}

/// Linear samples of bytes.
pub fn samples(bytes: &[u8]) -> Vec<i16> {
    bytes
        .chunks_exact(2)
        .map(|b| i16::from_ne_bytes([b[0], b[1]]))
        .collect()
}

/// Whether `path` is a mount point now (from /proc/self/mountinfo).
pub fn is_mounted(path: &std::path::Path) -> bool {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let p = path.to_string_lossy();
    info.lines()
        .any(|l| l.split(' ').nth(4).is_some_and(|m| m == p))
}

/// The mount point's path (kept after the model is dropped).
pub fn root_of(model: &Model) -> PathBuf {
    model.root().to_path_buf()
}

/// Sets blocksize and linear mode.
pub fn setup_audio(f: &File, blocksize: i32, linear: bool) {
    ioctl_int(f, sys::SET_BLOCKSIZE, blocksize).expect("SET_BLOCKSIZE");
    ioctl_int(f, sys::SETLINEAR, i32::from(linear)).expect("SETLINEAR");
}
