//! The D-channel's frame check sequence (CRC-16/X.25, as HDLC sends it).

/// The FCS of `frame`, in the order it follows the frame on the wire (low byte first).
pub(crate) fn fcs(frame: &[u8]) -> [u8; 2] {
    let mut crc: u16 = 0xFFFF;
    for &b in frame {
        crc ^= u16::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0x8408
            } else {
                crc >> 1
            };
        }
    }
    (!crc).to_le_bytes()
}

#[cfg(test)]
mod tests {
    #[test]
    fn check_value_of_crc16_x25() {
        // The catalogue's check value for "123456789" is 0x906E.
        assert_eq!(super::fcs(b"123456789"), [0x6E, 0x90]);
    }
}
