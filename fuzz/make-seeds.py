#!/usr/bin/env python3
"""Writes the small synthetic seed inputs in fuzz/seeds/<target>/.

The seeds are hand-built structures (no real photos: the real-file corpus
may not be copied into the repository). scripts/fuzz-smoke adds the real
corpus as read-only extra seeds when it is present next to the repository.
"""
import os
import struct

here = os.path.dirname(os.path.abspath(__file__))


def put(target, name, data):
    d = os.path.join(here, "seeds", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def tiff(ifd0, exif, gps):
    """Big-endian TIFF; entries are (tag, type, bytes)."""
    def ifd_len(n):
        return 2 + n * 12 + 4
    n0 = len(ifd0) + (1 if exif else 0) + (1 if gps else 0)
    exif_at = 8 + ifd_len(n0)
    gps_at = exif_at + (ifd_len(len(exif)) if exif else 0)
    data_at = gps_at + (ifd_len(len(gps)) if gps else 0)
    data = bytearray()
    unit = {2: 1, 3: 2, 4: 4, 5: 8, 7: 1}
    def ifd(entries):
        out = struct.pack(">H", len(entries))
        for tag, typ, val in sorted(entries):
            out += struct.pack(">HHI", tag, typ, len(val) // unit[typ])
            if len(val) <= 4:
                out += val.ljust(4, b"\0")
            else:
                out += struct.pack(">I", data_at + len(data))
                data.extend(val)
                if len(data) % 2:
                    data.append(0)
        return out + b"\0\0\0\0"
    e0 = list(ifd0)
    if exif:
        e0.append((0x8769, 4, struct.pack(">I", exif_at)))
    if gps:
        e0.append((0x8825, 4, struct.pack(">I", gps_at)))
    body = ifd(e0) + (ifd(exif) if exif else b"") + (ifd(gps) if gps else b"")
    return b"MM\0*" + struct.pack(">I", 8) + body + bytes(data)


def a(s):
    return (2, s.encode() + b"\0")


def makernote(ident):
    mn = b"Apple iOS\0\0\x01MM" + struct.pack(">H", 1)
    mn += struct.pack(">HHII", 0x11, 2, len(ident) + 1, 32)
    mn += b"\0\0\0\0" + ident.encode() + b"\0"
    return mn


T = tiff(
    [(0x0132,) + a("2020:05:15 10:00:00")],
    [(0x9003,) + a("2019:06:09 12:57:32"), (0x9011,) + a("+02:00"), (0x9291,) + a("45"),
     (0x9004,) + a("2019:06:09 12:57:33"), (0x927C, 7, makernote("E905E6C6-C747-4805-942F-9904A0281F02"))],
    [(0x001D,) + a("2019:06:09"), (0x0007, 5, struct.pack(">IIIIII", 10, 1, 57, 1, 2945, 100))],
)
XMP = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF><rdf:Description rdf:about="" '
       b'xmp:CreateDate="2024:04:22 14:38:09.526GMT+02:00" photoshop:DateCreated="2022-01-10T15:15:44.31">'
       b'<exif:DateTimeOriginal>2019-05-12T17:13:50</exif:DateTimeOriginal></rdf:Description></rdf:RDF></x:xmpmeta>')


def bx(kind, payload):
    return struct.pack(">I", len(payload) + 8) + kind + payload


def full(kind, v, payload):
    return bx(kind, bytes([v, 0, 0, 0]) + payload)


def keys_meta(items):
    keys = struct.pack(">II", 0, len(items))
    ilst = b""
    for i, (k, v) in enumerate(items):
        keys += struct.pack(">I", len(k) + 8) + b"mdta" + k.encode()
        ilst += bx(struct.pack(">I", i + 1), bx(b"data", struct.pack(">II", 1, 0) + v.encode()))
    return bx(b"meta", bx(b"hdlr", bytes(24)) + bx(b"keys", keys) + bx(b"ilst", ilst))


def mvhd(secs):
    return full(b"mvhd", 0, struct.pack(">II", secs, secs) + bytes(88))


MOV = (bx(b"ftyp", b"qt  \0\0\0\0qt  ") + bx(b"wide", b"") + bx(b"mdat", bytes(32))
       + bx(b"moov", mvhd(3_000_000_000) + keys_meta([
           ("com.apple.quicktime.creationdate", "2021-04-10T11:43:59+0100"),
           ("com.apple.quicktime.content.identifier", "E905E6C6-C747-4805-942F-9904A0281F02")])
           + bx(b"trak", full(b"tkhd", 0, struct.pack(">II", 5, 5) + bytes(76))
                + bx(b"mdia", full(b"mdhd", 1, struct.pack(">QQ", 7, 7) + bytes(12))))
           + bx(b"uuid", bytes.fromhex("55534d5421d24fcebb88695cfac9c740")
                + bx(b"MTDT", struct.pack(">HHIHHh", 1, 12, 0x0B, 0xD5C4, 0, 60)))))


def heif():
    ftyp = bx(b"ftyp", b"heic\0\0\0\0mif1heic")
    iinf = full(b"iinf", 0, struct.pack(">H", 2)
                + full(b"infe", 2, struct.pack(">HH", 1, 0) + b"Exif\0")
                + full(b"infe", 2, struct.pack(">HH", 2, 0) + b"mime\0application/rdf+xml\0"))
    exif_item = b"\0\0\0\0" + T
    def meta(off):
        iloc = full(b"iloc", 1, bytes([0x44, 0x00]) + struct.pack(">H", 2)
                    + struct.pack(">HHHH", 1, 0, 0, 1) + struct.pack(">II", off, len(exif_item))
                    + struct.pack(">HHHH", 2, 1, 0, 1) + struct.pack(">II", 0, len(XMP)))
        return full(b"meta", 0, bx(b"hdlr", bytes(24)) + iinf + iloc + bx(b"idat", XMP))
    off = len(ftyp) + len(meta(0)) + 8
    return ftyp + meta(off) + bx(b"mdat", exif_item)


HEIF = heif()
CR3 = bx(b"ftyp", b"crx \0\0\0\x01crx isom") + bx(b"moov", bx(b"uuid", bytes.fromhex(
    "85c0b687820f11e08111f4ce462b6a48") + bx(b"CMT1", tiff([(0x0132,) + a("2025:09:07 04:24:47")], [], []))
    + bx(b"CMT2", tiff([(0x9003,) + a("2025:09:06 20:24:47"), (0x9011,) + a("-08:00")], [], []))) + mvhd(5))


def jpeg():
    app1 = b"Exif\0\0" + T
    x = b"http://ns.adobe.com/xap/1.0/\0" + XMP
    return (b"\xff\xd8" + b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1
            + b"\xff\xe1" + struct.pack(">H", len(x) + 2) + x + b"\xff\xda\0\x02\x00\xff\xd9")


def png():
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + b"\0\0\0\0"
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", bytes(13)) + chunk(b"iTXt", b"XML:com.adobe.xmp\0\0\0\0\0" + XMP)
            + chunk(b"eXIf", T) + chunk(b"IEND", b""))


def webp():
    def chunk(t, d):
        return t + struct.pack("<I", len(d)) + d + (b"\0" if len(d) % 2 else b"")
    body = b"WEBP" + chunk(b"VP8X", bytes(10)) + chunk(b"EXIF", T) + chunk(b"XMP ", XMP)
    return b"RIFF" + struct.pack("<I", len(body)) + body


put("exif", "tiff", b"\0" + T)
put("exif", "exif-ifd", b"\x01" + tiff([(0x9003,) + a("2025:09:06 20:24:47")], [], []))
put("exif", "makernote", b"\0" + makernote("ABC"))
put("xmp", "packet", XMP)
put("xmp", "element", b"<xmp:CreateDate><rdf:Seq><rdf:li>2010-01-02</rdf:li></rdf:Seq></xmp:CreateDate>")
put("xmp", "name", b"Screenshot 2019-05-21 at 10.45.52.png")
put("boxes", "mov", MOV)
put("boxes", "heif", HEIF)
put("boxes", "cr3", CR3)
for name, data in [("jpeg", jpeg()), ("png", png()), ("webp", webp()), ("tiff", T), ("mov", MOV),
                   ("heif", HEIF), ("cr3", CR3), ("aae", b'<?xml version="1.0"?><plist><dict/></plist>')]:
    put("media", name, data)
