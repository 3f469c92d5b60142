//! What a search may ask for. A search is at most [`MAX_WORDS`] words of at most
//! [`MAX_WORD_CHARS`] characters each, folded like the index (NFKC, lower case); control
//! characters (NUL among them) are not searchable and are dropped. Bounds keep one request from
//! running for minutes or taking gigabytes.

use super::text::fold;

pub const MAX_WORDS: usize = 8;
pub const MAX_WORD_CHARS: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SearchError {
    #[error("a search may have at most {MAX_WORDS} words")]
    TooManyWords,
    #[error("a search word may have at most {MAX_WORD_CHARS} characters")]
    WordTooLong,
    #[error("the search has nothing that can be searched for")]
    NothingToSearch,
}

/// The words of a search, folded; an empty or blank search is no words.
pub fn words(q: &str) -> Result<Vec<String>, SearchError> {
    if q.trim().is_empty() {
        return Ok(Vec::new());
    }
    let cleaned: String = q.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    let raw: Vec<&str> = cleaned.split_whitespace().collect();
    if raw.len() > MAX_WORDS {
        return Err(SearchError::TooManyWords);
    }
    // Checked before folding, so a huge word is never folded.
    if raw.iter().any(|w| w.chars().nth(MAX_WORD_CHARS).is_some()) {
        return Err(SearchError::WordTooLong);
    }
    let folded: Vec<String> = raw.into_iter().map(fold).filter(|w| !w.is_empty()).collect();
    if folded.is_empty() {
        return Err(SearchError::NothingToSearch);
    }
    Ok(folded)
}

/// The words of a search that was not checked with [`words`]: cut to the bounds instead of
/// refused, and never "everything" for a search that had something in it.
pub fn words_within_bounds(q: &str) -> Vec<String> {
    let cleaned: String = q.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    cleaned
        .split_whitespace()
        .take(MAX_WORDS)
        .map(|w| fold(&w.chars().take(MAX_WORD_CHARS).collect::<String>()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn searches_are_bounded_and_cleaned() {
        assert_eq!(words("  ").unwrap(), Vec::<String>::new());
        assert_eq!(words("ＶＰＮ 障害").unwrap(), ["vpn", "障害"]);
        assert_eq!(words("pass\0word").unwrap(), ["pass", "word"]);
        assert_eq!(words("\0"), Err(SearchError::NothingToSearch));
        assert_eq!(words("\u{7}\u{1b}"), Err(SearchError::NothingToSearch));
        assert_eq!(words(&"あ".repeat(60_000)), Err(SearchError::WordTooLong));
        assert_eq!(words(&"a ".repeat(9)), Err(SearchError::TooManyWords));
        assert!(words(&"a".repeat(MAX_WORD_CHARS)).is_ok());
        let cut = words_within_bounds(&format!("{} {}", "x".repeat(100), "y ".repeat(20)));
        assert_eq!(cut.len(), MAX_WORDS);
        assert_eq!(cut[0].chars().count(), MAX_WORD_CHARS);
    }
}
