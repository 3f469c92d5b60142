//! Text folding for matching Japanese and English alike: NFKC (full-width ASCII → ASCII,
//! half-width katakana → full-width) and lower case, so `ﾊﾟｽﾜｰﾄﾞ` finds `パスワード` and
//! `ＶＰＮ` finds `vpn`.

use unicode_normalization::UnicodeNormalization;

pub fn fold(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    // Most Japanese text needs no normalising (kanji, kana, the usual punctuation): it is only
    // lower-cased, and the first character that might change sends the whole text through NFKC.
    for c in s.chars() {
        if c.is_ascii() {
            out.push(c.to_ascii_lowercase());
        } else if is_kana_or_kanji(c) || matches!(c, '\u{3001}' | '\u{3002}' | '\u{300C}'..='\u{300F}') {
            out.push(c);
        } else {
            out.clear();
            for c in s.nfkc() {
                push_lowercase(&mut out, c);
            }
            return out;
        }
    }
    out
}

fn push_lowercase(out: &mut String, c: char) {
    if c.is_ascii() {
        out.push(c.to_ascii_lowercase());
    } else if is_kana_or_kanji(c) {
        out.push(c);
    } else {
        out.extend(c.to_lowercase());
    }
}

/// Hiragana, katakana and the CJK ideographs: letters with no case, every one of them
/// alphanumeric and unchanged by NFKC unless a combining sound mark follows (which is not in
/// these ranges, so it takes `fold` to the full path). Checked first because the general
/// Unicode tables are slow for them.
fn is_kana_or_kanji(c: char) -> bool {
    matches!(c, '\u{3041}'..='\u{3096}' | '\u{309D}'..='\u{309E}' | '\u{30A1}'..='\u{30FA}' | '\u{30FC}'..='\u{30FE}'
        | '\u{3400}'..='\u{4DBF}' | '\u{4E00}'..='\u{9FFF}')
}

/// The distinct two-character pairs of Japanese (non-ASCII) text, space-separated, for the
/// bigram index that answers two-character searches (障害, 静脈, 印刷), which a trigram
/// index cannot. In the order they first appear.
pub fn bigrams(folded: &str) -> String {
    let chars: Vec<char> = folded.chars().collect();
    let mut pairs: Vec<(u64, usize)> = chars
        .windows(2)
        .enumerate()
        .filter(|(_, p)| is_bigram_pair(p[0], p[1]))
        .map(|(i, p)| ((u64::from(p[0]) << 32) | u64::from(p[1]), i))
        .collect();
    pairs.sort_unstable();
    pairs.dedup_by_key(|(pair, _)| *pair);
    pairs.sort_unstable_by_key(|(_, at)| *at);
    let mut out = String::with_capacity(pairs.len() * 7);
    for (_, at) in pairs {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push(chars[at]);
        out.push(chars[at + 1]);
    }
    out
}

/// A search word the bigram index can answer: two letters or digits, not both ASCII.
pub fn is_bigram_word(word: &str) -> bool {
    let mut chars = word.chars();
    matches!((chars.next(), chars.next(), chars.next()), (Some(a), Some(b), None) if is_bigram_pair(a, b))
}

fn is_bigram_pair(a: char, b: char) -> bool {
    let letter = |c: char| is_kana_or_kanji(c) || c.is_alphanumeric();
    letter(a) && letter(b) && !(a.is_ascii() && b.is_ascii())
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
    fn the_kana_and_kanji_shortcut_agrees_with_unicode() {
        for c in ('\u{3000}'..='\u{9FFF}').filter(|&c| is_kana_or_kanji(c)) {
            assert!(c.is_alphanumeric(), "{c:?}");
            assert_eq!(c.to_string().nfkc().collect::<String>(), c.to_string(), "{c:?}");
            assert_eq!(c.to_lowercase().collect::<String>(), c.to_string(), "{c:?}");
        }
        assert_eq!(fold("ＶＰＮ障害ｶﾅ Ⅳ ÄB"), "vpn障害カナ iv äb");
        assert_eq!(fold("日本語のテキスト、「ABC」。"), "日本語のテキスト、「abc」。");
        assert_eq!(fold("か\u{3099}ゟ"), "がより", "a combining mark and a compatibility kana are normalised");
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
