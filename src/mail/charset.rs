//! Bytes to text as Japanese mail clients really write it: charset labels and their aliases,
//! ISO-2022-JP with its Windows and JIS X 0212 variants, text that declares no charset (JIS
//! escapes, else UTF-8, then Shift_JIS, then EUC-JP), RFC 2047 encoded words, and base64 and
//! quoted-printable read as leniently as RFC 2045 allows.
//!
//! Decoding is encoding_rs's: its Shift_JIS is CP932 (Windows-31J) and its JIS X 0208 index, shared
//! by EUC-JP and ISO-2022-JP, has the NEC row 13 and IBM extensions with Microsoft's mappings
//! (0x8160 and JIS 0x2141 are U+FF5E FULLWIDTH TILDE, as Windows shows them).

use encoding_rs::{EUC_JP, Encoding, SHIFT_JIS, UTF_8};
use std::borrow::Cow;

pub const UTF_8_NAME: &str = "UTF-8";
pub const SHIFT_JIS_NAME: &str = "Shift_JIS";
pub const EUC_JP_NAME: &str = "EUC-JP";
pub const ISO_2022_JP_NAME: &str = "ISO-2022-JP";

/// Text, and the charset it was read as when that was guessed rather than taken from a label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    pub text: String,
    pub guess: Option<&'static str>,
}

enum Charset {
    Iso2022Jp,
    Encoding(&'static Encoding),
    /// What encoding_rs does not know but mail-parser does (UTF-7, for one).
    Other(mail_parser::decoders::charsets::DecoderFnc),
}

impl Charset {
    /// The text, and whether it decoded without replacement characters.
    fn decode(&self, bytes: &[u8]) -> (String, bool) {
        match self {
            Charset::Iso2022Jp => iso_2022_jp(bytes),
            Charset::Encoding(encoding) => {
                let (text, _, errors) = encoding.decode(bytes);
                (text.into_owned(), !errors)
            }
            Charset::Other(decoder) => {
                let text = decoder(bytes);
                let clean = !text.contains('\u{FFFD}');
                (text, clean)
            }
        }
    }
}

const ISO_2022_JP_LABELS: &[&str] = &[
    "iso-2022-jp",
    "iso2022jp",
    "csiso2022jp",
    "iso-2022-jp-1",
    "iso-2022-jp-2",
    "csiso2022jp2",
    "iso-2022-jp-3",
    "iso-2022-jp-2004",
    "iso-2022-jp-ms",
    "iso-2022-jp-ext",
    "cp50220",
    "cp50221",
    "cp50222",
    "x-cp50220",
    "x-cp50221",
    "x-cp50222",
    "windows-50220",
    "windows-50221",
    "windows-50222",
    "x-windows-50220",
    "x-windows-50221",
    "x-windows-iso2022jp",
    "cp50220raw",
    "jis",
    "jis7",
    "jis-ms",
];

const SHIFT_JIS_LABELS: &[&str] = &[
    "shift-jis",
    "shiftjis",
    "sjis",
    "s-jis",
    "x-sjis",
    "ms-kanji",
    "csshiftjis",
    "windows-31j",
    "cswindows31j",
    "cp932",
    "ms932",
    "x-ms-cp932",
    "windows-932",
    "ibm-943",
    "ibm943",
    "x-ibm943",
    "sjis-win",
    "sjis-open",
    "shift-jis-2004",
    "shift-jisx0213",
    "x-sjis-0213",
];

const EUC_JP_LABELS: &[&str] = &[
    "euc-jp",
    "eucjp",
    "x-euc-jp",
    "x-eucjp",
    "cseucpkdfmtjapanese",
    "eucjp-ms",
    "euc-jp-ms",
    "eucjpms",
    "eucjp-win",
    "eucjp-open",
    "x-eucjp-open",
    "x-euc-jp-linux",
    "cp51932",
    "windows-51932",
    "euc-jis-2004",
    "euc-jisx0213",
    "ujis",
];

/// Labels that promise 7-bit text: 8-bit bytes under them are undeclared text.
const ASCII_LABELS: &[&str] = &[
    "us-ascii",
    "ascii",
    "us",
    "ansi-x3.4-1968",
    "ansi-x3.4-1986",
    "iso646-us",
    "iso-ir-6",
    "csascii",
    "cp367",
    "ibm367",
];

/// The charset a label names; `None` for no usable label (absent, ASCII, unknown).
fn charset(label: &str) -> Option<Charset> {
    let label = label.trim().trim_matches('"').trim();
    // RFC 2231 allows a language after the charset: ISO-2022-JP*ja.
    let label = label.split('*').next().unwrap_or_default();
    let normal = label.to_ascii_lowercase().replace('_', "-");
    let known = |labels: &[&str]| labels.contains(&normal.as_str());
    if normal.is_empty() || known(ASCII_LABELS) {
        None
    } else if known(ISO_2022_JP_LABELS) {
        Some(Charset::Iso2022Jp)
    } else if known(SHIFT_JIS_LABELS) {
        Some(Charset::Encoding(SHIFT_JIS))
    } else if known(EUC_JP_LABELS) {
        Some(Charset::Encoding(EUC_JP))
    } else if let Some(encoding) = Encoding::for_label(label.as_bytes()) {
        Some(Charset::Encoding(encoding))
    } else {
        mail_parser::decoders::charsets::map::charset_decoder(label.as_bytes()).map(Charset::Other)
    }
}

/// What a label tells about the bytes under it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Declared {
    /// No label, an ASCII one (whose 8-bit bytes are undeclared text) or an unknown one.
    Nothing,
    /// One of the charsets undeclared text is guessed as, by its name here.
    Guessable(&'static str),
    Other,
}

pub fn declared(label: Option<&str>) -> Declared {
    match label.and_then(charset) {
        None => Declared::Nothing,
        Some(Charset::Iso2022Jp) => Declared::Guessable(ISO_2022_JP_NAME),
        Some(Charset::Encoding(e)) if e == SHIFT_JIS => Declared::Guessable(SHIFT_JIS_NAME),
        Some(Charset::Encoding(e)) if e == EUC_JP => Declared::Guessable(EUC_JP_NAME),
        Some(Charset::Encoding(e)) if e == UTF_8 => Declared::Guessable(UTF_8_NAME),
        Some(_) => Declared::Other,
    }
}

/// The charset of a message's undeclared 8-bit texts read together: a short header alone is often
/// clean in both Shift_JIS and EUC-JP, all of a message's texts together rarely.
pub fn joint_guess(samples: &[&[u8]]) -> Option<&'static str> {
    let joined = samples.join(&b'\n');
    if joined.is_ascii() {
        return None;
    }
    match guess(&joined, None) {
        (decoded, true) => decoded.guess,
        _ => None,
    }
}

/// Decodes text labelled `label` (or nothing). 7-bit text with JIS escapes is ISO-2022-JP
/// whatever the label says; a label that does not fit the bytes gives way to a guess that does.
/// `hint`: what the rest of the message is written in, preferred by a guess when it fits.
pub fn decode(bytes: &[u8], label: Option<&str>, hint: Option<&'static str>) -> Decoded {
    let labelled = label.and_then(charset);
    if !matches!(labelled, Some(Charset::Iso2022Jp)) && bytes.is_ascii() && has_jis_escape(bytes) {
        let (text, _) = iso_2022_jp(bytes);
        return Decoded { text, guess: Some(ISO_2022_JP_NAME) };
    }
    match labelled.map(|charset| charset.decode(bytes)) {
        Some((text, true)) => Decoded { text, guess: None },
        Some((text, false)) => match guess(bytes, hint) {
            (guessed, true) => guessed,
            _ => Decoded { text, guess: None },
        },
        None if bytes.is_ascii() => Decoded { text: String::from_utf8_lossy(bytes).into_owned(), guess: None },
        None => guess(bytes, hint).0,
    }
}

/// An escape sequence of ISO-2022-JP (RFC 1468) or its variants.
pub fn has_jis_escape(bytes: &[u8]) -> bool {
    bytes.windows(3).any(|w| w[0] == ESC && matches!(&w[1..], b"$B" | b"$@" | b"(B" | b"(J" | b"(I" | b"$("))
}

/// 8-bit text without a label: UTF-8 if it is valid UTF-8; else the hint if it decodes cleanly;
/// else Shift_JIS (CP932), then EUC-JP, the first that decodes cleanly. Much EUC-JP text is also
/// valid Shift_JIS (a kanji's two bytes become two half-width katakana, and the other way round),
/// so when both readings are clean the one with fewer characters rare in mail (half-width
/// katakana, private use, control characters) wins, Shift_JIS on a tie. With nothing clean, the
/// reading with the fewest replacement characters. The flag: decoded cleanly.
fn guess(bytes: &[u8], hint: Option<&'static str>) -> (Decoded, bool) {
    if let Ok(text) = std::str::from_utf8(bytes) {
        return (Decoded { text: text.to_owned(), guess: Some(UTF_8_NAME) }, true);
    }
    let read = |name: &'static str, encoding: &'static Encoding| {
        let (text, errors) = encoding.decode_without_bom_handling(bytes);
        (Decoded { text: text.into_owned(), guess: Some(name) }, !errors)
    };
    let hinted = match hint {
        Some(SHIFT_JIS_NAME) => Some(read(SHIFT_JIS_NAME, SHIFT_JIS)),
        Some(EUC_JP_NAME) => Some(read(EUC_JP_NAME, EUC_JP)),
        _ => None,
    };
    if let Some(reading @ (_, true)) = hinted {
        return reading;
    }
    let sjis = read(SHIFT_JIS_NAME, SHIFT_JIS);
    let euc = read(EUC_JP_NAME, EUC_JP);
    match (sjis.1, euc.1) {
        (true, true) if oddities(&euc.0.text) < oddities(&sjis.0.text) => euc,
        (true, _) => sjis,
        (false, true) => euc,
        (false, false) => {
            let replaced = |d: &Decoded| d.text.chars().filter(|&c| c == '\u{FFFD}').count();
            let mut best = read(UTF_8_NAME, UTF_8);
            for reading in [sjis, euc] {
                if replaced(&reading.0) < replaced(&best.0) {
                    best = reading;
                }
            }
            best
        }
    }
}

fn oddities(text: &str) -> usize {
    text.chars()
        .filter(|&c| {
            matches!(c, '\u{FF61}'..='\u{FF9F}' | '\u{E000}'..='\u{F8FF}')
                || (c.is_control() && !matches!(c, '\t' | '\r' | '\n'))
        })
        .count()
}

const ESC: u8 = 0x1B;
/// A byte EUC-JP rejects on its own: one replacement character.
const INVALID: u8 = 0xFF;

#[derive(Clone, Copy, PartialEq)]
enum JisSet {
    Ascii,
    Jis0208,
    Jis0212,
    Katakana,
    /// A double-byte set this decoder does not read (GB 2312, KS C 5601, JIS X 0213 plane 2).
    Unsupported,
}

/// ISO-2022-JP and its supersets (CP50220/1/2, ISO-2022-JP-1/2/3), rewritten as EUC-JP bytes
/// and decoded by encoding_rs: JIS X 0208 with the NEC and IBM rows, JIS X 0212, half-width
/// katakana by ESC ( I or by SO/SI. Unlike the WHATWG decoder, a redundant escape sequence is not
/// an error, and a line end returns to ASCII (RFC 1468 lines end there). The flag: decoded cleanly.
pub fn iso_2022_jp(bytes: &[u8]) -> (String, bool) {
    let mut euc = Vec::with_capacity(bytes.len() + bytes.len() / 2);
    let mut set = JisSet::Ascii;
    let mut shifted_out = false;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == ESC {
            match designation(&bytes[i + 1..]) {
                Some((len, next)) => {
                    set = next.unwrap_or(set);
                    i += 1 + len;
                }
                None => {
                    euc.push(INVALID);
                    i += 1;
                }
            }
            continue;
        }
        let double_byte = matches!(set, JisSet::Jis0208 | JisSet::Jis0212 | JisSet::Unsupported);
        match b {
            0x0E => shifted_out = true,
            0x0F => shifted_out = false,
            b'\r' | b'\n' => {
                set = JisSet::Ascii;
                shifted_out = false;
                euc.push(b);
            }
            0x80.. => euc.push(INVALID),
            0x21..=0x7E if shifted_out || set == JisSet::Katakana => {
                if b <= 0x5F {
                    euc.extend_from_slice(&[0x8E, b | 0x80]);
                } else {
                    euc.push(INVALID);
                }
            }
            0x21..=0x7E if double_byte => {
                let Some(&trail @ 0x21..=0x7E) = bytes.get(i + 1) else {
                    euc.push(INVALID);
                    i += 1;
                    continue;
                };
                match set {
                    JisSet::Jis0208 => euc.extend_from_slice(&[b | 0x80, trail | 0x80]),
                    JisSet::Jis0212 => euc.extend_from_slice(&[0x8F, b | 0x80, trail | 0x80]),
                    _ => euc.push(INVALID),
                }
                i += 2;
                continue;
            }
            _ => euc.push(b),
        }
        i += 1;
    }
    let (text, errors) = EUC_JP.decode_without_bom_handling(&euc);
    (text.into_owned(), !errors)
}

/// The escape sequence after an ESC: its length, and the set it switches to (`None`: a sequence
/// that changes nothing this decoder reads).
fn designation(rest: &[u8]) -> Option<(usize, Option<JisSet>)> {
    let two = rest.get(..2)?;
    let three = rest.get(..3).unwrap_or_default();
    Some(match two {
        // ESC ( J is JIS-Roman; Windows and mailers use it as ASCII (a backslash stays one).
        b"(B" | b"(J" | b"(H" => (2, Some(JisSet::Ascii)),
        b"(I" => (2, Some(JisSet::Katakana)),
        b"$@" | b"$B" => (2, Some(JisSet::Jis0208)),
        b"$A" => (2, Some(JisSet::Unsupported)),
        // ESC & @ announces JIS X 0208-1990 before an ESC $ B; ESC . A / ESC . F designate G2.
        b"&@" | b".A" | b".F" => (2, None),
        b"$(" => match three {
            // JIS X 0213 plane 1 keeps JIS X 0208 where they overlap.
            b"$(B" | b"$(O" | b"$(Q" => (3, Some(JisSet::Jis0208)),
            b"$(D" => (3, Some(JisSet::Jis0212)),
            b"$(C" | b"$(P" => (3, Some(JisSet::Unsupported)),
            _ => return None,
        },
        _ => return None,
    })
}

/// A header value (unfolded) with RFC 2047 encoded words and raw text, which may be undeclared
/// ISO-2022-JP or 8-bit (`hint` as for [`decode`]). Adjacent encoded words in one charset are joined before decoding, so a
/// character split between two words survives; the space between encoded words is dropped.
pub fn decode_words(value: &[u8], hint: Option<&'static str>) -> Decoded {
    enum Piece<'a> {
        Raw(&'a [u8]),
        Word { label: &'a str, bytes: Vec<u8> },
    }
    let mut pieces: Vec<Piece<'_>> = Vec::new();
    let mut ends = WordEnds { value, found: None, scanned: 0 };
    let mut raw_start = 0;
    let mut i = 0;
    while i + 1 < value.len() {
        let word = value[i..].starts_with(b"=?").then(|| encoded_word(value, i, &mut ends)).flatten();
        let Some((label, bytes, len)) = word else {
            i += 1;
            continue;
        };
        let between = &value[raw_start..i];
        let separator =
            matches!(pieces.last(), Some(Piece::Word { .. })) && between.iter().all(u8::is_ascii_whitespace);
        if !between.is_empty() && !separator {
            pieces.push(Piece::Raw(between));
        }
        match pieces.last_mut() {
            Some(Piece::Word { label: previous, bytes: joined }) if previous.eq_ignore_ascii_case(label) => {
                joined.extend_from_slice(&bytes)
            }
            _ => pieces.push(Piece::Word { label, bytes }),
        }
        i += len;
        raw_start = i;
    }
    if raw_start < value.len() {
        pieces.push(Piece::Raw(&value[raw_start..]));
    }
    let mut out = Decoded { text: String::new(), guess: None };
    for piece in pieces {
        let decoded = match piece {
            Piece::Raw(bytes) => decode(bytes, None, hint),
            Piece::Word { label, bytes } => decode(&bytes, Some(label), hint),
        };
        out.text.push_str(&decoded.text);
        out.guess = out.guess.or(decoded.guess);
    }
    out
}

/// `=?charset?B|Q?data?=` at `value[at..]`: its charset, decoded bytes and length.
fn encoded_word<'a>(value: &'a [u8], at: usize, ends: &mut WordEnds<'_>) -> Option<(&'a str, Vec<u8>, usize)> {
    let s = &value[at..];
    let label_end = 2 + s[2..].iter().take(80).position(|&b| b == b'?')?;
    let label = std::str::from_utf8(&s[2..label_end]).ok()?;
    if label.is_empty() || label.contains(|c: char| c.is_ascii_whitespace() || c == '=') {
        return None;
    }
    let encoding = *s.get(label_end + 1)?;
    if s.get(label_end + 2) != Some(&b'?') {
        return None;
    }
    let data_start = label_end + 3;
    let data_end = ends.at_or_after(at + data_start)? - at;
    let data = &s[data_start..data_end];
    let bytes = match encoding {
        b'B' | b'b' => base64(data),
        b'Q' | b'q' => q_word(data),
        _ => return None,
    };
    Some((label, bytes, data_end + 2))
}

/// Where the next `?=` is, asked for positions that only grow: one pass over the value in all,
/// however many `=?` it holds.
struct WordEnds<'a> {
    value: &'a [u8],
    found: Option<usize>,
    scanned: usize,
}

impl WordEnds<'_> {
    fn at_or_after(&mut self, from: usize) -> Option<usize> {
        if let Some(found) = self.found.filter(|&f| f >= from) {
            return Some(found);
        }
        let start = from.max(self.scanned).min(self.value.len());
        self.found = self.value[start..].windows(2).position(|w| w == b"?=").map(|p| start + p);
        self.scanned = self.found.unwrap_or(self.value.len());
        self.found
    }
}

fn q_word(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    unescape_hex(data, true, &mut out);
    out
}

/// `=XX` (either case) as the byte it names, anything else as it is (a lone `=` included);
/// in an encoded word `_` is a space.
fn unescape_hex(data: &[u8], underscore_is_space: bool, out: &mut Vec<u8>) {
    let mut i = 0;
    while i < data.len() {
        match (data[i], hex_pair(&data[i + 1..])) {
            (b'=', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (b'_', _) if underscore_is_space => {
                out.push(b' ');
                i += 1;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
}

fn hex_pair(s: &[u8]) -> Option<u8> {
    let digit = |b: u8| (b as char).to_digit(16);
    Some((digit(*s.first()?)? * 16 + digit(*s.get(1)?)?) as u8)
}

/// A body in its Content-Transfer-Encoding, decoded leniently; other encodings are the bytes.
pub fn transfer_decode<'a>(body: &'a [u8], encoding: Option<&str>) -> Cow<'a, [u8]> {
    match encoding.map(str::trim) {
        Some(e) if e.eq_ignore_ascii_case("base64") => Cow::Owned(base64(body)),
        Some(e) if e.eq_ignore_ascii_case("quoted-printable") => Cow::Owned(quoted_printable(body)),
        _ => Cow::Borrowed(body),
    }
}

/// Base64 as RFC 2045 §6.8 reads it: characters outside the alphabet are ignored. `=` ends a
/// group rather than the data, for mailers that join separately padded pieces.
pub fn base64(input: &[u8]) -> Vec<u8> {
    fn flush(out: &mut Vec<u8>, group: u32, count: u8) {
        match count {
            2 => out.push((group >> 4) as u8),
            3 => out.extend_from_slice(&[(group >> 10) as u8, (group >> 2) as u8]),
            _ => {}
        }
    }
    let mut out = Vec::with_capacity(input.len() / 4 * 3 + 3);
    let (mut group, mut count) = (0u32, 0u8);
    for &c in input {
        let value = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => {
                flush(&mut out, group, count);
                (group, count) = (0, 0);
                continue;
            }
            _ => continue,
        };
        group = group << 6 | u32::from(value);
        count += 1;
        if count == 4 {
            out.extend_from_slice(&group.to_be_bytes()[1..]);
            (group, count) = (0, 0);
        }
    }
    flush(&mut out, group, count);
    out
}

/// Quoted-printable that keeps what it cannot read: `=` not followed by two hex digits (either
/// case) stays literal. Trailing whitespace is transport padding (RFC 2045 §6.7), also before
/// a soft line break.
pub fn quoted_printable(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    for line in input.split_inclusive(|&b| b == b'\n') {
        let content = line.strip_suffix(b"\n").unwrap_or(line);
        let content = content.strip_suffix(b"\r").unwrap_or(content);
        let line_end = &line[content.len()..];
        let content = content.trim_ascii_end();
        let (content, soft) = match content.strip_suffix(b"=") {
            Some(c) => (c, true),
            None => (content, false),
        };
        unescape_hex(content, false, &mut out);
        if !soft {
            out.extend_from_slice(line_end);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sjis(text: &str) -> Vec<u8> {
        SHIFT_JIS.encode(text).0.into_owned()
    }

    fn euc(text: &str) -> Vec<u8> {
        EUC_JP.encode(text).0.into_owned()
    }

    #[test]
    fn labelled_text_decodes_under_every_alias() {
        // ① NEC row 13, ㈱ NEC row 13, 髙 IBM extension, ～ 0x8160, half-width katakana.
        let text = "①㈱髙～ﾃｽﾄ";
        let sjis = sjis(text);
        for label in
            ["Shift_JIS", "SJIS", "x-sjis", "Windows-31J", "CP932", "MS932", "shift-jis", "\"cp932\"", "SJIS-win"]
        {
            assert_eq!(decode(&sjis, Some(label), None), Decoded { text: text.into(), guess: None }, "{label}");
        }
        let euc = euc(text);
        for label in ["EUC-JP", "eucJP-ms", "CP51932", "x-euc-jp", "eucjp", "eucJP-win"] {
            assert_eq!(decode(&euc, Some(label), None), Decoded { text: text.into(), guess: None }, "{label}");
        }
        // ① 0x2D21, ㈱ 0x2D6A, 髙 0x7C62 (NEC-selected IBM row 92), ～ 0x2141, ﾃｽﾄ by ESC ( I.
        let jis = b"\x1b$B-!-j|b!A\x1b(IC=D\x1b(B";
        for label in [
            "ISO-2022-JP",
            "iso-2022-jp-ms",
            "CP50220",
            "CP50221",
            "CP50222",
            "ISO-2022-JP-1",
            "ISO-2022-JP-2",
            "ISO-2022-JP-3",
            "csISO2022JP",
            "x-windows-iso2022jp",
        ] {
            assert_eq!(decode(jis, Some(label), None), Decoded { text: text.into(), guess: None }, "{label}");
        }
        assert_eq!(decode(b"caf\xe9", Some("ISO-8859-1"), None).text, "café");
        assert_eq!(decode(b"+ZYeB9FH6ckh5Pg-", Some("UTF-7"), None).text, "文致出版社");
    }

    #[test]
    fn iso_2022_jp_variants() {
        let table: [(&[u8], &str, bool); 9] = [
            (b"\x1b$B%Q%9%o!<%I\x1b(B", "パスワード", true),
            // Redundant escapes (WHATWG would put U+FFFD here).
            (b"\x1b$B%Q\x1b(B\x1b(B\x1b$B%9\x1b(B", "パス", true),
            (b"\x1b$@%Q\x1b(Jabc\\", "パabc\\", true),
            // CP50222: half-width katakana between SO and SI.
            (b"\x1b(J\x0eC=D\x0fok", "ﾃｽﾄok", true),
            // ISO-2022-JP-1: JIS X 0212 (0x3021 is 丂).
            (b"\x1b$(D0!\x1b(B", "丂", true),
            // A line end returns to ASCII even when the sender forgot ESC ( B.
            (b"\x1b$B%Q\r\nab", "パ\r\nab", true),
            (b"\x1b$B%Q%\x1b(B", "パ\u{FFFD}", false),
            (b"\x1b$B%Q\x1b(Bx\x82", "パx\u{FFFD}", false),
            (b"\x1b$(C!!\x1b(B", "\u{FFFD}", false),
        ];
        for (bytes, want, clean) in table {
            assert_eq!(iso_2022_jp(bytes), (want.to_owned(), clean), "{}", String::from_utf8_lossy(bytes));
        }
    }

    #[test]
    fn undeclared_text_is_guessed_in_the_required_order() {
        let long = "お世話になっております。パスワードを忘れてしまいました。①㈱髙～ﾃｽﾄ";
        // The bytes, their label, the text and the guess recorded.
        type Case = (Vec<u8>, Option<&'static str>, &'static str, Option<&'static str>);
        let table: Vec<Case> = vec![
            (b"plain ascii".to_vec(), None, "plain ascii", None),
            (b"plain ascii".to_vec(), Some("us-ascii"), "plain ascii", None),
            (b"\x1b$B%Q%9\x1b(B".to_vec(), None, "パス", Some(ISO_2022_JP_NAME)),
            (b"\x1b$B%Q%9\x1b(B".to_vec(), Some("us-ascii"), "パス", Some(ISO_2022_JP_NAME)),
            // Mislabelled: 7-bit text with JIS escapes is ISO-2022-JP whatever the label.
            (b"\x1b$B%Q%9\x1b(B".to_vec(), Some("UTF-8"), "パス", Some(ISO_2022_JP_NAME)),
            (long.as_bytes().to_vec(), None, long, Some(UTF_8_NAME)),
            (sjis(long), None, long, Some(SHIFT_JIS_NAME)),
            (sjis(long), Some("us-ascii"), long, Some(SHIFT_JIS_NAME)),
            (sjis(long), Some("x-unknown"), long, Some(SHIFT_JIS_NAME)),
            (euc("お世話になっております。①㈱髙～"), None, "お世話になっております。①㈱髙～", Some(EUC_JP_NAME)),
            // Short and ambiguous: 「パス」 in EUC-JP is also clean Shift_JIS (half-width katakana).
            (euc("パス"), None, "パス", Some(EUC_JP_NAME)),
            (euc("印刷不具合"), None, "印刷不具合", Some(EUC_JP_NAME)),
            (sjis("件名"), None, "件名", Some(SHIFT_JIS_NAME)),
            (sjis("ﾃｽﾄ"), None, "ﾃｽﾄ", Some(SHIFT_JIS_NAME)),
            // Kanji in EUC-JP that is also clean Shift_JIS (as half-width katakana).
            (euc("山田"), None, "山田", Some(EUC_JP_NAME)),
            (euc("テスト"), None, "テスト", Some(EUC_JP_NAME)),
            (euc("ネットワーク障害のお知らせ"), None, "ネットワーク障害のお知らせ", Some(EUC_JP_NAME)),
            // A label that does not fit gives way to a reading that decodes cleanly.
            (sjis(long), Some("UTF-8"), long, Some(SHIFT_JIS_NAME)),
            (sjis(long), Some("ISO-2022-JP"), long, Some(SHIFT_JIS_NAME)),
            (euc("日本語です"), Some("Shift_JIS"), "日本語です", Some(EUC_JP_NAME)),
            // Nothing fits: the reading with the fewest replacement characters.
            (b"\xff\xfeok".to_vec(), None, "\u{FFFD}\u{FFFD}ok", Some(UTF_8_NAME)),
        ];
        for (bytes, label, text, guess) in table {
            assert_eq!(decode(&bytes, label, None), Decoded { text: text.into(), guess }, "{label:?} {bytes:x?}");
        }
    }

    #[test]
    fn the_rest_of_the_message_settles_what_one_short_text_cannot() {
        // Half-width katakana in Shift_JIS, byte for byte two EUC-JP kanji: alone, the rarer
        // half-width reading loses; the message's other text decides.
        let kana = sjis("ｶﾀｶﾅ");
        assert_eq!(decode(&kana, None, None), Decoded { text: "鏡凝".into(), guess: Some(EUC_JP_NAME) });
        let with = |hint| decode(&kana, None, Some(hint));
        assert_eq!(with(SHIFT_JIS_NAME), Decoded { text: "ｶﾀｶﾅ".into(), guess: Some(SHIFT_JIS_NAME) });
        // A hint that does not fit is passed over.
        assert_eq!(decode(&sjis("髙橋"), None, Some(EUC_JP_NAME)).text, "髙橋");
        let body = sjis("お世話になっております。");
        assert_eq!(joint_guess(&[&kana, &body]), Some(SHIFT_JIS_NAME));
        assert_eq!(joint_guess(&[&kana, b"ascii"]), Some(EUC_JP_NAME));
        assert_eq!(joint_guess(&[b"ascii"]), None);
        assert_eq!(declared(Some("CP932")), Declared::Guessable(SHIFT_JIS_NAME));
        assert_eq!(declared(Some("us-ascii")), Declared::Nothing);
        assert_eq!(declared(Some("iso-8859-1")), Declared::Other);
    }

    #[test]
    fn encoded_words_and_raw_header_text() {
        let b64 = |bytes: &[u8]| {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD.encode(bytes)
        };
        let sjis_word = format!("=?CP932?B?{}?=", b64(&sjis("①㈱髙～")));
        let utf8 = "パスワード".as_bytes();
        let split = format!("=?UTF-8?B?{}?= =?UTF-8?B?{}?=", b64(&utf8[..4]), b64(&utf8[4..]));
        let mut raw_sjis = b"Re: ".to_vec();
        raw_sjis.extend(sjis("件名テスト"));
        let table: Vec<(Vec<u8>, &str, Option<&str>)> = vec![
            (b"=?ISO-2022-JP?B?GyRCJVElOSVvITwlSRsoQg==?=".to_vec(), "パスワード", None),
            (sjis_word.into_bytes(), "①㈱髙～", None),
            (split.into_bytes(), "パスワード", None),
            (b"=?utf-8?q?=E3=83=91=e3=82=b9_ok?= tail".to_vec(), "パス ok tail", None),
            (b"=?ISO-2022-JP*ja?B?GyRCJVEbKEI=?=".to_vec(), "パ", None),
            // Stray characters in a B word are ignored.
            (b"=?UTF-8?B?44!GC 44*GE?=".to_vec(), "あい", None),
            (b"a =?UTF-8?B?44GC?= =?UTF-8?B?44GE?= b".to_vec(), "a あい b", None),
            (b"=?bogus".to_vec(), "=?bogus", None),
            (b"\x1b$B%Q%9\x1b(B".to_vec(), "パス", Some(ISO_2022_JP_NAME)),
            (raw_sjis, "Re: 件名テスト", Some(SHIFT_JIS_NAME)),
            ("生のUTF-8".as_bytes().to_vec(), "生のUTF-8", Some(UTF_8_NAME)),
        ];
        for (value, text, guess) in table {
            assert_eq!(
                decode_words(&value, None),
                Decoded { text: text.into(), guess },
                "{}",
                String::from_utf8_lossy(&value)
            );
        }
    }

    #[test]
    fn many_unclosed_encoded_words_take_one_pass() {
        let value = b"=?UTF-8?Q?a".repeat(100_000);
        assert_eq!(decode_words(&value, None).text.as_bytes(), value);
        let mut value = b"=?UTF-8?Q?=E3=81=82".repeat(100_000);
        value.extend_from_slice(b"?=");
        assert!(decode_words(&value, None).text.starts_with("あ"));
    }

    #[test]
    fn lenient_transfer_encodings() {
        let table: [(&[u8], &str, &[u8]); 10] = [
            (b"44GC44GE", "base64", "あい".as_bytes()),
            (b"44GC!44GE\r\n*****\r\n 44 GG\r\n", "base64", "あいう".as_bytes()),
            (b"YQ==YmM=", "base64", b"abc"),
            (b"YWJj\r\n", "base64", b"abc"),
            (b"=E3=81=82 =e3=81=84\r\n", "quoted-printable", "あ い\r\n".as_bytes()),
            (b"a=b 1+1==2 100%=\r\nok", "quoted-printable", b"a=b 1+1==2 100%ok"),
            (b"soft=  \r\nbreak  \r\nend=", "quoted-printable", b"softbreak\r\nend"),
            (b"=4g =\n", "quoted-printable", b"=4g "),
            (b"raw \xe3\x81\x82", "8bit", "raw あ".as_bytes()),
            (b"raw", "x-uuencode", b"raw"),
        ];
        for (input, encoding, want) in table {
            assert_eq!(&*transfer_decode(input, Some(encoding)), want, "{encoding} {}", String::from_utf8_lossy(input));
        }
    }
}
