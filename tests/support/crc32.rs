//! CRC-32 (IEEE 802.3, reflected, polynomial 0xEDB88320), bit by bit: the reference the event
//! stream tests and fuzz target compute message checksums with, independent of the code under
//! test (which uses `crc32fast`). Included with `#[path = ".../tests/support/crc32.rs"]` by
//! `crates/tower-sigv4/tests/eventstream_h2.rs` and `fuzz/src/lib.rs`.

/// The CRC-32 of `bytes`; `crc32(b"123456789") == 0xCBF4_3926`.
pub fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}
