//! ISO-BMFF / QuickTime box helpers shared by the HEIC and movie writers.

/// Appends a box with a 32-bit size.
pub(crate) fn put_box(out: &mut Vec<u8>, ty: &[u8; 4], payload: &[u8]) {
    out.extend_from_slice(&((payload.len() + 8) as u32).to_be_bytes());
    out.extend_from_slice(ty);
    out.extend_from_slice(payload);
}

/// Appends a FullBox (version + 24-bit flags before the payload).
pub(crate) fn put_full_box(
    out: &mut Vec<u8>,
    ty: &[u8; 4],
    version: u8,
    flags: u32,
    payload: &[u8],
) {
    out.extend_from_slice(&((payload.len() + 12) as u32).to_be_bytes());
    out.extend_from_slice(ty);
    out.extend_from_slice(&((u32::from(version) << 24) | (flags & 0x00FF_FFFF)).to_be_bytes());
    out.extend_from_slice(payload);
}

/// One box inside a buffer: its type and byte ranges.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BoxRef {
    pub ty: [u8; 4],
    /// Offset of the box header.
    pub start: usize,
    /// Offset of the payload.
    pub body: usize,
    /// Offset just past the box.
    pub end: usize,
}

/// The boxes between `start` and `end` of `buf`; stops at the first malformed one.
pub(crate) fn boxes(buf: &[u8], start: usize, end: usize) -> Vec<BoxRef> {
    let mut out = Vec::new();
    let end = end.min(buf.len());
    let mut pos = start;
    while pos + 8 <= end {
        let size32 =
            u32::from_be_bytes([buf[pos], buf[pos + 1], buf[pos + 2], buf[pos + 3]]) as usize;
        let ty = [buf[pos + 4], buf[pos + 5], buf[pos + 6], buf[pos + 7]];
        let (size, hdr) = match size32 {
            0 => (end - pos, 8),
            1 if pos + 16 <= end => {
                let mut b = [0u8; 8];
                b.copy_from_slice(&buf[pos + 8..pos + 16]);
                (u64::from_be_bytes(b) as usize, 16)
            }
            s => (s, 8),
        };
        if size < hdr || pos.saturating_add(size) > end {
            break;
        }
        out.push(BoxRef {
            ty,
            start: pos,
            body: pos + hdr,
            end: pos + size,
        });
        pos += size;
    }
    out
}

/// The first box of type `ty` between `start` and `end`.
pub(crate) fn find(buf: &[u8], start: usize, end: usize, ty: &[u8; 4]) -> Option<BoxRef> {
    boxes(buf, start, end).into_iter().find(|b| &b.ty == ty)
}
