//! Text folding for matching Japanese and English alike: NFKC (full-width ASCII → ASCII,
//! half-width katakana → full-width) and lower case, so `ﾊﾟｽﾜｰﾄﾞ` finds `パスワード` and
//! `ＶＰＮ` finds `vpn`.

use unicode_normalization::UnicodeNormalization;

pub fn fold(s: &str) -> String {
    s.nfkc().flat_map(char::to_lowercase).collect()
}

/// The distinct two-character pairs of Japanese (non-ASCII) text, space-separated, for the
/// bigram index that answers two-character searches (障害, 静脈, 印刷), which a trigram
/// index cannot.
pub fn bigrams(folded: &str) -> String {
    let mut seen = std::collections::HashSet::new();
    let mut out = String::new();
    let chars: Vec<char> = folded.chars().collect();
    for pair in chars.windows(2) {
        if is_bigram_pair(pair[0], pair[1]) && seen.insert((pair[0], pair[1])) {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push(pair[0]);
            out.push(pair[1]);
        }
    }
    out
}

/// A search word the bigram index can answer: two letters or digits, not both ASCII.
pub fn is_bigram_word(word: &str) -> bool {
    let mut chars = word.chars();
    matches!((chars.next(), chars.next(), chars.next()), (Some(a), Some(b), None) if is_bigram_pair(a, b))
}

fn is_bigram_pair(a: char, b: char) -> bool {
    a.is_alphanumeric() && b.is_alphanumeric() && !(a.is_ascii() && b.is_ascii())
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
    fn bigrams_cover_japanese_pairs_once() {
        assert_eq!(bigrams("指静脈認証 静脈"), "指静 静脈 脈認 認証");
        assert_eq!(bigrams("vpn接続 ok"), "n接 接続");
        assert_eq!(bigrams("パスワード"), "パス スワ ワー ード");
        assert!(is_bigram_word("障害"));
        assert!(!is_bigram_word("id"));
        assert!(!is_bigram_word("障"));
        assert!(!is_bigram_word("障害者"));
        assert!(!is_bigram_word("障-"));
    }

    #[test]
    fn first_line_skips_blank_lines_and_truncates() {
        assert_eq!(first_line("\n\n  こんにちは \n次", 100).as_deref(), Some("こんにちは"));
        assert_eq!(first_line("abcdef", 3).as_deref(), Some("abc"));
        assert_eq!(first_line(" \n ", 3), None);
    }
}
