//! Finding the resolved tickets and FAQ entries most like a new inquiry, for Japanese text that
//! has no spaces between words: each text is cut into terms (two-character pairs of Japanese
//! runs, whole ASCII words) over NFKC-folded text, and documents are ranked by BM25 over the
//! terms they share with the inquiry. The words shown as the reason are the stretches of the
//! inquiry that matched.

use std::collections::HashMap;

/// BM25's usual constants: term-frequency saturation and length normalisation.
const K1: f64 = 1.2;
const B: f64 = 0.75;
/// A term in more than this share of the documents says nothing about any of them.
const TOO_COMMON: f64 = 0.5;
/// Text beyond this is not read (a pasted log must not cost more than a paragraph).
pub const MAX_TEXT_CHARS: usize = 2000;

/// A text's distinct terms with their counts, in the order they first appear, and its length
/// in terms.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Terms {
    pub counts: Vec<(String, u32)>,
    pub length: u32,
}

fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric()
}

fn is_japanese(c: char) -> bool {
    !c.is_ascii() && c.is_alphanumeric() || c == 'ー' || c == '々'
}

/// Where the terms of a folded text come from: Japanese runs and ASCII words, in order.
#[derive(Debug, PartialEq, Eq)]
enum Piece<'a> {
    Japanese(Vec<char>),
    Word(&'a str),
}

fn pieces(folded: &str) -> Vec<Piece<'_>> {
    let mut out = Vec::new();
    let mut run: Vec<char> = Vec::new();
    let mut word_start: Option<usize> = None;
    let text: &str = match folded.char_indices().nth(MAX_TEXT_CHARS) {
        Some((cut, _)) => &folded[..cut],
        None => folded,
    };
    for (i, c) in text.char_indices() {
        if is_word_char(c) {
            if !run.is_empty() {
                out.push(Piece::Japanese(std::mem::take(&mut run)));
            }
            word_start.get_or_insert(i);
            continue;
        }
        if let Some(start) = word_start.take() {
            out.push(Piece::Word(&text[start..i]));
        }
        if is_japanese(c) {
            run.push(c);
        } else if !run.is_empty() {
            out.push(Piece::Japanese(std::mem::take(&mut run)));
        }
    }
    if let Some(start) = word_start {
        out.push(Piece::Word(&text[start..]));
    }
    if !run.is_empty() {
        out.push(Piece::Japanese(run));
    }
    out
}

/// The terms of a folded text: each two-character pair of a Japanese run (a one-character run
/// is its own term), each ASCII word of two or more characters.
pub fn terms(folded: &str) -> Terms {
    let mut order: Vec<String> = Vec::new();
    let mut counts: HashMap<String, u32> = HashMap::new();
    let mut length = 0;
    let mut add = |t: String| {
        length += 1;
        let n = counts.entry(t.clone()).or_insert(0);
        if *n == 0 {
            order.push(t);
        }
        *n += 1;
    };
    for piece in pieces(folded) {
        match piece {
            Piece::Word(w) if w.len() >= 2 => add(w.to_owned()),
            Piece::Word(_) => {}
            Piece::Japanese(run) if run.len() == 1 => add(run[0].to_string()),
            Piece::Japanese(run) => run.windows(2).for_each(|p| add(p.iter().collect())),
        }
    }
    let counts = order.into_iter().map(|t| (counts[&t], t)).map(|(n, t)| (t, n)).collect();
    Terms { counts, length }
}

fn is_hiragana(c: char) -> bool {
    matches!(c, '\u{3041}'..='\u{309F}')
}

/// How much a term says on its own: pairs of hiragana are mostly grammar (ません, から, して),
/// so they count for little.
pub fn term_weight(term: &str) -> f64 {
    if term.chars().all(is_hiragana) { 0.25 } else { 1.0 }
}

/// Groups of words that mean the same (ロック解除 / アンロック), folded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Synonyms {
    pub groups: Vec<Vec<String>>,
}

impl Synonyms {
    /// The words to look for besides the inquiry's own: every other word of each group one of
    /// whose words the inquiry contains.
    pub fn expand(&self, folded: &str) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for group in &self.groups {
            if group.iter().any(|w| folded.contains(w.as_str())) {
                for w in group {
                    if !folded.contains(w.as_str()) && !out.contains(w) {
                        out.push(w.clone());
                    }
                }
            }
        }
        out
    }
}

/// BM25 weight of a term occurring `tf` times in a document of `dl` terms.
pub fn bm25(tf: f64, df: f64, docs: f64, dl: f64, avgdl: f64) -> f64 {
    idf(df, docs) * tf * (K1 + 1.0) / (tf + K1 * (1.0 - B + B * dl / avgdl.max(1.0)))
}

fn idf(df: f64, docs: f64) -> f64 {
    ((docs - df + 0.5) / (df + 0.5) + 1.0).ln()
}

/// A query term: how often the index has it, and how much it counts (a subject's words count
/// more than a long body's).
#[derive(Debug, Clone, PartialEq)]
pub struct QueryTerm {
    pub term: String,
    pub df: i64,
    pub weight: f64,
}

/// The query terms worth looking up: known to the index, not in most documents, those that
/// weigh most (rare, and in the subject) first, at most `max`.
pub fn pick(known: &[QueryTerm], docs: i64, max: usize) -> Vec<QueryTerm> {
    let ceiling = if docs < 20 { docs } else { (docs as f64 * TOO_COMMON) as i64 };
    let mut useful: Vec<QueryTerm> = known.iter().filter(|q| q.df > 0 && q.df <= ceiling).cloned().collect();
    let worth = |q: &QueryTerm| q.weight * idf(q.df as f64, docs as f64);
    useful.sort_by(|a, b| worth(b).total_cmp(&worth(a)).then_with(|| a.term.cmp(&b.term)));
    useful.truncate(max);
    useful
}

/// One posting: a document holding the `term`th picked term `tf` times, `dl` terms long.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Posting {
    pub term: usize,
    pub doc: i64,
    pub tf: i64,
    pub dl: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Ranked {
    pub doc: i64,
    pub score: f64,
    /// The score as a share of what a document of average length holding every picked term once
    /// would get (at most 1).
    pub relevance: f64,
    pub matched: Vec<String>,
}

/// The `limit` best documents of the postings by BM25, leaving out `exclude` and documents whose
/// relevance is below `floor`.
pub fn rank(
    postings: &[Posting],
    picked: &[QueryTerm],
    docs: i64,
    avgdl: f64,
    exclude: Option<i64>,
    floor: f64,
    limit: usize,
) -> Vec<Ranked> {
    // Each picked term once in a document of average length.
    let best: f64 = picked.iter().map(|q| q.weight * idf(q.df as f64, docs as f64)).sum();
    let mut by_doc: HashMap<i64, (f64, Vec<usize>)> = HashMap::new();
    for p in postings.iter().filter(|p| Some(p.doc) != exclude) {
        let Some(q) = picked.get(p.term) else { continue };
        let entry = by_doc.entry(p.doc).or_default();
        entry.0 += q.weight * bm25(p.tf as f64, q.df as f64, docs as f64, p.dl as f64, avgdl);
        entry.1.push(p.term);
    }
    let mut ranked: Vec<(i64, f64, Vec<usize>)> =
        by_doc.into_iter().map(|(doc, (score, matched))| (doc, score, matched)).collect();
    ranked.retain(|(_, score, _)| score / best.max(f64::EPSILON) >= floor);
    // Newer documents first among equals (ids grow with time).
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(b.0.cmp(&a.0)));
    ranked.truncate(limit);
    ranked
        .into_iter()
        .map(|(doc, score, matched)| Ranked {
            doc,
            score,
            relevance: (score / best.max(f64::EPSILON)).min(1.0),
            matched: matched.into_iter().map(|i| picked[i].term.clone()).collect(),
        })
        .collect()
}

/// The stretches of `folded` (the inquiry, or a synonym added to it) that the matched terms
/// cover, longest first: what a person reads as the matching words.
pub fn matching_words(folded: &str, matched: &[String]) -> Vec<String> {
    let mut words: Vec<String> = Vec::new();
    for piece in pieces(folded) {
        match piece {
            Piece::Word(w) => {
                if matched.iter().any(|m| m == w) && !words.iter().any(|x| x == w) {
                    words.push(w.to_owned());
                }
            }
            Piece::Japanese(run) if run.len() == 1 => {
                let c = run[0].to_string();
                if matched.contains(&c) && !words.contains(&c) {
                    words.push(c);
                }
            }
            Piece::Japanese(run) => {
                // A stretch is a series of matched pairs, each overlapping the next.
                let hit: Vec<bool> = run.windows(2).map(|p| matched.contains(&p.iter().collect::<String>())).collect();
                let mut i = 0;
                while i < hit.len() {
                    if !hit[i] {
                        i += 1;
                        continue;
                    }
                    let start = i;
                    while i < hit.len() && hit[i] {
                        i += 1;
                    }
                    let word: String = run[start..=i].iter().collect();
                    if !words.contains(&word) {
                        words.push(word);
                    }
                }
            }
        }
    }
    // Grammar is no reason; a stretch inside a longer one neither. The longest first.
    words.retain(|w| !(w.chars().count() <= 3 && w.chars().all(is_hiragana)));
    let all = words.clone();
    words.retain(|w| !all.iter().any(|o| o.len() > w.len() && o.contains(w.as_str())));
    words.sort_by_key(|w| std::cmp::Reverse(w.chars().count()));
    words
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::text::fold;

    fn names(t: &Terms) -> Vec<&str> {
        t.counts.iter().map(|(t, _)| t.as_str()).collect()
    }

    #[test]
    fn japanese_runs_become_pairs_and_ascii_whole_words() {
        let t = terms(&fold("ＶＰＮにつながらない。エラーE1234"));
        assert_eq!(names(&t), ["vpn", "につ", "つな", "なが", "がら", "らな", "ない", "エラ", "ラー", "e1234"]);
        assert_eq!(t.length, 10);
        let t = terms(&fold("ﾊﾟｽﾜｰﾄﾞ 旧 パスワード"));
        assert_eq!(t.counts[0], ("パス".to_owned(), 2), "half-width katakana folds to the same terms");
        assert!(names(&t).contains(&"旧"), "a lone kanji is a term");
        assert_eq!(terms("a b c").counts, vec![], "one-letter words are not terms");
    }

    #[test]
    fn text_beyond_the_limit_is_not_read() {
        let long = "あ".repeat(MAX_TEXT_CHARS) + "ロック";
        assert_eq!(names(&terms(&long)), ["ああ"]);
    }

    #[test]
    fn a_synonym_adds_the_other_words_of_its_group() {
        let s = Synonyms {
            groups: vec![vec!["ロック解除".into(), "アンロック".into()], vec!["pw".into(), "パスワード".into()]],
        };
        assert_eq!(s.expand("アカウントのアンロック"), ["ロック解除"]);
        assert_eq!(s.expand("ロック解除とアンロック"), Vec::<String>::new());
        assert!(s.expand("印刷できない").is_empty());
    }

    #[test]
    fn the_rarest_known_terms_are_picked_and_the_commonest_dropped() {
        let q = |term: &str, df, weight| QueryTerm { term: term.into(), df, weight };
        let known =
            vec![q("ログ", 400, 1.0), q("ロッ", 30, 1.0), q("解除", 5, 1.0), q("の", 900, 1.0), q("zz", 0, 1.0)];
        let names = |p: Vec<QueryTerm>| p.into_iter().map(|q| q.term).collect::<Vec<_>>();
        assert_eq!(names(pick(&known, 1000, 2)), ["解除", "ロッ"]);
        assert_eq!(pick(&known, 1000, 9).len(), 3, "in more than half the documents, or none: left out");
        let weighted = vec![q("ロッ", 30, 3.0), q("解除", 5, 1.0)];
        assert_eq!(names(pick(&weighted, 1000, 1)), ["ロッ"], "a subject's term outweighs a rarer one in the body");
    }

    #[test]
    fn bm25_prefers_rare_terms_short_documents_and_more_matches() {
        assert!(bm25(1.0, 5.0, 1000.0, 20.0, 20.0) > bm25(1.0, 500.0, 1000.0, 20.0, 20.0));
        assert!(bm25(1.0, 5.0, 1000.0, 10.0, 20.0) > bm25(1.0, 5.0, 1000.0, 80.0, 20.0));
        assert!(bm25(3.0, 5.0, 1000.0, 20.0, 20.0) > bm25(1.0, 5.0, 1000.0, 20.0, 20.0));
        let picked = vec![
            QueryTerm { term: "解除".into(), df: 5, weight: 1.0 },
            QueryTerm { term: "ロッ".into(), df: 30, weight: 1.0 },
        ];
        let p = |term: usize, doc| Posting { term, doc, tf: 1, dl: 20 };
        let postings = vec![p(0, 1), p(1, 1), p(1, 2), p(0, 3), p(1, 4), p(0, 4)];
        let ranked = rank(&postings, &picked, 1000, 20.0, Some(4), 0.0, 10);
        let docs: Vec<i64> = ranked.iter().map(|r| r.doc).collect();
        assert_eq!(docs, [1, 3, 2], "both terms first, then the rarer one; the inquiry itself left out");
        assert!(ranked[0].relevance > 0.9 && ranked[2].relevance < 0.5, "{ranked:?}");
        assert_eq!(rank(&postings, &picked, 1000, 20.0, None, 0.9, 10).len(), 2, "the floor drops weak matches");
    }

    #[test]
    fn the_matching_words_are_the_stretches_the_terms_cover() {
        let q = fold("アカウントロックの件。VPN も");
        let matched: Vec<String> = ["アカ", "カウ", "ウン", "ント", "ロッ", "ック", "vpn"].map(String::from).to_vec();
        assert_eq!(matching_words(&q, &matched), ["アカウント", "ロック", "vpn"]);
        let matched: Vec<String> = ["ント", "トロ", "ロッ", "の件"].map(String::from).to_vec();
        assert_eq!(matching_words(&q, &matched), ["ントロッ", "の件"]);
        let matched: Vec<String> = ["しま", "まし"].map(String::from).to_vec();
        assert!(matching_words("しました", &matched).is_empty(), "grammar is no reason");
        assert_eq!((term_weight("から"), term_weight("ロッ"), term_weight("解除")), (0.25, 1.0, 1.0));
    }
}
