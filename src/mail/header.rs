//! Header values read from their raw bytes, where mail-parser has already lost raw 8-bit text and
//! charsets it does not know: the sender's display name and an attachment's file name (RFC 2231
//! parameters and their continuations). The text itself is [`charset`]'s work; `hint` is what
//! the rest of the message is written in, as [`charset::decode`] takes it.

use super::charset::{self, Decoded};

/// A raw value with its line folds removed (RFC 5322 §2.2.3) and outer whitespace trimmed.
pub fn unfold(raw: &[u8]) -> Vec<u8> {
    let mut out: Vec<u8> = raw.iter().copied().filter(|&b| b != b'\r' && b != b'\n').collect();
    out.truncate(out.trim_ascii_end().len());
    let start = out.len() - out.trim_ascii_start().len();
    out.drain(..start);
    out
}

/// An unstructured header value (Subject) as text.
pub fn text(raw: &[u8], hint: Option<&'static str>) -> Decoded {
    let mut decoded = charset::decode_words(&unfold(raw), hint);
    decoded.text = decoded.text.trim().to_owned();
    decoded
}

/// The first mailbox of an address header: its display name (when there is one) and its
/// address (inside `<>`). A mailbox without angle brackets is left to mail-parser.
pub fn mailbox(raw: &[u8], hint: Option<&'static str>) -> (Option<Decoded>, Option<String>) {
    let value = unfold(raw);
    let mut phrase = Vec::new();
    let mut quoted = false;
    let mut i = 0;
    while i < value.len() {
        match value[i] {
            b'\\' if quoted && is_escape(&value, i) && i + 1 < value.len() => {
                phrase.push(value[i + 1]);
                i += 1;
            }
            b'"' => quoted = !quoted,
            b'<' if !quoted => {
                let rest = &value[i + 1..];
                let address = rest.iter().position(|&b| b == b'>').map(|end| &rest[..end]);
                let address = address.and_then(|a| std::str::from_utf8(a).ok()).map(str::trim);
                let address = address.filter(|a| a.contains('@')).map(str::to_owned);
                let mut name = charset::decode_words(phrase.trim_ascii(), hint);
                name.text = name.text.trim().to_owned();
                return ((!name.text.is_empty()).then_some(name), address);
            }
            b => phrase.push(b),
        }
        i += 1;
    }
    (None, None)
}

/// A backslash that quotes the next character. Shift_JIS puts 0x5C in the second byte of many
/// characters (表 is 0x95 0x5C) and mailers that write raw Shift_JIS do not escape it, so a
/// backslash right after a byte that can lead a Shift_JIS character is part of that character.
fn is_escape(value: &[u8], i: usize) -> bool {
    i == 0 || value[i - 1] < 0x81
}

/// The parameters after the first `;` of a structured value: lower-case names, values with
/// their quotes removed.
fn parameters(value: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut params = Vec::new();
    let Some(start) = value.iter().position(|&b| b == b';') else { return params };
    let mut i = start + 1;
    while i < value.len() {
        let name_end = value[i..].iter().position(|&b| b == b'=' || b == b';').map_or(value.len(), |p| i + p);
        let name = String::from_utf8_lossy(value[i..name_end].trim_ascii()).to_ascii_lowercase();
        i = name_end;
        if value.get(i) != Some(&b'=') {
            i += 1;
            continue;
        }
        i += 1;
        while value.get(i).is_some_and(u8::is_ascii_whitespace) {
            i += 1;
        }
        let mut param = Vec::new();
        if value.get(i) == Some(&b'"') {
            i += 1;
            while i < value.len() {
                match value[i] {
                    b'\\' if is_escape(value, i) && i + 1 < value.len() => {
                        param.push(value[i + 1]);
                        i += 1;
                    }
                    b'"' => break,
                    b => param.push(b),
                }
                i += 1;
            }
            let end = value[i..].iter().position(|&b| b == b';').map_or(value.len(), |p| i + p);
            i = end + 1;
        } else {
            let end = value[i..].iter().position(|&b| b == b';').map_or(value.len(), |p| i + p);
            param.extend_from_slice(value[i..end].trim_ascii());
            i = end + 1;
        }
        params.push((name, param));
    }
    params
}

/// The parameter `name` of a raw Content-Disposition or Content-Type value, as text: RFC 2231
/// (`name*=charset''%XX`, and `name*0*=`, `name*1=` … continuations), else the plain value,
/// which may hold encoded words, ISO-2022-JP or raw 8-bit text.
pub fn parameter(raw: &[u8], name: &str, hint: Option<&'static str>) -> Option<Decoded> {
    let params = parameters(&unfold(raw));
    let extended = format!("{name}*");
    if let Some((_, value)) = params.iter().find(|(n, _)| *n == extended) {
        return Some(rfc2231(&[(true, value)], hint));
    }
    let mut sections: Vec<(u32, bool, &Vec<u8>)> = params
        .iter()
        .filter_map(|(n, value)| {
            let section = n.strip_prefix(&extended)?;
            let (number, encoded) = match section.strip_suffix('*') {
                Some(number) => (number, true),
                None => (section, false),
            };
            Some((number.parse().ok()?, encoded, value))
        })
        .collect();
    if !sections.is_empty() {
        sections.sort_by_key(|(number, _, _)| *number);
        let pieces: Vec<(bool, &Vec<u8>)> = sections.iter().map(|(_, encoded, value)| (*encoded, *value)).collect();
        return Some(rfc2231(&pieces, hint));
    }
    let (_, value) = params.iter().find(|(n, _)| n == name)?;
    Some(charset::decode_words(value, hint))
}

/// RFC 2231 sections in order, each percent-encoded or not; the first encoded one names the
/// charset (`charset'language'text`).
fn rfc2231(sections: &[(bool, &Vec<u8>)], hint: Option<&'static str>) -> Decoded {
    let mut label = None;
    let mut bytes = Vec::new();
    for (n, (encoded, value)) in sections.iter().enumerate() {
        let mut value = value.as_slice();
        if *encoded && n == 0 {
            let mut fields = value.splitn(3, |&b| b == b'\'');
            if let (Some(charset), Some(_language), Some(text)) = (fields.next(), fields.next(), fields.next()) {
                label = std::str::from_utf8(charset).ok().filter(|c| !c.is_empty());
                value = text;
            }
        }
        if *encoded {
            bytes.extend(percent_decode(value));
        } else {
            bytes.extend_from_slice(value);
        }
    }
    charset::decode(&bytes, label, hint)
}

fn percent_decode(value: &[u8]) -> Vec<u8> {
    let hex = |b: u8| (b as char).to_digit(16);
    let mut out = Vec::with_capacity(value.len());
    let mut i = 0;
    while i < value.len() {
        match (value[i], value.get(i + 1).and_then(|&b| hex(b)), value.get(i + 2).and_then(|&b| hex(b))) {
            (b'%', Some(high), Some(low)) => {
                out.push((high * 16 + low) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mail::charset::{ISO_2022_JP_NAME, SHIFT_JIS_NAME};

    fn sjis(text: &str) -> Vec<u8> {
        encoding_rs::SHIFT_JIS.encode(text).0.into_owned()
    }

    fn cat(parts: &[&[u8]]) -> Vec<u8> {
        parts.concat()
    }

    #[test]
    fn mailboxes() {
        // The raw value, the name, the address and the guess recorded for the name.
        type Case = (Vec<u8>, Option<&'static str>, Option<&'static str>, Option<&'static str>);
        let table: Vec<Case> = vec![
            (b" Sato Ichiro <sato@example.go.jp>\r\n".to_vec(), Some("Sato Ichiro"), Some("sato@example.go.jp"), None),
            (
                b" \"Sato, Ichiro\" <sato@example.go.jp>".to_vec(),
                Some("Sato, Ichiro"),
                Some("sato@example.go.jp"),
                None,
            ),
            (b" \"a \\\"b\\\"\" <a@x.jp>".to_vec(), Some("a \"b\""), Some("a@x.jp"), None),
            (
                b" =?ISO-2022-JP?B?GyRCOzNFRBsoQg==?=\r\n <yamada@x.jp>".to_vec(),
                Some("山田"),
                Some("yamada@x.jp"),
                None,
            ),
            (b" \"=?UTF-8?B?5bGx55Sw?=\" <yamada@x.jp>".to_vec(), Some("山田"), Some("yamada@x.jp"), None),
            (b" \x1b$B;3ED\x1b(B <yamada@x.jp>".to_vec(), Some("山田"), Some("yamada@x.jp"), Some(ISO_2022_JP_NAME)),
            (
                cat(&[b" \"", &sjis("表示 髙橋"), b"\" <t@x.jp>"]),
                Some("表示 髙橋"),
                Some("t@x.jp"),
                Some(SHIFT_JIS_NAME),
            ),
            (b" <bare@x.jp>".to_vec(), None, Some("bare@x.jp"), None),
            (b" bare@x.jp (Bare)".to_vec(), None, None, None),
        ];
        for (raw, name, address, guess) in table {
            let (got_name, got_address) = mailbox(&raw, None);
            assert_eq!(got_name.as_ref().map(|n| n.text.as_str()), name, "{}", String::from_utf8_lossy(&raw));
            assert_eq!(got_name.and_then(|n| n.guess), guess, "{}", String::from_utf8_lossy(&raw));
            assert_eq!(got_address.as_deref(), address, "{}", String::from_utf8_lossy(&raw));
        }
    }

    #[test]
    fn file_names() {
        let table: Vec<(Vec<u8>, &str, Option<&str>)> = vec![
            (b" attachment; filename=\"a b.pdf\"".to_vec(), "a b.pdf", None),
            (b" attachment; filename=plain.pdf; size=3".to_vec(), "plain.pdf", None),
            (b" attachment;\r\n filename*=UTF-8''%E7%94%B3%E8%AB%8B%E6%9B%B8.pdf".to_vec(), "申請書.pdf", None),
            (b" attachment; filename*=CP932'ja'%87%40%81%60.pdf".to_vec(), "①～.pdf", None),
            (
                b" attachment; filename*0*=ISO-2022-JP''%1B%24B%25Q; filename*1*=%259%1B%28B; filename*2=.xlsx"
                    .to_vec(),
                "パス.xlsx",
                None,
            ),
            (b" attachment; filename=\"=?Shift_JIS?B?h0CHig==?=.txt\"".to_vec(), "①㈱.txt", None),
            (cat(&[b" attachment; filename=\"", &sjis("表.pdf"), b"\""]), "表.pdf", Some(SHIFT_JIS_NAME)),
            (b" attachment; filename=\"\x1b$B%Q%9\x1b(B.pdf\"".to_vec(), "パス.pdf", Some(ISO_2022_JP_NAME)),
        ];
        for (raw, want, guess) in table {
            assert_eq!(
                parameter(&raw, "filename", None),
                Some(Decoded { text: want.into(), guess }),
                "{}",
                String::from_utf8_lossy(&raw)
            );
        }
        assert_eq!(
            parameter(b" application/pdf; name=\"x.pdf\"", "name", None).map(|d| d.text).as_deref(),
            Some("x.pdf")
        );
        assert_eq!(parameter(b" attachment", "filename", None), None);
    }

    #[test]
    fn subjects() {
        assert_eq!(text(b" =?UTF-8?B?5Y2w5Yi3?=\r\n =?UTF-8?B?44Gn44GN44Gq44GE?=\r\n", None).text, "印刷できない");
        assert_eq!(text(b" Re: hello\r\n  world\r\n", None).text, "Re: hello  world");
    }
}
