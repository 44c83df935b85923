//! What Photos knows about an asset beyond its file (favorite, title,
//! caption, keywords, albums, people and their faces, location, …), and its
//! rendering as an XMP sidecar or a JSON file: facts in, bytes out.
//!
//! The mapping is documented in `docs/sidecars.md`. The output is
//! deterministic (sorted lists, no write times, no version numbers), so a run
//! that finds nothing changed produces the same bytes and rewrites nothing.
//!
//! The XMP is written from a fixed template rather than through an XML
//! library: the structure never varies, and the only thing that needs care,
//! escaping text that comes from the phone, is done here in one place
//! ([`xml_text`]) and tested against ExifTool.

use serde::Serialize;

/// The namespace of camroll's own XMP properties (`camroll:`).
pub const CAMROLL_NS: &str = "urn:camroll:xmp:1.0/";

/// Longest text value written, in bytes; longer ones are cut at a character
/// boundary (a hostile library must not make sidecars unbounded).
pub const MAX_TEXT: usize = 64 * 1024;

/// Most entries written per list (keywords, albums, people, faces).
pub const MAX_LIST: usize = 4096;

/// A named face and where it is in the picture, in MWG region terms:
/// normalised (0–1) centre and size, origin at the top left of the image as
/// displayed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FaceRegion {
    /// The person's name.
    pub name: String,
    /// Centre, horizontal, 0 (left) to 1 (right).
    pub x: f64,
    /// Centre, vertical, 0 (top) to 1 (bottom).
    pub y: f64,
    /// Width, as a fraction of the image width.
    pub w: f64,
    /// Height, as a fraction of the image height.
    pub h: f64,
}

/// A burst frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Burst {
    /// The burst's UUID (`ZAVALANCHEUUID`), shared by its frames.
    pub uuid: String,
    /// The frame was picked (by the user, or as the burst's key photo).
    pub picked: bool,
}

/// The archived names of a Live Photo's two files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LivePair {
    /// The still, e.g. `IMG_0001.HEIC`.
    pub still: String,
    /// The movie, e.g. `IMG_0001.MOV`.
    pub movie: String,
}

/// Everything a sidecar says about one asset.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct AssetMeta {
    /// The phone's asset UUID (`ZUUID`).
    pub uuid: String,
    /// Marked as a favorite.
    pub favorite: bool,
    /// In the Hidden album.
    pub hidden: bool,
    /// The title given in Photos.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// The caption (description).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub caption: Option<String>,
    /// Keywords, sorted, without repeats.
    pub keywords: Vec<String>,
    /// User albums the asset is in, each as its folder path then its name
    /// (`["Trips", "2023", "Rome"]`), sorted.
    pub albums: Vec<Vec<String>>,
    /// Named people in the picture, sorted, without repeats.
    pub people: Vec<String>,
    /// Faces of named people with their rectangles, where the library has them.
    pub faces: Vec<FaceRegion>,
    /// Pixel size the face rectangles refer to (width, height).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dimensions: Option<(u32, u32)>,
    /// Latitude and longitude in degrees (the library's, with the user's corrections).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<(f64, f64)>,
    /// Capture time with offset, e.g. `2023-06-01T12:00:00+02:00`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// A burst frame.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub burst: Option<Burst>,
    /// A Live Photo: both files' archived names.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub live_photo: Option<LivePair>,
}

impl AssetMeta {
    /// Sorts and de-duplicates the lists, bounds them and their strings, and
    /// drops values that cannot be written (non-finite coordinates), so the
    /// same facts always give the same bytes.
    pub fn normalize(&mut self) {
        fn text(s: &mut String) {
            if s.len() > MAX_TEXT {
                let mut end = MAX_TEXT;
                while !s.is_char_boundary(end) {
                    end -= 1;
                }
                s.truncate(end);
            }
        }
        fn list(v: &mut Vec<String>) {
            v.iter_mut().for_each(text);
            v.retain(|s| !s.trim().is_empty());
            v.sort();
            v.dedup();
            v.truncate(MAX_LIST);
        }
        text(&mut self.uuid);
        for t in [&mut self.title, &mut self.caption] {
            if let Some(s) = t {
                text(s);
            }
            if t.as_ref().is_some_and(|s| s.trim().is_empty()) {
                *t = None;
            }
        }
        list(&mut self.keywords);
        list(&mut self.people);
        for a in &mut self.albums {
            a.iter_mut().for_each(text);
        }
        self.albums.retain(|a| !a.is_empty());
        self.albums.sort();
        self.albums.dedup();
        self.albums.truncate(MAX_LIST);
        self.faces.retain(|f| {
            [f.x, f.y, f.w, f.h]
                .iter()
                .all(|v| v.is_finite() && (0.0..=1.0).contains(v))
                && !f.name.trim().is_empty()
        });
        for f in &mut self.faces {
            text(&mut f.name);
        }
        self.faces.sort_by(|a, b| {
            a.name
                .cmp(&b.name)
                .then(a.x.total_cmp(&b.x))
                .then(a.y.total_cmp(&b.y))
        });
        self.faces.truncate(MAX_LIST);
        if self.faces.is_empty() {
            self.dimensions = None;
        }
        self.location = self.location.filter(|(lat, lon)| {
            lat.is_finite() && lon.is_finite() && lat.abs() <= 90.0 && lon.abs() <= 180.0
        });
        if let Some(c) = &mut self.created {
            text(c);
        }
        if let Some(b) = &mut self.burst {
            text(&mut b.uuid);
        }
        if let Some(l) = &mut self.live_photo {
            text(&mut l.still);
            text(&mut l.movie);
        }
    }
}

/// Whether a file's first bytes are a sidecar camroll wrote (so `rebuild`
/// can give it back its role).
pub fn is_camroll_sidecar(head: &[u8]) -> bool {
    let text = String::from_utf8_lossy(&head[..head.len().min(4096)]);
    text.contains(&format!("xmlns:camroll=\"{CAMROLL_NS}\""))
        || text.trim_start().starts_with("{\n  \"camroll_sidecar\":")
}

/// What camroll reads back from its own sidecars (for `camroll albums` and
/// the report): enough to group originals, not a general XMP reader.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SidecarFacts {
    /// The phone's asset UUID.
    pub uuid: String,
    /// A favorite.
    pub favorite: bool,
    /// Album paths (folders, then the album).
    pub albums: Vec<Vec<String>>,
}

fn xml_unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&#xD;", "\r")
        .replace("&amp;", "&")
}

/// Reads a sidecar camroll wrote (XMP or JSON); `None` for anything else.
pub fn read_facts(bytes: &[u8]) -> Option<SidecarFacts> {
    if !is_camroll_sidecar(bytes) {
        return None;
    }
    let text = std::str::from_utf8(bytes).ok()?;
    if text.trim_start().starts_with('{') {
        let v: serde_json::Value = serde_json::from_str(text).ok()?;
        let albums = v["albums"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|p| {
                        p.as_array().map(|p| {
                            p.iter()
                                .filter_map(|s| s.as_str().map(str::to_string))
                                .collect()
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        return Some(SidecarFacts {
            uuid: v["uuid"].as_str().unwrap_or_default().to_string(),
            favorite: v["favorite"] == true,
            albums,
        });
    }
    let simple = |prop: &str| {
        let open = format!("<{prop}>");
        let start = text.find(&open)? + open.len();
        let end = text[start..].find('<')? + start;
        Some(xml_unescape(&text[start..end]))
    };
    let mut albums = Vec::new();
    if let Some(start) = text.find("<lr:hierarchicalSubject>") {
        let end = text[start..]
            .find("</lr:hierarchicalSubject>")
            .map_or(text.len(), |e| start + e);
        for li in text[start..end].split("<rdf:li>").skip(1) {
            let v = xml_unescape(li.split("</rdf:li>").next().unwrap_or(""));
            let mut parts: Vec<String> = v.split('|').map(str::to_string).collect();
            if parts.first().map(String::as_str) == Some("Albums") && parts.len() > 1 {
                parts.remove(0);
                albums.push(parts);
            }
        }
    }
    Some(SidecarFacts {
        uuid: simple("camroll:AssetUUID").unwrap_or_default(),
        favorite: simple("xmp:Rating").as_deref() == Some("5"),
        albums,
    })
}

/// Which sidecar format to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SidecarFormat {
    /// `<name>.xmp`, for photo tools.
    Xmp,
    /// `<name>.json`, the same facts for scripts.
    Json,
}

impl SidecarFormat {
    /// The extension added to the archived file's name (`.xmp`, `.json`).
    pub fn extension(self) -> &'static str {
        match self {
            SidecarFormat::Xmp => ".xmp",
            SidecarFormat::Json => ".json",
        }
    }

    /// The sidecar's bytes.
    pub fn render(self, meta: &AssetMeta) -> Vec<u8> {
        match self {
            SidecarFormat::Xmp => render_xmp(meta),
            SidecarFormat::Json => render_json(meta),
        }
    }
}

/// Text as XML character data. `&`, `<` and `>` become entities, a carriage
/// return becomes `&#xD;` (parsers would otherwise turn it into a line feed).
/// Characters XML 1.0 cannot carry at all, not even as references (NUL and
/// the other C0 controls except tab and line feed, U+FFFE, U+FFFF), become
/// U+FFFD; the JSON sidecar keeps them exactly.
pub fn xml_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#xD;"),
            '\t' | '\n' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// A coordinate as XMP's `exif:GPSLatitude`/`GPSLongitude` want it:
/// `DDD,MM.mmmmmmK` (degrees, decimal minutes, hemisphere).
pub fn gps_coordinate(value: f64, positive: char, negative: char) -> String {
    let hemi = if value < 0.0 { negative } else { positive };
    let v = value.abs();
    let mut deg = v.trunc();
    let mut min = (v - deg) * 60.0;
    // 59.9999999 minutes would print as 60.000000.
    if format!("{min:.6}").starts_with("60") {
        deg += 1.0;
        min = 0.0;
    }
    format!("{deg:.0},{min:09.6}{hemi}")
}

/// The album path as Lightroom's hierarchical keyword, `Albums|Folder|Album`
/// (`|` separates levels, so a `|` inside a name is written as `/`).
pub fn album_keyword(path: &[String]) -> String {
    std::iter::once("Albums".to_string())
        .chain(path.iter().map(|p| p.replace('|', "/")))
        .collect::<Vec<_>>()
        .join("|")
}

fn bag(out: &mut String, prop: &str, items: &[String]) {
    if items.is_empty() {
        return;
    }
    out.push_str(&format!("   <{prop}>\n    <rdf:Bag>\n"));
    for i in items {
        out.push_str(&format!("     <rdf:li>{}</rdf:li>\n", xml_text(i)));
    }
    out.push_str(&format!("    </rdf:Bag>\n   </{prop}>\n"));
}

fn alt(out: &mut String, prop: &str, text: &Option<String>) {
    if let Some(t) = text {
        out.push_str(&format!(
            "   <{prop}>\n    <rdf:Alt>\n     <rdf:li xml:lang=\"x-default\">{}</rdf:li>\n    </rdf:Alt>\n   </{prop}>\n",
            xml_text(t)
        ));
    }
}

fn simple(out: &mut String, prop: &str, value: &str) {
    out.push_str(&format!("   <{prop}>{}</{prop}>\n", xml_text(value)));
}

/// A fraction as written in region areas: enough digits, no float noise.
fn frac(v: f64) -> String {
    let s = format!("{v:.6}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s.is_empty() || s == "-0" {
        "0".into()
    } else {
        s.to_string()
    }
}

/// The XMP sidecar (UTF-8, an `xpacket`-wrapped `x:xmpmeta`).
pub fn render_xmp(meta: &AssetMeta) -> Vec<u8> {
    let mut m = meta.clone();
    m.normalize();
    let mut o = String::new();
    o.push_str("<?xpacket begin=\"\u{feff}\" id=\"W5M0MpCehiHzreSzNTczkc9d\"?>\n");
    o.push_str("<x:xmpmeta xmlns:x=\"adobe:ns:meta/\" x:xmptk=\"camroll\">\n");
    o.push_str(" <rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\">\n");
    o.push_str("  <rdf:Description rdf:about=\"\"\n");
    for (prefix, uri) in [
        ("dc", "http://purl.org/dc/elements/1.1/"),
        ("xmp", "http://ns.adobe.com/xap/1.0/"),
        ("photoshop", "http://ns.adobe.com/photoshop/1.0/"),
        ("exif", "http://ns.adobe.com/exif/1.0/"),
        ("lr", "http://ns.adobe.com/lightroom/1.0/"),
        ("Iptc4xmpExt", "http://iptc.org/std/Iptc4xmpExt/2008-02-29/"),
        (
            "mwg-rs",
            "http://www.metadataworkinggroup.com/schemas/regions/",
        ),
        ("stDim", "http://ns.adobe.com/xap/1.0/sType/Dimensions#"),
        ("stArea", "http://ns.adobe.com/xmp/sType/Area#"),
        ("camroll", CAMROLL_NS),
    ] {
        o.push_str(&format!("    xmlns:{prefix}=\"{uri}\"\n"));
    }
    o.push_str("  >\n");
    if m.favorite {
        simple(&mut o, "xmp:Rating", "5");
    }
    if let Some(c) = &m.created {
        simple(&mut o, "xmp:CreateDate", c);
        simple(&mut o, "photoshop:DateCreated", c);
    }
    alt(&mut o, "dc:title", &m.title);
    alt(&mut o, "dc:description", &m.caption);
    bag(&mut o, "dc:subject", &m.keywords);
    let albums: Vec<String> = m.albums.iter().map(|a| album_keyword(a)).collect();
    bag(&mut o, "lr:hierarchicalSubject", &albums);
    bag(&mut o, "Iptc4xmpExt:PersonInImage", &m.people);
    if !m.faces.is_empty() {
        o.push_str("   <mwg-rs:Regions rdf:parseType=\"Resource\">\n");
        if let Some((w, h)) = m.dimensions {
            o.push_str(&format!(
                "    <mwg-rs:AppliedToDimensions rdf:parseType=\"Resource\">\n     <stDim:w>{w}</stDim:w>\n     <stDim:h>{h}</stDim:h>\n     <stDim:unit>pixel</stDim:unit>\n    </mwg-rs:AppliedToDimensions>\n"
            ));
        }
        o.push_str("    <mwg-rs:RegionList>\n     <rdf:Bag>\n");
        for f in &m.faces {
            o.push_str(&format!(
                "      <rdf:li rdf:parseType=\"Resource\">\n       <mwg-rs:Type>Face</mwg-rs:Type>\n       <mwg-rs:Name>{}</mwg-rs:Name>\n       <mwg-rs:Area rdf:parseType=\"Resource\">\n        <stArea:x>{}</stArea:x>\n        <stArea:y>{}</stArea:y>\n        <stArea:w>{}</stArea:w>\n        <stArea:h>{}</stArea:h>\n        <stArea:unit>normalized</stArea:unit>\n       </mwg-rs:Area>\n      </rdf:li>\n",
                xml_text(&f.name),
                frac(f.x),
                frac(f.y),
                frac(f.w),
                frac(f.h)
            ));
        }
        o.push_str("     </rdf:Bag>\n    </mwg-rs:RegionList>\n   </mwg-rs:Regions>\n");
    }
    if let Some((lat, lon)) = m.location {
        simple(&mut o, "exif:GPSLatitude", &gps_coordinate(lat, 'N', 'S'));
        simple(&mut o, "exif:GPSLongitude", &gps_coordinate(lon, 'E', 'W'));
    }
    simple(&mut o, "camroll:AssetUUID", &m.uuid);
    if m.hidden {
        simple(&mut o, "camroll:Hidden", "True");
    }
    if let Some(b) = &m.burst {
        simple(&mut o, "camroll:BurstUUID", &b.uuid);
        simple(
            &mut o,
            "camroll:BurstPick",
            if b.picked { "True" } else { "False" },
        );
    }
    if let Some(l) = &m.live_photo {
        simple(&mut o, "camroll:LivePhotoStill", &l.still);
        simple(&mut o, "camroll:LivePhotoMovie", &l.movie);
    }
    o.push_str("  </rdf:Description>\n </rdf:RDF>\n</x:xmpmeta>\n<?xpacket end=\"w\"?>\n");
    o.into_bytes()
}

/// The JSON variant: the same facts, exact strings, one object.
pub fn render_json(meta: &AssetMeta) -> Vec<u8> {
    #[derive(Serialize)]
    struct Doc<'a> {
        camroll_sidecar: u32,
        #[serde(flatten)]
        meta: &'a AssetMeta,
    }
    let mut m = meta.clone();
    m.normalize();
    let mut v = serde_json::to_vec_pretty(&Doc {
        camroll_sidecar: 1,
        meta: &m,
    })
    .unwrap_or_default();
    v.push(b'\n');
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_text_is_escaped_or_replaced() {
        assert_eq!(xml_text("a<b>&c"), "a&lt;b&gt;&amp;c");
        assert_eq!(xml_text("x\0y\u{1}z"), "x\u{FFFD}y\u{FFFD}z");
        assert_eq!(xml_text("l1\r\nl2\tt"), "l1&#xD;\nl2\tt");
        assert_eq!(xml_text("שלום"), "שלום");
        assert_eq!(xml_text("</rdf:li>]]>"), "&lt;/rdf:li&gt;]]&gt;");
    }

    #[test]
    fn coordinates_are_degrees_and_decimal_minutes() {
        assert_eq!(gps_coordinate(48.8583701, 'N', 'S'), "48,51.502206N");
        assert_eq!(gps_coordinate(-33.5, 'N', 'S'), "33,30.000000S");
        assert_eq!(gps_coordinate(-0.25, 'E', 'W'), "0,15.000000W");
        assert_eq!(gps_coordinate(10.99999999999, 'E', 'W'), "11,00.000000E");
    }

    #[test]
    fn albums_become_hierarchical_keywords() {
        let p = vec!["Trips".to_string(), "A|B".to_string()];
        assert_eq!(album_keyword(&p), "Albums|Trips|A/B");
    }

    #[test]
    fn output_is_deterministic_and_bounded() {
        let mut a = AssetMeta {
            uuid: "U".into(),
            keywords: vec!["b".into(), "a".into(), "b".into(), " ".into()],
            title: Some("x".repeat(MAX_TEXT + 10)),
            ..Default::default()
        };
        let one = render_xmp(&a);
        a.keywords.reverse();
        assert_eq!(one, render_xmp(&a));
        a.normalize();
        assert_eq!(a.keywords, ["a", "b"]);
        assert_eq!(a.title.as_ref().unwrap().len(), MAX_TEXT);
        assert!(is_camroll_sidecar(&render_xmp(&a)) && is_camroll_sidecar(&render_json(&a)));
        assert!(!is_camroll_sidecar(
            b"<x:xmpmeta xmlns:x=\"adobe:ns:meta/\">"
        ));
        a.favorite = true;
        a.albums = vec![vec!["F & G".into(), "<A>".into()]];
        for bytes in [render_xmp(&a), render_json(&a)] {
            let f = read_facts(&bytes).unwrap();
            assert_eq!((f.uuid.as_str(), f.favorite), ("U", true));
            assert_eq!(f.albums, a.albums);
        }
        let j: serde_json::Value = serde_json::from_slice(&render_json(&a)).unwrap();
        assert_eq!(j["camroll_sidecar"], 1);
        assert_eq!(j["uuid"], "U");
    }
}
