//! Request arguments as bytes: the FUSE kernel module copies exactly the size a request
//! number encodes, so arguments arrive and leave as byte slices.

use tipring_hal::dahdi::sys;

/// A plain C structure: no padding, no pointers, every bit pattern a valid value.
///
/// # Safety
/// Implement only for `repr(C)` (or packed) types made of integers and integer arrays with
/// no padding bytes.
pub(crate) unsafe trait Plain: Copy {}

// SAFETY: 34 `c_int`/`u32` fields and one `c_char` array at a 4-aligned offset whose length
// (40) keeps the next field aligned: no padding, all bit patterns valid.
unsafe impl Plain for sys::Params {}
// SAFETY: six `c_int`s.
unsafe impl Plain for sys::BufferInfo {}
// SAFETY: packed, so no padding; integers and `c_char` arrays only.
unsafe impl Plain for sys::SpanInfo {}
// SAFETY: one `c_int` and 256 `c_char`s: 260 bytes, no padding.
unsafe impl Plain for sys::DialOperation {}
// SAFETY: two `u32`s.
unsafe impl Plain for sys::EchoCanParams {}
// SAFETY: two 80-byte `c_char` arrays.
unsafe impl Plain for sys::Version {}

/// `bytes` as a `T`, when it is exactly `T`'s size.
pub(crate) fn from_bytes<T: Plain>(bytes: &[u8]) -> Option<T> {
    if bytes.len() != size_of::<T>() {
        return None;
    }
    // SAFETY: the slice holds exactly `size_of::<T>()` initialised bytes, `read_unaligned`
    // does not need alignment, and `T: Plain` accepts any bit pattern.
    Some(unsafe { std::ptr::read_unaligned(bytes.as_ptr().cast::<T>()) })
}

/// The bytes of `value`.
pub(crate) fn to_bytes<T: Plain>(value: &T) -> Vec<u8> {
    // SAFETY: `value` is a valid `T` that `T: Plain` says has no padding, so all
    // `size_of::<T>()` bytes behind the reference are initialised; the slice lives no longer
    // than the borrow and is copied at once.
    unsafe { std::slice::from_raw_parts((value as *const T).cast::<u8>(), size_of::<T>()) }.to_vec()
}

/// An `int` argument.
pub(crate) fn int_from(bytes: &[u8]) -> Option<i32> {
    Some(i32::from_ne_bytes(bytes.try_into().ok()?))
}

/// `s` into a NUL-terminated C string field, truncated like `strlcpy`.
pub(crate) fn put_str(field: &mut [libc::c_char], s: &str) {
    field.fill(0);
    let n = s.len().min(field.len().saturating_sub(1));
    for (d, b) in field.iter_mut().zip(&s.as_bytes()[..n]) {
        *d = *b as libc::c_char;
    }
}

/// A NUL-terminated C string field as bytes (without the NUL; the whole field when none).
pub(crate) fn get_str(field: &[libc::c_char]) -> Vec<u8> {
    field
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_round_trip_and_wrong_sizes_are_refused() {
        let mut p = sys::Params {
            channo: 7,
            chan_alarms: 8,
            ..Default::default()
        };
        put_str(&mut p.name, "MODEL/1/7");
        let b = to_bytes(&p);
        assert_eq!(b.len(), 136);
        let q: sys::Params = from_bytes(&b).unwrap();
        assert_eq!((q.channo, q.chan_alarms), (7, 8));
        assert_eq!(get_str(&q.name), b"MODEL/1/7");
        assert!(from_bytes::<sys::Params>(&b[..135]).is_none());
        assert_eq!(int_from(&[1, 0, 0, 0, 0]), None);
    }

    #[test]
    fn strings_are_truncated_like_strlcpy() {
        let mut f = [1 as libc::c_char; 6];
        put_str(&mut f, "ANALOG_MIXED");
        assert_eq!(get_str(&f), b"ANALO");
        assert_eq!(f[5], 0);
    }
}
