//! Identifier text shared by the device source (HostIDs) and the synthetic
//! media (ContentIdentifiers).

/// 16 bytes as a version-4 UUID in Apple's upper-case `8-4-4-4-12` form
/// (the version and variant bits are set here).
pub fn uuid_v4_text(mut b: [u8; 16]) -> String {
    b[6] = (b[6] & 0x0F) | 0x40;
    b[8] = (b[8] & 0x3F) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02X}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn version_and_variant_bits_are_set() {
        let u = super::uuid_v4_text([0xFF; 16]);
        assert_eq!(u, "FFFFFFFF-FFFF-4FFF-BFFF-FFFFFFFFFFFF");
    }
}
