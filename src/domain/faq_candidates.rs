//! FAQ candidates: resolved tickets that asked the same thing, found by category and wording.
//!
//! Within each category the tickets are clustered greedily: a ticket joins the first cluster
//! whose leader (its first ticket) it resembles enough, else it leads a new one. Wording is
//! compared as sets of character pairs of the folded text's content runs (kanji, katakana,
//! letters and digits: hiragana are mostly endings and particles, shared by unrelated
//! questions), by the Jaccard index of the subjects or of subject and resolution together,
//! whichever is higher.

use super::text::fold;
use std::collections::HashMap;

/// Two tickets this alike (Jaccard index of their pairs) ask the same thing.
pub const SIMILAR: f64 = 0.4;

/// One resolved or closed ticket, as the clustering reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub number: String,
    pub category: String,
    pub subject: String,
    pub resolution: String,
    /// Linked to an FAQ entry already.
    pub linked: bool,
}

/// Tickets that asked the same thing: a candidate for one FAQ entry.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Cluster {
    pub category: String,
    pub count: usize,
    /// The subject most of them had (the first ticket's on a tie).
    pub subject: String,
    pub tickets: Vec<String>,
    /// How many of them an FAQ entry was drafted from already.
    pub linked: usize,
}

/// The clusters of `tickets`, most frequent first (then by category, then by first ticket).
pub fn clusters(tickets: &[Resolved]) -> Vec<Cluster> {
    struct Building<'a> {
        category: &'a str,
        subject: Vec<u64>,
        whole: Vec<u64>,
        members: Vec<&'a Resolved>,
    }
    let mut building: Vec<Building> = Vec::new();
    let mut by_category: HashMap<&str, Vec<usize>> = HashMap::new();
    for t in tickets {
        let subject = pairs(&fold(&t.subject));
        let whole = pairs(&fold(&format!("{}\n{}", t.subject, t.resolution)));
        let candidates = by_category.entry(t.category.as_str()).or_default();
        let found = candidates.iter().copied().find(|&i| {
            let leader = &building[i];
            jaccard(&leader.subject, &subject).max(jaccard(&leader.whole, &whole)) >= SIMILAR
        });
        match found {
            Some(i) => building[i].members.push(t),
            None => {
                candidates.push(building.len());
                building.push(Building { category: &t.category, subject, whole, members: vec![t] });
            }
        }
    }
    let mut out: Vec<Cluster> = building
        .into_iter()
        .map(|b| Cluster {
            category: b.category.to_owned(),
            count: b.members.len(),
            subject: usual_subject(&b.members),
            tickets: b.members.iter().map(|t| t.number.clone()).collect(),
            linked: b.members.iter().filter(|t| t.linked).count(),
        })
        .collect();
    out.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.category.cmp(&b.category)).then(a.tickets.cmp(&b.tickets)));
    out
}

fn usual_subject(members: &[&Resolved]) -> String {
    let mut counts: HashMap<String, (usize, usize)> = HashMap::new();
    for (i, t) in members.iter().enumerate() {
        counts.entry(fold(t.subject.trim())).or_insert((0, i)).0 += 1;
    }
    let best = counts.values().max_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1))).map_or(0, |&(_, first)| first);
    members.get(best).map(|t| t.subject.trim().to_owned()).unwrap_or_default()
}

/// A character that carries meaning in a question: not hiragana, not punctuation or space.
fn content(c: char) -> bool {
    c.is_alphanumeric() && !matches!(c, '\u{3041}'..='\u{309F}')
}

/// The distinct pairs of neighbouring content characters (a run of one counts as itself),
/// sorted. Text with no content characters at all falls back to all its pairs.
fn pairs(folded: &str) -> Vec<u64> {
    let code = |a: char, b: Option<char>| (u64::from(a) << 32) | b.map_or(0, u64::from);
    let mut out = Vec::new();
    let chars: Vec<char> = folded.chars().collect();
    for run in chars.split(|c| !content(*c)).filter(|r| !r.is_empty()) {
        match run {
            [only] => out.push(code(*only, None)),
            _ => out.extend(run.windows(2).map(|w| code(w[0], Some(w[1])))),
        }
    }
    if out.is_empty() {
        let letters: Vec<char> = chars.into_iter().filter(|c| c.is_alphanumeric()).collect();
        out.extend(letters.windows(2).map(|w| code(w[0], Some(w[1]))));
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// |a ∩ b| / |a ∪ b| of two sorted sets; 0 when both are empty.
fn jaccard(a: &[u64], b: &[u64]) -> f64 {
    let (mut i, mut j, mut both) = (0, 0, 0usize);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                both += 1;
                i += 1;
                j += 1;
            }
        }
    }
    let either = a.len() + b.len() - both;
    if either == 0 { 0.0 } else { both as f64 / either as f64 }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ticket(number: &str, category: &str, subject: &str, resolution: &str) -> Resolved {
        Resolved {
            number: number.into(),
            category: category.into(),
            subject: subject.into(),
            resolution: resolution.into(),
            linked: false,
        }
    }

    #[test]
    fn similar_wordings_in_a_category_cluster_and_others_do_not() {
        let tickets = [
            ticket("1", "account_unlock", "アカウントがロックされました", "ロックを解除しました。"),
            ticket("2", "account_unlock", "アカウントロックの解除をお願いします", "解除しました"),
            ticket("3", "fault", "VPNに接続できません", "VPN クライアントを再起動して解決"),
            ticket("4", "account_unlock", "ｱｶｳﾝﾄがロックされた", "ロック解除済み"),
            ticket("5", "fault", "プリンターに接続できません", "ドライバーを入れ直しました"),
            ticket("6", "fault", "VPNにつながらない", "VPN クライアントの再起動で解決"),
            ticket("7", "password_reset", "アカウントがロックされました", "パスワードを再設定しました"),
        ];
        let got = clusters(&tickets);
        let shape: Vec<(&str, usize, Vec<&str>)> = got
            .iter()
            .map(|c| (c.category.as_str(), c.count, c.tickets.iter().map(String::as_str).collect()))
            .collect();
        assert_eq!(
            shape,
            vec![
                ("account_unlock", 3, vec!["1", "2", "4"]),
                ("fault", 2, vec!["3", "6"]),
                ("fault", 1, vec!["5"]),
                ("password_reset", 1, vec!["7"]),
            ]
        );
        assert_eq!(got[0].subject, "アカウントがロックされました", "no subject repeats: the first ticket's");
    }

    #[test]
    fn the_usual_subject_is_the_most_frequent_one() {
        let tickets = [
            ticket("1", "c", "パスワードを忘れた", ""),
            ticket("2", "c", "パスワードを忘れました", ""),
            ticket("3", "c", "パスワードを忘れました", ""),
        ];
        let got = clusters(&tickets);
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!((got[0].count, got[0].subject.as_str()), (3, "パスワードを忘れました"));
    }

    #[test]
    fn linked_tickets_are_counted() {
        let mut done = ticket("2", "c", "ＶＰＮ 接続不可", "");
        done.linked = true;
        let got = clusters(&[ticket("1", "c", "vpn接続不可", ""), done]);
        assert_eq!((got[0].count, got[0].linked), (2, 1), "{got:?}");
    }

    #[test]
    fn pairs_and_jaccard() {
        assert_eq!(jaccard(&[], &[]), 0.0);
        assert_eq!(jaccard(&[1, 2, 3], &[2, 3, 4]), 0.5);
        assert_eq!(pairs("がの"), pairs("がの"), "hiragana only falls back to all pairs");
        assert_eq!(pairs("がの").len(), 1);
        assert_eq!(pairs("接続できません").len(), 1, "only 接続 carries meaning");
        assert_eq!(pairs("a b").len(), 2, "single letters count as themselves");
    }
}
