//! A report's figures from the store's raw counts and times: pure, so each rule (what counts as
//! a response, when a ticket is open, which age bucket) is tested without a database.

use super::period::{Period, PeriodKind};
use super::stats::{median, p90, per_day, percent};
use crate::domain::survey::LOW_RATING_MAX;
use crate::domain::text::fold;
use crate::domain::time::jst_rfc3339;
use crate::store::{BacklogCandidate, FaqFacts, FaultAnswers, ReportFacts, SurveyFacts, WorkEntry, is_person};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

const DAY_MS: i64 = 86_400_000;

/// Endings of calls that reached nobody before the transfer (see `crate::domain::calls`).
const ABANDONED: [&str; 4] = ["caller hung up", "caller cancelled before answer", "media timeout", "transfer refused"];

/// One line of a breakdown: what (`key`), its names, how many.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Count {
    pub key: String,
    pub ja: String,
    pub en: String,
    pub count: i64,
}

impl Count {
    fn new(key: impl Into<String>, ja: impl Into<String>, en: impl Into<String>, count: i64) -> Count {
        Count { key: key.into(), ja: ja.into(), en: en.into(), count }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PeriodInfo {
    pub kind: PeriodKind,
    pub label: String,
    pub first_day: String,
    pub last_day: String,
    /// JST, RFC 3339: the first instant and the first instant after.
    pub start: String,
    pub end: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Contacts {
    pub total: i64,
    /// Contacts over the period's business days; `None` when it has none.
    pub per_business_day: Option<f64>,
    pub by_channel: Vec<Count>,
    pub by_category: Vec<Count>,
    pub by_tier: Vec<Count>,
    /// Contacts by JST hour, 0–23.
    pub by_hour: Vec<i64>,
}

/// Times from a ticket's creation, over the tickets made in the period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Timing {
    /// Tickets that had it (a response, a resolution).
    pub measured: i64,
    /// Tickets still without it.
    pub pending: i64,
    pub median_ms: Option<i64>,
    pub p90_ms: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SlaKind {
    pub kind: String,
    pub met: i64,
    pub breached: i64,
    pub compliance_percent: Option<f64>,
}

/// SLA clocks decided in the period: met, or breached.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sla {
    pub met: i64,
    pub breached: i64,
    /// `None`: no clock was decided in the period.
    pub compliance_percent: Option<f64>,
    pub by_kind: Vec<SlaKind>,
}

/// Tickets open at the period's end, by age then.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Backlog {
    pub total: i64,
    pub by_age: Vec<Count>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Calls {
    /// Calls that ended in the period.
    pub ended: i64,
    pub transferred: i64,
    /// Ended before reaching an operator (hung up in the announcements or menu, silent line,
    /// transfer refused).
    pub abandoned: i64,
    pub voicemails: i64,
    pub callbacks_created: i64,
    pub callbacks_done: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Escalations {
    pub total: i64,
    pub by_group: Vec<Count>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FaqEntryUse {
    pub id: String,
    pub question: String,
    pub uses: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Faq {
    /// False while this database has no FAQ.
    pub available: bool,
    pub total: i64,
    pub top: Vec<FaqEntryUse>,
}

/// The mean rating of one category or tier: what (`key`), its names, how many answers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RatingGroup {
    pub key: String,
    pub ja: String,
    pub en: String,
    pub answered: i64,
    pub mean_rating: Option<f64>,
}

/// A low rating (1–2) given in the period: its ticket and the rating, never the comment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LowRating {
    pub ticket: String,
    pub rating: i64,
}

/// The satisfaction survey: surveys sent in the period, answers given in it (to surveys sent
/// then or before), and the ratings of those answers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Survey {
    pub sent: i64,
    pub answered: i64,
    /// Answers over surveys sent, in percent; `None` when none was sent. Over a short period it
    /// may pass 100 (an answer to a survey sent the period before).
    pub response_rate_percent: Option<f64>,
    /// To two decimals; `None` without answers.
    pub mean_rating: Option<f64>,
    pub by_category: Vec<RatingGroup>,
    pub by_tier: Vec<RatingGroup>,
    pub low_ratings: Vec<LowRating>,
}

/// Faults reported in the period, from the fault interviews (問診) of the tickets made in it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Faults {
    /// Tickets with a fault interview.
    pub total: i64,
    /// By system, most first. Spellings that differ only in width or case count as one system,
    /// named as most of its answers spell it; `key` is `unanswered` for interviews without one.
    pub by_system: Vec<Count>,
    /// By system and screen ID, most first; interviews without a screen ID are not in it.
    pub by_screen: Vec<FaultScreen>,
}

/// Faults on one screen of one system.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FaultScreen {
    pub system: String,
    pub screen_id: String,
    pub count: i64,
}

/// At most this many lines of each breakdown; the rest are counted as one line `other`.
pub const FAULT_LINES: usize = 20;

/// Every figure of one report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub period: PeriodInfo,
    pub generated_at: String,
    /// Working days of the government calendar in the period.
    pub business_days: u32,
    pub contacts: Contacts,
    pub tickets_created: i64,
    pub first_response: Timing,
    pub resolution: Timing,
    pub sla: Sla,
    pub backlog: Backlog,
    pub calls: Calls,
    pub escalations: Escalations,
    pub faq: Faq,
    pub survey: Survey,
    pub faults: Faults,
}

/// The report of `period` from its facts.
pub(crate) fn report(
    period: &Period,
    business_days: u32,
    facts: &ReportFacts,
    faq: Option<&FaqFacts>,
    now: i64,
) -> Report {
    let total: i64 = facts.by_channel.iter().map(|(_, n)| n).sum();
    let (first_response, resolution) = timings(&facts.created, &facts.work);
    Report {
        period: PeriodInfo {
            kind: period.kind,
            label: period.label(),
            first_day: period.first.to_string(),
            last_day: period.last.to_string(),
            start: jst_rfc3339(period.start_ms()),
            end: jst_rfc3339(period.end_ms()),
        },
        generated_at: jst_rfc3339(now),
        business_days,
        contacts: Contacts {
            total,
            per_business_day: per_day(total, business_days),
            by_channel: by_channel(&facts.by_channel),
            by_category: by_category(&facts.by_category),
            by_tier: by_tier(&facts.by_tier),
            by_hour: by_hour(&facts.by_hour),
        },
        tickets_created: facts.created.len() as i64,
        first_response,
        resolution,
        sla: sla(&facts.sla),
        backlog: backlog(&facts.backlog, period.end_ms()),
        calls: calls(facts),
        escalations: escalations(&facts.relays),
        faq: match faq {
            Some(f) => Faq {
                available: true,
                total: f.total,
                top: f
                    .top
                    .iter()
                    .map(|(id, q, n)| FaqEntryUse { id: id.clone(), question: q.clone(), uses: *n })
                    .collect(),
            },
            None => Faq { available: false, total: 0, top: Vec::new() },
        },
        survey: survey(&facts.survey),
        faults: faults(&facts.faults),
    }
}

/// Answers grouped by their folded form: each group's count and its most used spelling (the
/// first in sort order among equals).
fn spelled_groups<'a>(answers: impl Iterator<Item = &'a str>) -> Vec<(String, String, i64)> {
    let mut groups: BTreeMap<String, BTreeMap<&str, i64>> = BTreeMap::new();
    for a in answers {
        *groups.entry(fold(a)).or_default().entry(a).or_default() += 1;
    }
    groups
        .into_iter()
        .map(|(key, spellings)| {
            let total = spellings.values().sum();
            let name = spellings.iter().max_by(|a, b| a.1.cmp(b.1).then_with(|| b.0.cmp(a.0))).map(|(s, _)| *s);
            (key, name.unwrap_or_default().to_owned(), total)
        })
        .collect()
}

fn faults(rows: &[FaultAnswers]) -> Faults {
    let answer = |a: &Option<String>| a.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned);
    let rows: Vec<(Option<String>, Option<String>)> =
        rows.iter().map(|r| (answer(&r.system), answer(&r.screen_id))).collect();
    let systems = spelled_groups(rows.iter().filter_map(|(s, _)| s.as_deref()));
    let name_of = |system: &str| {
        let key = fold(system);
        systems.iter().find(|(k, _, _)| *k == key).map(|(_, n, _)| n.clone()).unwrap_or_default()
    };
    let mut by_system: Vec<Count> =
        systems.iter().map(|(key, name, n)| Count::new(key.as_str(), name.as_str(), name.as_str(), *n)).collect();
    let unanswered = rows.iter().filter(|(s, _)| s.is_none()).count() as i64;
    if unanswered > 0 {
        by_system.push(Count::new("unanswered", "（システム未回答）", "(system not given)", unanswered));
    }
    by_system.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.key.cmp(&b.key)));
    if by_system.len() > FAULT_LINES {
        let rest: i64 = by_system.drain(FAULT_LINES - 1..).map(|c| c.count).sum();
        by_system.push(Count::new("other", "その他", "other", rest));
    }

    let mut screens: BTreeMap<(String, String), i64> = BTreeMap::new();
    for (system, screen) in &rows {
        if let Some(screen) = screen {
            let system = system.as_deref().map(name_of).unwrap_or_else(|| "（システム未回答）".to_owned());
            *screens.entry((system, fold(screen).to_uppercase())).or_default() += 1;
        }
    }
    let mut by_screen: Vec<FaultScreen> =
        screens.into_iter().map(|((system, screen_id), count)| FaultScreen { system, screen_id, count }).collect();
    by_screen.sort_by_key(|s| std::cmp::Reverse(s.count));
    if by_screen.len() > FAULT_LINES {
        let rest: i64 = by_screen.drain(FAULT_LINES - 1..).map(|c| c.count).sum();
        by_screen.push(FaultScreen { system: "その他 / other".into(), screen_id: String::new(), count: rest });
    }
    Faults { total: rows.len() as i64, by_system, by_screen }
}

/// The mean of `ratings` to two decimals; `None` for none.
fn mean(ratings: &[i64]) -> Option<f64> {
    (!ratings.is_empty()).then(|| {
        let sum: i64 = ratings.iter().sum();
        (sum as f64 * 100.0 / ratings.len() as f64).round() / 100.0
    })
}

fn survey(f: &SurveyFacts) -> Survey {
    let ratings: Vec<i64> = f.answers.iter().map(|a| a.rating).collect();
    let answered = ratings.len() as i64;
    let group = |key: String, ja: String, en: String, ratings: &[i64]| RatingGroup {
        key,
        ja,
        en,
        answered: ratings.len() as i64,
        mean_rating: mean(ratings),
    };
    let mut categories: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
    let mut tiers: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    for a in &f.answers {
        categories.entry(a.category.as_str()).or_default().push(a.rating);
        tiers.entry(a.tier).or_default().push(a.rating);
    }
    let mut by_category: Vec<RatingGroup> =
        categories.into_iter().map(|(c, r)| group(c.to_owned(), c.to_owned(), c.to_owned(), &r)).collect();
    by_category.sort_by(|a, b| b.answered.cmp(&a.answered).then_with(|| a.key.cmp(&b.key)));
    let by_tier = by_tier(&tiers.iter().map(|(t, r)| (*t, r.len() as i64)).collect::<Vec<_>>())
        .into_iter()
        .map(|c| {
            let tier = c.key.trim_start_matches("tier").parse::<i64>().unwrap_or_default();
            group(c.key, c.ja, c.en, tiers.get(&tier).map_or(&[][..], Vec::as_slice))
        })
        .collect();
    Survey {
        sent: f.sent,
        answered,
        response_rate_percent: percent(answered, f.sent),
        mean_rating: mean(&ratings),
        by_category,
        by_tier,
        low_ratings: f
            .answers
            .iter()
            .filter(|a| a.rating <= LOW_RATING_MAX)
            .map(|a| LowRating { ticket: a.number.clone(), rating: a.rating })
            .collect(),
    }
}

fn by_channel(rows: &[(String, i64)]) -> Vec<Count> {
    let of = |key: &str| rows.iter().filter(|(k, _)| k == key).map(|(_, n)| n).sum();
    let mut out: Vec<Count> = [("phone", "電話", "phone"), ("email", "メール", "e-mail"), ("fax", "FAX", "fax")]
        .into_iter()
        .chain([("manual", "手入力", "logged by hand")])
        .map(|(key, ja, en)| Count::new(key, ja, en, of(key)))
        .collect();
    let known = ["phone", "email", "fax", "manual"];
    for (key, n) in rows.iter().filter(|(k, _)| !known.contains(&k.as_str())) {
        out.push(Count::new(key.as_str(), key.as_str(), key.as_str(), *n));
    }
    out
}

fn by_category(rows: &[(String, i64)]) -> Vec<Count> {
    let mut out: Vec<Count> = rows.iter().map(|(k, n)| Count::new(k.as_str(), k.as_str(), k.as_str(), *n)).collect();
    out.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.key.cmp(&b.key)));
    out
}

fn by_tier(rows: &[(i64, i64)]) -> Vec<Count> {
    let names = [
        (1, "ヘルプデスク", "helpdesk"),
        (2, "運用担当・テクニカルサポート", "operations"),
        (3, "保守業者", "vendors"),
    ];
    let mut out: Vec<Count> = names
        .iter()
        .map(|(tier, ja, en)| {
            let n = rows.iter().filter(|(t, _)| t == tier).map(|(_, n)| n).sum();
            Count::new(format!("tier{tier}"), format!("{tier}次 {ja}"), format!("tier {tier} ({en})"), n)
        })
        .collect();
    for (tier, n) in rows.iter().filter(|(t, _)| !(1..=3).contains(t)) {
        out.push(Count::new(format!("tier{tier}"), format!("{tier}次"), format!("tier {tier}"), *n));
    }
    out
}

fn by_hour(rows: &[(i64, i64)]) -> Vec<i64> {
    let mut hours = vec![0; 24];
    for (hour, n) in rows {
        if let Some(slot) = usize::try_from(*hour).ok().and_then(|h| hours.get_mut(h)) {
            *slot += n;
        }
    }
    hours
}

/// First response: the first work entry by a person. Resolution: the first move to resolved.
fn timings(created: &[(i64, i64)], work: &[WorkEntry]) -> (Timing, Timing) {
    let mut first: HashMap<i64, i64> = HashMap::new();
    let mut resolved: HashMap<i64, i64> = HashMap::new();
    // Entries come in time order per ticket: the first one seen is the earliest.
    for w in work {
        if is_person(&w.actor) {
            first.entry(w.ticket_id).or_insert(w.at - w.created_at);
        }
        if w.action == "status_changed" && w.to_status.as_deref() == Some("resolved") {
            resolved.entry(w.ticket_id).or_insert(w.at - w.created_at);
        }
    }
    let timing = |times: HashMap<i64, i64>| {
        let mut values: Vec<i64> = created.iter().filter_map(|(id, _)| times.get(id).copied()).collect();
        values.sort_unstable();
        Timing {
            measured: values.len() as i64,
            pending: created.len() as i64 - values.len() as i64,
            median_ms: median(&values),
            p90_ms: p90(&values),
        }
    };
    (timing(first), timing(resolved))
}

fn sla(rows: &[(String, String, i64)]) -> Sla {
    let mut kinds: BTreeMap<&str, (i64, i64)> = BTreeMap::new();
    for (kind, state, n) in rows {
        let e = kinds.entry(kind.as_str()).or_default();
        match state.as_str() {
            "met" => e.0 += n,
            _ => e.1 += n,
        }
    }
    let order = |k: &str| ["first_response", "next_update", "resolution", "callback"].iter().position(|o| *o == k);
    let mut by_kind: Vec<SlaKind> = kinds
        .into_iter()
        .map(|(kind, (met, breached))| SlaKind {
            kind: kind.to_owned(),
            met,
            breached,
            compliance_percent: percent(met, met + breached),
        })
        .collect();
    by_kind.sort_by_key(|k| (order(&k.kind).unwrap_or(usize::MAX), k.kind.clone()));
    let (met, breached) = by_kind.iter().fold((0, 0), |(m, b), k| (m + k.met, b + k.breached));
    Sla { met, breached, compliance_percent: percent(met, met + breached), by_kind }
}

/// The age buckets: under a day, one to three days, three to seven, seven or more.
pub const AGE_BUCKETS: [(&str, &str, &str, i64); 4] = [
    ("under_1d", "1日未満", "under 1 day", DAY_MS),
    ("1d_3d", "1〜3日", "1–3 days", 3 * DAY_MS),
    ("3d_7d", "3〜7日", "3–7 days", 7 * DAY_MS),
    ("over_7d", "7日以上", "7 days or more", i64::MAX),
];

/// Whether a ticket was open at the end: its status then (its last move before the end, else
/// new) is before resolved.
fn open_then(c: &BacklogCandidate) -> bool {
    let status = c.status_then.as_deref().unwrap_or("new");
    !matches!(status, "resolved" | "closed")
}

fn backlog(candidates: &[BacklogCandidate], end: i64) -> Backlog {
    let mut counts = [0i64; 4];
    for c in candidates.iter().filter(|c| open_then(c)) {
        let age = end - c.created_at;
        let slot = AGE_BUCKETS.iter().position(|(_, _, _, below)| age < *below).unwrap_or(3);
        counts[slot] += 1;
    }
    Backlog {
        total: counts.iter().sum(),
        by_age: AGE_BUCKETS.iter().zip(counts).map(|((key, ja, en, _), n)| Count::new(*key, *ja, *en, n)).collect(),
    }
}

fn calls(f: &ReportFacts) -> Calls {
    let with = |endings: &[&str]| {
        f.call_endings.iter().filter(|(e, _)| e.as_deref().is_some_and(|e| endings.contains(&e))).map(|(_, n)| n).sum()
    };
    Calls {
        ended: f.call_endings.iter().map(|(_, n)| n).sum(),
        transferred: with(&["transferred"]),
        abandoned: with(&ABANDONED),
        voicemails: f.voicemails,
        callbacks_created: f.callbacks_created,
        callbacks_done: f.callbacks_done,
    }
}

fn escalations(rows: &[(Option<String>, Option<String>, i64)]) -> Escalations {
    let mut by_group: Vec<Count> = rows
        .iter()
        .map(|(group, name, n)| {
            let key = group.clone().unwrap_or_else(|| "unknown".into());
            let ja = name.clone().unwrap_or_else(|| key.clone());
            Count::new(key.clone(), ja, key, *n)
        })
        .collect();
    by_group.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.key.cmp(&b.key)));
    Escalations { total: by_group.iter().map(|c| c.count).sum(), by_group }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn work(ticket_id: i64, at: i64, actor: &str, action: &str, to: Option<&str>) -> WorkEntry {
        WorkEntry {
            ticket_id,
            created_at: 0,
            at,
            actor: actor.into(),
            action: action.into(),
            to_status: to.map(Into::into),
        }
    }

    #[test]
    fn a_response_is_a_persons_work_and_a_resolution_the_first_move_to_resolved() {
        let created = [(1, 0), (2, 0), (3, 0)];
        let entries = [
            // The routing's and the SLA's entries are no one's response.
            work(1, 5, "routing", "category_changed", None),
            work(1, 10, "sato", "note_added", None),
            work(1, 20, "sato", "status_changed", Some("resolved")),
            work(1, 30, "sato", "status_changed", Some("resolved")),
            work(2, 40, "sla", "relay", None),
            work(2, 50, "suzuki", "status_changed", Some("in_progress")),
        ];
        let (first, resolution) = timings(&created, &entries);
        // Responses 10 and 50: median (10 + 50) / 2 = 30, p90 rank ⌈1.8⌉ = 2 → 50; ticket 3 none.
        assert_eq!(first, Timing { measured: 2, pending: 1, median_ms: Some(30), p90_ms: Some(50) });
        assert_eq!(resolution, Timing { measured: 1, pending: 2, median_ms: Some(20), p90_ms: Some(20) });
    }

    #[test]
    fn the_backlog_counts_what_was_open_at_the_end_by_age() {
        let end = 10 * DAY_MS;
        let c = |age: i64, then: Option<&str>| BacklogCandidate {
            created_at: end - age,
            status_now: "closed".into(),
            status_then: then.map(Into::into),
        };
        let b = backlog(
            &[
                c(DAY_MS - 1, None),
                c(DAY_MS, Some("in_progress")),
                c(3 * DAY_MS, Some("escalated")),
                c(7 * DAY_MS, Some("waiting_reporter")),
                c(9 * DAY_MS, Some("resolved")),
            ],
            end,
        );
        let counts: Vec<i64> = b.by_age.iter().map(|c| c.count).collect();
        assert_eq!((b.total, counts), (4, vec![1, 1, 1, 1]));
    }

    #[test]
    fn survey_means_by_category_and_tier_and_the_low_ratings() {
        let a = |number: &str, category: &str, tier: i64, rating: i64| crate::store::SurveyAnswerRow {
            number: number.into(),
            category: category.into(),
            tier,
            rating,
        };
        let facts = SurveyFacts {
            sent: 6,
            answers: vec![a("1", "account_unlock", 1, 5), a("2", "account_unlock", 1, 2), a("3", "fault_report", 2, 4)],
        };
        let s = survey(&facts);
        // 3 of 6 = 50 %; (5 + 2 + 4) / 3 = 3.666… → 3.67.
        assert_eq!((s.sent, s.answered, s.response_rate_percent, s.mean_rating), (6, 3, Some(50.0), Some(3.67)));
        let groups =
            |g: &[RatingGroup]| g.iter().map(|g| (g.key.clone(), g.answered, g.mean_rating)).collect::<Vec<_>>();
        assert_eq!(
            groups(&s.by_category),
            [("account_unlock".to_owned(), 2, Some(3.5)), ("fault_report".to_owned(), 1, Some(4.0))]
        );
        assert_eq!(
            groups(&s.by_tier),
            [("tier1".to_owned(), 2, Some(3.5)), ("tier2".to_owned(), 1, Some(4.0)), ("tier3".to_owned(), 0, None)]
        );
        assert_eq!(s.low_ratings, [LowRating { ticket: "2".into(), rating: 2 }]);
        let none = survey(&SurveyFacts::default());
        assert_eq!((none.response_rate_percent, none.mean_rating), (None, None));
    }

    #[test]
    fn faults_by_system_fold_spellings_and_by_screen_within_their_system() {
        let f = |system: Option<&str>, screen: Option<&str>| FaultAnswers {
            system: system.map(Into::into),
            screen_id: screen.map(Into::into),
        };
        let out = faults(&[
            f(Some("労災システム"), Some("A-12")),
            f(Some("労災システム "), Some("a-12")),
            f(Some("ＶＰＮ"), Some("B-1")),
            f(Some("VPN"), None),
            f(Some("VPN"), Some("B-1")),
            f(None, Some("C-3")),
            f(Some(""), None),
        ]);
        assert_eq!(out.total, 7);
        let systems: Vec<(&str, &str, i64)> =
            out.by_system.iter().map(|c| (c.key.as_str(), c.ja.as_str(), c.count)).collect();
        // ＶＰＮ and VPN are one system named as two of three spell it; the blank answer counts
        // as unanswered with the missing one.
        assert_eq!(
            systems,
            [("vpn", "VPN", 3), ("unanswered", "（システム未回答）", 2), ("労災システム", "労災システム", 2)]
        );
        let screens: Vec<(&str, &str, i64)> =
            out.by_screen.iter().map(|s| (s.system.as_str(), s.screen_id.as_str(), s.count)).collect();
        assert_eq!(screens, [("VPN", "B-1", 2), ("労災システム", "A-12", 2), ("（システム未回答）", "C-3", 1)]);

        let many: Vec<FaultAnswers> =
            (0..25).map(|i| f(Some(&format!("system {i:02}")), Some(&format!("S-{i}")))).collect();
        let capped = faults(&many);
        assert_eq!(capped.by_system.len(), FAULT_LINES);
        assert_eq!(capped.by_system.last().map(|c| (c.key.as_str(), c.count)), Some(("other", 6)));
        assert_eq!(capped.by_screen.last().map(|s| s.count), Some(6));
        assert_eq!(capped.by_system.iter().map(|c| c.count).sum::<i64>(), 25);
    }

    #[test]
    fn sla_compliance_per_kind_and_none_without_clocks() {
        let s = sla(&[
            ("resolution".into(), "met".into(), 1),
            ("first_response".into(), "met".into(), 2),
            ("first_response".into(), "breached".into(), 1),
        ]);
        assert_eq!((s.met, s.breached, s.compliance_percent), (3, 1, Some(75.0)));
        assert_eq!(s.by_kind[0].kind, "first_response");
        assert_eq!(s.by_kind[0].compliance_percent, Some(66.7));
        assert_eq!(sla(&[]).compliance_percent, None);
    }
}
