//! Phone and fax numbers as callers and staff write them: `03-1234-5678`, `0312345678`,
//! `+81 3 1234 5678`, `+81-(0)3-1234-5678`, full-width `０３…`. All of these are one number.

use unicode_normalization::UnicodeNormalization;

/// The canonical form used for matching: Japanese numbers in domestic form (`0312345678`),
/// other countries as `+<digits>`. `None` when there are no digits at all (anonymous, withheld).
pub fn normalize(raw: &str) -> Option<String> {
    let folded: String = raw.nfkc().collect();
    let mut s = folded.trim();
    for prefix in ["tel:", "TEL:", "Tel:", "fax:", "FAX:", "Fax:"] {
        if let Some(rest) = s.strip_prefix(prefix) {
            s = rest.trim();
        }
    }
    let international = s.starts_with('+') || s.starts_with("00");
    let digits: String = s.chars().filter(|c| c.is_ascii_digit()).collect();
    if digits.is_empty() {
        return None;
    }
    if !international {
        return Some(digits);
    }
    let digits = if s.starts_with('+') { digits } else { digits[2..].to_owned() };
    match digits.strip_prefix("81") {
        // `+81 (0)3 …` writes the trunk prefix that `+81 3 …` leaves out.
        Some(national) if national.starts_with('0') => Some(national.to_owned()),
        Some(national) if !national.is_empty() => Some(format!("0{national}")),
        _ => Some(format!("+{digits}")),
    }
}

#[cfg(test)]
mod tests {
    use super::normalize;

    #[test]
    fn japanese_numbers_written_every_way_match() {
        let table = [
            ("03-1234-5678", "0312345678"),
            ("0312345678", "0312345678"),
            ("+81 3 1234 5678", "0312345678"),
            ("+81-3-1234-5678", "0312345678"),
            ("+81 (0)3-1234-5678", "0312345678"),
            ("0081312345678", "0312345678"),
            ("(03) 1234-5678", "0312345678"),
            ("０３－１２３４－５６７８", "0312345678"),
            ("tel:+81-90-1111-2222", "09011112222"),
            ("090.1111.2222", "09011112222"),
            ("+1 212 555 0100", "+12125550100"),
            ("5001", "5001"),
        ];
        for (raw, want) in table {
            assert_eq!(normalize(raw).as_deref(), Some(want), "{raw}");
        }
    }

    #[test]
    fn no_digits_is_no_number() {
        assert_eq!(normalize("anonymous"), None);
        assert_eq!(normalize(""), None);
        assert_eq!(normalize("非通知"), None);
    }
}
