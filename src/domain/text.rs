//! Text folding for matching Japanese and English alike: NFKC (full-width ASCII → ASCII,
//! half-width katakana → full-width) and lower case, so `ﾊﾟｽﾜｰﾄﾞ` finds `パスワード` and
//! `ＶＰＮ` finds `vpn`.

use unicode_normalization::UnicodeNormalization;

pub fn fold(s: &str) -> String {
    s.nfkc().flat_map(char::to_lowercase).collect()
}

/// A one-line subject from free text: the first non-empty line, at most `max` characters.
pub fn first_line(s: &str, max: usize) -> Option<String> {
    let line = s.lines().map(str::trim).find(|l| !l.is_empty())?;
    Some(line.chars().take(max).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_widths_and_case() {
        assert_eq!(fold("ﾊﾟｽﾜｰﾄﾞ"), "パスワード");
        assert_eq!(fold("ＶＰＮ接続"), "vpn接続");
        assert_eq!(fold("Account LOCK"), "account lock");
        assert!(fold("アカウントがロックされました").contains(&fold("ロック")));
    }

    #[test]
    fn first_line_skips_blank_lines_and_truncates() {
        assert_eq!(first_line("\n\n  こんにちは \n次", 100).as_deref(), Some("こんにちは"));
        assert_eq!(first_line("abcdef", 3).as_deref(), Some("abc"));
        assert_eq!(first_line(" \n ", 3), None);
    }
}
