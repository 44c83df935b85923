//! XMP date properties.
//!
//! Written by hand rather than with an XML parser: we need three simple
//! properties, which writers put either as attributes of `rdf:Description`
//! (`xmp:CreateDate="…"`) or as elements (`<xmp:CreateDate>…</xmp:CreateDate>`),
//! and a plain scan also copes with packets that are cut short or not
//! well-formed, which a strict parser would reject whole. Input is capped at
//! [`MAX_XMP`] bytes and the scan is linear.

/// Largest XMP packet examined (real ones are a few KiB; Photoshop's can
/// reach a few hundred KiB with history).
pub const MAX_XMP: usize = 4 << 20;

/// The XMP properties that can carry a capture time, in order of preference.
pub const DATE_PROPERTIES: [&str; 3] = [
    "photoshop:DateCreated",
    "xmp:CreateDate",
    "exif:DateTimeOriginal",
];

/// The value of the first property of [`DATE_PROPERTIES`] present (as an
/// attribute or an element), with its name.
pub fn date_properties(packet: &[u8]) -> Vec<(&'static str, String)> {
    let packet = &packet[..packet.len().min(MAX_XMP)];
    let text = String::from_utf8_lossy(packet);
    let mut out = Vec::new();
    for name in DATE_PROPERTIES {
        if let Some(v) = property(&text, name) {
            out.push((name, v));
        }
    }
    out
}

/// One property's text value, as attribute `name="v"` / `name='v'` or element
/// `<name>v</name>` (or `<name><rdf:Seq><rdf:li>v` for writers that wrap it).
pub fn property(text: &str, name: &str) -> Option<String> {
    let mut from = 0;
    while let Some(i) = text.get(from..)?.find(name) {
        let at = from + i;
        from = at + name.len();
        // Must be a whole name: preceded by whitespace or '<'.
        let before = text[..at].chars().next_back();
        let after = &text[from..];
        match before {
            Some('<') => {
                let after = after.trim_start();
                let Some(body) = after.strip_prefix('>') else {
                    continue;
                };
                let end = body.find('<').unwrap_or(body.len());
                let v = body[..end].trim();
                if !v.is_empty() {
                    return Some(unescape(v));
                }
                // Wrapped in rdf:Seq/rdf:Alt: take the first rdf:li.
                let close = format!("</{name}");
                let scope = &body[..body.find(&close).unwrap_or(body.len())];
                if let Some(li) = scope.find("<rdf:li") {
                    let li = &scope[li..];
                    let start = li.find('>')? + 1;
                    let end = li[start..].find('<').map(|e| start + e).unwrap_or(li.len());
                    let v = li[start..end].trim();
                    if !v.is_empty() {
                        return Some(unescape(v));
                    }
                }
            }
            Some(c) if c.is_whitespace() => {
                let rest = after.trim_start();
                let Some(rest) = rest.strip_prefix('=') else {
                    continue;
                };
                let rest = rest.trim_start();
                let Some(q) = rest.chars().next().filter(|q| *q == '"' || *q == '\'') else {
                    continue;
                };
                let body = &rest[1..];
                let end = body.find(q)?;
                return Some(unescape(body[..end].trim()));
            }
            _ => {}
        }
    }
    None
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attribute_and_element_forms() {
        let a = br#"<rdf:Description rdf:about="" xmp:CreateDate="2011-07-19T11:36:38" photoshop:DateCreated='2019-05-12T17:13:50.899'/>"#;
        assert_eq!(
            date_properties(a),
            vec![
                (
                    "photoshop:DateCreated",
                    "2019-05-12T17:13:50.899".to_string()
                ),
                ("xmp:CreateDate", "2011-07-19T11:36:38".to_string())
            ]
        );
        let e = b"<rdf:Description><exif:DateTimeOriginal>2020-01-01T10:00:00+01:00</exif:DateTimeOriginal></rdf:Description>";
        assert_eq!(
            date_properties(e),
            vec![(
                "exif:DateTimeOriginal",
                "2020-01-01T10:00:00+01:00".to_string()
            )]
        );
    }

    #[test]
    fn a_longer_name_containing_the_property_does_not_match() {
        let x = br#"<d xmp:CreateDateX="1" photoshop:DateCreatedNot="2"/>"#;
        assert!(date_properties(x).is_empty());
        let y = br#"<d stRef:xmp:CreateDate="2000-01-01"/>"#;
        assert!(date_properties(y).is_empty());
    }

    #[test]
    fn truncated_or_garbage_packets_give_nothing_without_panicking() {
        assert!(date_properties(b"<x xmp:CreateDate=\"2011-07").is_empty());
        assert!(date_properties(b"<xmp:CreateDate").is_empty());
        assert!(date_properties(&[0xff, 0xfe, b'<', 0x80]).is_empty());
        assert!(date_properties(b"").is_empty());
    }

    #[test]
    fn seq_wrapped_values_are_read() {
        let x = b"<xmp:CreateDate><rdf:Seq><rdf:li>2010-01-02</rdf:li></rdf:Seq></xmp:CreateDate>";
        assert_eq!(
            date_properties(x),
            vec![("xmp:CreateDate", "2010-01-02".to_string())]
        );
    }
}
