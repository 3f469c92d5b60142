//! The generic detector: a fax gateway that no profile knows (an Asterisk dialplan's `mail`
//! command, a FreeSWITCH script, a cloud PBX, an e-fax service, a printer's forward). The rule
//! is written up in the [module documentation](super); this file is its implementation.
//!
//! All text is folded first ([`fold`]): NFKC (full-width `０３－…`, `ＦＡＸ`, half-width kana),
//! every dash between digits (`‐ ‑ ‒ – — ― − ー ｰ`) to `-`. Numbers are then read by
//! [`phone_numbers`], which only accepts what a telephone number can be.

use super::{DocKind, FaxInfo, FaxMail, count_pages, doc_kind};
use crate::domain::phone;
use regex::Regex;
use std::sync::LazyLock;
use unicode_normalization::UnicodeNormalization;

/// The score a mail needs to be taken as a fax (see the module documentation of `fax`).
pub const THRESHOLD: i32 = 5;

/// The body is read this far (bytes): a gateway's notice is short, and a long mail is not read
/// through on the intake's thread.
const BODY_READ: usize = 32 * 1024;
/// The most space-separated runs of digits one number is read from.
const MAX_RUNS: usize = 6;
/// Text of the cleaned body longer than this (non-blank characters) is not a short template.
const SHORT_BODY: usize = 600;
/// Text of the cleaned body longer than this is a letter, not a gateway notice.
const LONG_BODY: usize = 1500;

fn re(pattern: &str) -> Regex {
    Regex::new(pattern).expect("built-in fax patterns are valid")
}

macro_rules! patterns {
    ($($name:ident = $pattern:expr;)+) => {$(
        static $name: LazyLock<Regex> = LazyLock::new(|| re($pattern));
    )+};
}

const OPEN: &str = r"[\s\[(【<〔「『]*";
const CLOSE: &str = r"[\s\])】>〕」』・:\-]*";
const FAX: &str = r"(?:e-?fax|fax|facsimile|ファクス|ファックス|ファクシミリ)";

static GATEWAY_SUBJECT: LazyLock<Regex> = LazyLock::new(|| {
    let alternatives = [
        // FAX受信, ファクス受信, PC-FAX受信, [FAX] 受信通知, ＦＡＸを受信しました, Fax着信
        format!(r"^{OPEN}(?:pc-?)?{FAX}{CLOSE}(?:を|が)?(?:受信|着信|到着)"),
        // 受信FAX, 受信ファクス (Kyocera), 着信FAX
        format!(r"^{OPEN}(?:受信|着信){CLOSE}{FAX}"),
        // FAXお知らせメール, FAX着信通知
        format!(r"^{OPEN}{FAX}{CLOSE}(?:お知らせメール|着信通知|受信通知|到着通知)"),
        // Fax received (from …), FAX from …, New fax message from …, eFax message from …
        format!(r"^{OPEN}(?:new |incoming |received )?{FAX}\s*(?:message\s*)?(?:received|from|arrived|receipt)\b"),
        // New fax, Incoming fax, Received fax
        format!(r"^{OPEN}(?:new|incoming|received)\s+{FAX}\b"),
        // You have received a 3 page fax from …
        format!(r"^{OPEN}you(?:'ve| have)\s+(?:received\s+)?(?:a|an|\d+)\s+(?:new\s+)?(?:\d+[\s-]*pages?\s+)?{FAX}\b"),
    ];
    re(&format!("(?i){}", alternatives.join("|")))
});

patterns! {
    // A person writing about fax reception ("FAX受信ができません") is not a gateway's notice.
    SUBJECT_DENY = r"(?i)でき|ない|ません|エラー|不具合|障害|故障|設定|方法|トラブル|問い?合わ?せ|質問|お願い|依頼|変更|申請|について|の件|失敗|されず|届か|遅延|教えて|容量|超過|メモリ|レポート|結果|一覧|ジャーナル|[?]|\b(?:not|cannot|can't|unable|problem|issue|error|fail\w*|help|question|how|why|change|request|setup|settings?|machines?|devices?|toner|paper|reports?|results?|memory|full|journal|logs?)\b";
    FAX_WORD = r"(?i)fax|facsimile|ファクス|ファックス|ファクシミリ";
    REPLY_SUBJECT = r"(?i)^\s*(?:re|fw|fwd|aw|sv|vs|転送|返信)\s*(?:\[\d+\]|\(\d+\))?\s*:";
    REPLY_HEADERS = r"(?mi)^(?:in-reply-to|references)\s*:";
    // Our own acknowledgement's subject, and a fax ticket's summary line, quoted back to us.
    OUR_TICKET = r"受付番号";
    OUR_SUMMARY = r"^\s*\[FAX\] 送信元 / from:";
    MACHINE_SENDER = r"(?i)\b(?:no-?reply|do-?not-?reply|donotreply|asterisk|freeswitch|hylafax|pbx|mfp\w*|printer|copier|scan\w*|root|daemon|system|notif\w*|alert|gateway|mailer|ricoh|canon|sharp|kyocera|xerox|brother|konica\w*|fujifilm|toshiba|efax|ringcentral|twilio)\b|複合機|プリンタ|コピー機";
    MACHINE_HEADERS = r"(?mi)^(?:auto-submitted:\s*auto-generated|x-mailer:.*(?:asterisk|freeswitch|hylafax|fax|pbx|mfp|ricoh|canon|sharp|kyocera|xerox|brother)|x-[a-z0-9-]*fax[a-z0-9-]*:)";
    // Where a reply's or forward's quoted part begins.
    CUT = r"(?i)^\s*(?:-{2,}\s*(?:original message|forwarded message|元のメッセージ|転送されたメッセージ|転送メッセージ)|.*\b(?:wrote|schrieb)\s*:\s*$|.*(?:書きました|書き込みました)\s*[:：]?\s*$|.*@[^\s>]+>\s*:\s*$|_{10,}\s*$)";
    // A contact card's fax line: "FAX: 03-…", "Fax番号 03-…", "F. 03-…".
    CARD_FAX = r"(?i)(?:^|[^a-z])(?:(?:fax|ファクス|ファックス)\s*(?:番号|no\.?|number|\))?|f\s*[.:])\s*[:.]?\s*[(+]?\d";
    CARD_OTHER = r"(?i)(?:^|[^a-z])(?:tel|phone|mobile|cell|t)\s*[.:]?\s*[(+]?\d|電話|携帯|内線|代表|〒|https?://|[\w.+-]+@[\w-]+\.[\w.]+";
    // Words that make a line a gateway's line rather than a contact card.
    GATEWAY_LINE = r"(?i)送信元|発信元|相手先|送信者|発信者|着信|受信|宛先|\bfrom\b|\bsender\b|\bremote\b|\bstation\b|\bcaller\b|\bcsid\b|\btsi\b|\breceived\b|\bpages?\b|枚数|ページ";
    DIRECTION = r"(?i)\bfrom\b|受信|着信|\breceived\b|\bincoming\b";
    FROM_SUFFIX = r#"^\s*["」』)]*\s*(?:様|さん|殿)?\s*(?:から|より)"#;
    GREETING = r"(?im)お世話にな|お疲れ様|お疲れさま|おつかれさま|拝啓|^\s*(?:dear|hi|hello|hey)\b";
    CLOSING = r"(?im)よろしくお願い|宜しくお願い|よろしくおねがい|敬具|^\s*(?:best regards|kind regards|regards|sincerely|thanks|thank you|cheers)\s*[,.!]?\s*$";
    REQUEST = r"(?i)困って|教えて|したいので|したいのですが|いただけますか|いただけないでしょうか|でしょうか|できますか|ませんか|\b(?:could|can|would) you\b|\bi(?:'d| would) like\b|\bi want\b|\bplease (?:help|advise|let me know)\b";
    PAGES_BEFORE = r"(?i)(?:^|[^\d/.])(\d{1,3})\s*(?:pages?|pgs?)\b";
    PAGES_AFTER = r"(?i)\b(?:number of pages|total pages|page count|pages?|pgs)\s*[:=]?\s*(\d{1,3})(?:\s*(?:of|/)\s*(\d{1,3}))?";
    PAGES_JA_BEFORE = r"(?:^|[^\d/.])(\d{1,3})\s*(?:ページ|枚|頁)";
    PAGES_JA_AFTER = r"(?:枚数|ページ数|頁数|受信枚数|送信枚数)\s*[:：]?\s*(\d{1,3})";
    RECEIVED = r"(?i)^\s*(?:受信日時|受信時刻|受信時間|受信日|着信日時|received(?:\s+(?:at|on|time|date))?|date(?:\s*/\s*time)?|time)\s*[:：]\s*(.+?)\s*$";
}

/// Labels a number may stand under, weakest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Label {
    /// The number is someone else's: the called line, the writer's own telephone.
    Other,
    /// "番号", "Number": a number, not said whose.
    Weak,
    /// 発信元, 送信元, 相手先, From, Sender, Remote station ID, CSID, TSI.
    Sender,
    /// Caller ID, 発信者番号: what the network says, preferred over what the machine says.
    Caller,
}

static LABELS: LazyLock<Vec<(Regex, Label)>> = LazyLock::new(|| {
    vec![
        (
            re(
                r"(?i)caller[\s_-]*id|calling\s*(?:party|number)|\bcall\s*id\d?\b|\bcallid\d?\b|\bcid\b|\bani\b|発信者番号|発信番号|通知番号|発番号|発信者id",
            ),
            Label::Caller,
        ),
        (
            re(
                r"(?i)発信元|送信元|相手先|送信者|発信者|差出元|相手局|\bfrom\b|\bsender\b|remote\s*(?:station\s*)?id|\bstation\s*id|\bcsid\b|\btsi\b|\bcsi\b",
            ),
            Label::Sender,
        ),
        (
            re(
                r"(?i)宛先|着信先|受信先|受信番号|着信番号|受信者|自局|\bto\b|\bcalled\b|\brecipient\b|\bdialed\b|\bdid\b|\bdestination\b|\bdnis\b|\btel\b|\bphone\b|\bmobile\b|\bcell\b|電話|携帯|内線",
            ),
            Label::Other,
        ),
        (re(r"(?i)番号|\bnumber\b|\bno\b\.?|\bnr\b"), Label::Weak),
    ]
});

/// NFKC, and every kind of dash between digits as `-`.
pub fn fold(text: &str) -> String {
    let chars: Vec<char> = text.nfkc().collect();
    let digit = |i: Option<usize>| i.and_then(|i| chars.get(i)).is_some_and(char::is_ascii_digit);
    chars
        .iter()
        .enumerate()
        .map(|(i, &c)| match c {
            '\u{2010}'..='\u{2015}' | '\u{2043}' | '\u{2212}' | '\u{FE58}' | '\u{FE63}' | '\u{FF0D}' => '-',
            'ー' | 'ｰ' | '〜' if digit(i.checked_sub(1)) && digit(Some(i + 1)) => '-',
            c => c,
        })
        .collect()
}

/// A telephone number found in a line of folded text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// Byte offsets in the line.
    pub start: usize,
    pub end: usize,
    /// As [`phone::normalize`] writes it: `0312345678`, `+12125550100`.
    pub number: String,
}

/// The normalised number, if `raw` can be a telephone number: Japanese numbers of 10 digits
/// (11 for 020/050/060/070/080/090/0800), from `0…`, `+81…` or `0081…`; other countries'
/// as `+` and 8 to 15 digits. Dates, times, postal codes, page counts, message numbers and
/// long IDs have other lengths or starts.
pub fn as_phone(raw: &str) -> Option<String> {
    let n = phone::normalize(raw)?;
    if let Some(international) = n.strip_prefix('+') {
        let ok = (8..=15).contains(&international.len()) && !international.starts_with('0');
        return ok.then_some(n);
    }
    let b = n.as_bytes();
    let ok = match n.len() {
        10 => b[0] == b'0' && b[1] != b'0',
        11 => (b[0] == b'0' && b[2] == b'0' && (b'2'..=b'9').contains(&b[1])) || n.starts_with("0800"),
        _ => false,
    };
    ok.then_some(n)
}

/// The telephone numbers in a line of folded text: runs of digits with `( ) + - .`, and runs
/// one or two spaces apart (`+81 3 1234 5678`) where together they make one number; a run
/// glued to letters, `@`, `/` or `:` is part of something else (an address, a date, a time).
pub fn phone_numbers(line: &str) -> Vec<Found> {
    let chars: Vec<(usize, char)> = line.char_indices().collect();
    let byte = |i: usize| chars.get(i).map_or(line.len(), |&(b, _)| b);
    let at = |i: usize| chars.get(i).map(|&(_, c)| c);
    let mut chunks: Vec<(usize, usize)> = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i].1;
        if !(c.is_ascii_digit() || c == '+' || c == '(') {
            i += 1;
            continue;
        }
        let mut end = i;
        while end < chars.len() && matches!(chars[end].1, '0'..='9' | '(' | ')' | '+' | '-' | '.') {
            end += 1;
        }
        let mut trimmed = end;
        while trimmed > i && matches!(chars[trimmed - 1].1, '-' | '.' | '(' | '+') {
            trimmed -= 1;
        }
        if chars[i..trimmed].iter().any(|(_, c)| c.is_ascii_digit()) {
            chunks.push((i, trimmed));
        }
        i = end;
    }
    let glued = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || "@/_=#&%\\".contains(c));
    let bounded = |s: usize, e: usize| {
        let before = s.checked_sub(1).and_then(at);
        let before_ok = match before {
            Some('-' | '.') => !glued(s.checked_sub(2).and_then(at)),
            Some(':') => !s.checked_sub(2).and_then(at).is_some_and(|c| c.is_ascii_digit()),
            c => !glued(c),
        };
        let after_ok = match at(e) {
            Some('-' | '.') => !glued(at(e + 1)),
            Some(':') => !at(e + 1).is_some_and(|c| c.is_ascii_digit()),
            c => !glued(c),
        };
        before_ok && after_ok
    };
    // Groups of chunks one or two spaces (or a spaced dash) apart.
    let mut groups: Vec<Vec<(usize, usize)>> = Vec::new();
    for &(s, e) in &chunks {
        let joins = groups.last().and_then(|g| g.last()).is_some_and(|&(_, prev_end)| {
            let gap: String = chars[prev_end..s].iter().map(|&(_, c)| c).collect();
            let dashes = gap.chars().filter(|&c| c == '-' || c == '.').count();
            let spaces = gap.chars().filter(|&c| c == ' ').count();
            !gap.is_empty() && gap.len() <= 3 && dashes + spaces == gap.len() && dashes <= 1 && spaces <= 2
        });
        match groups.last_mut() {
            Some(g) if joins => g.push((s, e)),
            _ => groups.push(vec![(s, e)]),
        }
    }
    let mut found = Vec::new();
    for g in &groups {
        // Leftmost, then longest: a number is at most a few runs (`+81 (0)3 1234 5678`).
        let mut a = 0;
        while a < g.len() {
            let longest = (1..=MAX_RUNS.min(g.len() - a)).rev().find_map(|len| {
                let (s, e) = (g[a].0, g[a + len - 1].1);
                let number = bounded(s, e).then(|| as_phone(&line[byte(s)..byte(e)])).flatten()?;
                Some((len, Found { start: byte(s), end: byte(e), number }))
            });
            match longest {
                Some((len, f)) => {
                    found.push(f);
                    a += len;
                }
                None => a += 1,
            }
        }
    }
    found
}

/// A sender's number found, and how sure it is.
#[derive(Debug, Clone)]
struct Candidate {
    number: String,
    label: Label,
}

/// The label cluster that ends last in `window`: labels chained by at most four characters
/// ("送信元FAX番号", "発信元電話番号"), the strongest of them that says whose number it is.
fn label_before(window: &str) -> Option<Label> {
    let mut hits: Vec<(usize, usize, Label)> = Vec::new();
    for (r, label) in LABELS.iter() {
        hits.extend(r.find_iter(window).map(|m| (m.start(), m.end(), *label)));
    }
    hits.sort_by_key(|&(s, e, _)| (e, s));
    let (mut start, _, first) = *hits.last()?;
    let mut cluster = vec![first];
    for &(s, e, label) in hits.iter().rev().skip(1) {
        if e > start {
            // Overlapping hits (`発信者番号` and `発信者`): both belong.
            cluster.push(label);
            start = start.min(s);
            continue;
        }
        let gap = &window[e..start];
        if gap.chars().count() <= 4 && !gap.contains([':', '：']) && !gap.chars().any(|c| c.is_ascii_digit()) {
            cluster.push(label);
            start = s;
        } else {
            break;
        }
    }
    let strongest = cluster.iter().copied().max()?;
    Some(if strongest >= Label::Sender { strongest } else { cluster.iter().copied().min()? })
}

/// Whether a line holds nothing but a label (a table's left column: "発信元" above the number).
fn label_line(line: &str) -> Option<Label> {
    let t = line.trim().trim_end_matches([':', '：']).trim();
    if t.is_empty() || t.chars().count() > 24 {
        return None;
    }
    let label = label_before(t)?;
    let ends = LABELS.iter().any(|(r, _)| r.find_iter(t).any(|m| t[m.end()..].trim().is_empty()));
    ends.then_some(label)
}

/// Sender numbers in `lines` (folded), in reading order.
fn candidates(lines: &[&str]) -> Vec<Candidate> {
    let mut out = Vec::new();
    let mut previous: Option<&str> = None;
    for line in lines {
        let mut window_start = 0;
        let fax_line = FAX_WORD.is_match(line);
        for f in phone_numbers(line) {
            let window = &line[window_start..f.start];
            let mut label = label_before(window);
            if label.is_none()
                && window.trim_matches(|c: char| c.is_whitespace() || "\"'「『(<:：".contains(c)).is_empty()
            {
                label = previous.and_then(label_line);
            }
            window_start = f.end;
            let phrase = fax_line && (DIRECTION.is_match(window) || FROM_SUFFIX.is_match(&line[f.end..]));
            let label = match label {
                Some(Label::Other) => continue,
                Some(l @ (Label::Sender | Label::Caller)) => l,
                _ if phrase => Label::Sender,
                Some(Label::Weak) => Label::Weak,
                None if fax_line => Label::Weak,
                None => continue,
            };
            out.push(Candidate { number: f.number, label });
        }
        if !line.trim().is_empty() {
            previous = Some(line);
        }
    }
    out
}

/// The body as a gateway wrote it: folded, without quoted lines (nor a fax ticket's summary
/// line, which is ours), without what follows a
/// reply's or forward's separator or a `-- ` signature delimiter, and without contact-card
/// paragraphs (a `FAX: …` line beside a telephone number, an address, a URL or `〒`).
struct Body {
    lines: Vec<String>,
    /// A contact card with a fax number was taken out.
    card: bool,
}

impl Body {
    fn clean(body: &str) -> Body {
        let folded = fold(body);
        let mut lines: Vec<String> = Vec::new();
        let mut signature = false;
        let mut tail: Vec<String> = Vec::new();
        for line in folded.lines() {
            let line = line.trim_end();
            if signature {
                tail.push(line.to_owned());
                continue;
            }
            if line == "--" || line == "-- " || CUT.is_match(line) {
                signature = true;
                continue;
            }
            if matches!(line.trim_start().chars().next(), Some('>' | '|')) || OUR_SUMMARY.is_match(line) {
                continue;
            }
            lines.push(line.to_owned());
        }
        let card_in_tail = (0..tail.len()).any(|i| is_card_line(&tail, i));
        let mut card = card_in_tail;
        let mut drop = vec![false; lines.len()];
        for i in 0..lines.len() {
            if is_card_line(&lines, i) {
                card = true;
                // The whole paragraph is the card.
                let mut a = i;
                while a > 0 && !lines[a - 1].trim().is_empty() {
                    a -= 1;
                }
                let mut b = i;
                while b + 1 < lines.len() && !lines[b + 1].trim().is_empty() {
                    b += 1;
                }
                drop[a..=b].iter_mut().for_each(|d| *d = true);
            }
        }
        let lines = lines.into_iter().zip(drop).filter(|(_, d)| !d).map(|(l, _)| l).collect();
        Body { lines, card }
    }

    fn text(&self) -> String {
        self.lines.join("\n")
    }
}

/// A contact card's fax line: `FAX: 03-…` with a telephone number, an address, a URL or `〒`
/// on the same line or the next or previous one of its paragraph, none of them a gateway's line.
fn is_card_line(lines: &[String], i: usize) -> bool {
    let line = &lines[i];
    if !CARD_FAX.is_match(line) || GATEWAY_LINE.is_match(line) {
        return false;
    }
    let other = |l: &str| !GATEWAY_LINE.is_match(l) && CARD_OTHER.is_match(&CARD_FAX.replace_all(l, " "));
    if other(line) {
        return true;
    }
    let neighbour = |j: usize| lines.get(j).is_some_and(|l| !l.trim().is_empty() && other(l));
    i.checked_sub(1).is_some_and(neighbour) || neighbour(i + 1)
}

fn pages_in(text: &str) -> Option<u32> {
    let valid = |n: &str| n.parse::<u32>().ok().filter(|n| (1..=999).contains(n));
    for line in text.lines() {
        if let Some(n) = PAGES_AFTER.captures(line).and_then(|c| c.get(2).or(c.get(1)).and_then(|m| valid(m.as_str())))
        {
            return Some(n);
        }
        for r in [&*PAGES_BEFORE, &*PAGES_JA_BEFORE, &*PAGES_JA_AFTER] {
            if let Some(n) = r.captures(line).and_then(|c| valid(&c[1])) {
                return Some(n);
            }
        }
    }
    None
}

/// What the detector weighed, for the ticket's history: `subject+3 number+2 … = 8`.
#[derive(Default)]
struct Evidence(Vec<(&'static str, i32)>);

impl Evidence {
    fn add(&mut self, what: &'static str, points: i32) {
        if points != 0 {
            self.0.push((what, points));
        }
    }
    fn score(&self) -> i32 {
        self.0.iter().map(|(_, p)| p).sum()
    }
    fn describe(&self) -> String {
        let parts: Vec<String> = self.0.iter().map(|(w, p)| format!("{w}{p:+}")).collect();
        format!("{} = {}", parts.join(" "), self.score())
    }
}

/// The generic detector. `None` unless the mail is a fax gateway's by the rule in the module
/// documentation.
pub fn detect(mail: &FaxMail<'_>) -> Option<FaxInfo> {
    // Gate 1: the document.
    let kinds: Vec<DocKind> = mail.attachments.iter().map(doc_kind).collect();
    let documents = kinds.iter().filter(|k| matches!(k, DocKind::Tiff | DocKind::Pdf)).count();
    let images = kinds.iter().filter(|k| **k == DocKind::Image).count();
    if documents == 0 && images != 1 {
        return None;
    }
    // Gate 2: a reply or a forward is a person writing.
    let subject = fold(mail.subject);
    if REPLY_SUBJECT.is_match(&subject) || REPLY_HEADERS.is_match(mail.headers) || OUR_TICKET.is_match(&subject) {
        return None;
    }
    let name = fold(mail.from_name);
    let local = mail.from.rsplit_once('@').map_or(mail.from, |(l, _)| l).replace(['.', '_', '+'], " ");
    let read = &mail.body[..mail.body.floor_char_boundary(BODY_READ)];
    let truncated = read.len() < mail.body.len();
    let body = Body::clean(read);
    let text = body.text();
    // Gate 3: fax words somewhere.
    let sender_fax = FAX_WORD.is_match(&name) || FAX_WORD.is_match(&local);
    let body_fax = FAX_WORD.is_match(&text);
    let subject_fax = FAX_WORD.is_match(&subject);
    if !(sender_fax || body_fax || subject_fax) {
        return None;
    }

    let mut e = Evidence::default();
    let gateway_subject = GATEWAY_SUBJECT.is_match(&subject) && !SUBJECT_DENY.is_match(&subject);
    e.add("subject", if gateway_subject { 3 } else { i32::from(subject_fax) });
    e.add("sender", if sender_fax { 2 } else { 0 });
    let machine =
        MACHINE_SENDER.is_match(&name) || MACHINE_SENDER.is_match(&local) || MACHINE_HEADERS.is_match(mail.headers);
    e.add("machine", i32::from(machine));
    let mut lines: Vec<&str> = vec![&subject];
    lines.extend(body.lines.iter().map(String::as_str));
    lines.push(&name);
    let found = candidates(&lines);
    let best = found.iter().map(|c| c.label).max();
    let number = best.and_then(|l| found.iter().find(|c| c.label == l)).map(|c| c.number.clone());
    let strong_number = best.is_some_and(|l| l >= Label::Sender);
    e.add("number", if strong_number { 2 } else { i32::from(best.is_some()) });
    let stated_pages = pages_in(&format!("{subject}\n{text}"));
    e.add("pages", i32::from(stated_pages.is_some()));
    e.add("body", i32::from(body_fax));
    e.add("tiff", i32::from(kinds.contains(&DocKind::Tiff)));
    let length = text.chars().filter(|c| !c.is_whitespace()).count();
    e.add("short", i32::from(length <= SHORT_BODY && !truncated));
    e.add("long", if length > LONG_BODY || truncated { -2 } else { 0 });
    e.add("greeting", if GREETING.is_match(&text) { -3 } else { 0 });
    e.add("closing", if CLOSING.is_match(&text) { -3 } else { 0 });
    e.add("request", if REQUEST.is_match(&text) { -3 } else { 0 });
    e.add("card", if body.card { -2 } else { 0 });
    e.add("other-files", if kinds.contains(&DocKind::Other) { -2 } else { 0 });

    let fax = e.score() >= THRESHOLD && (gateway_subject || strong_number);
    tracing::debug!(fax, evidence = %e.describe(), "generic fax detector");
    if !fax {
        return None;
    }
    let pages = stated_pages.or_else(|| count_pages(mail.attachments)).or((documents == 0).then_some(1));
    let received = body.lines.iter().find_map(|l| RECEIVED.captures(l).map(|c| c[1].to_owned()));
    Some(FaxInfo { profile: "generic".into(), number, pages, received, evidence: Some(e.describe()) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::AttachmentUpload;

    #[test]
    fn numbers_written_every_way_are_read_and_other_digits_are_not() {
        let table: &[(&str, &[&str])] = &[
            ("発信元: 03-1234-5678", &["0312345678"]),
            ("０３－１２３４－５６７８", &["0312345678"]),
            (
                "03‐1234‐5678 03−1234−5678 03–1234–5678 03ー1234ー5678",
                &["0312345678", "0312345678", "0312345678", "0312345678"],
            ),
            ("03(1234)5678", &["0312345678"]),
            ("(03) 1234-5678", &["0312345678"]),
            ("+81 3-1234-5678", &["0312345678"]),
            ("+81 3 1234 5678", &["0312345678"]),
            ("+81-(0)3-1234-5678", &["0312345678"]),
            ("+81312345678", &["0312345678"]),
            ("Caller-ID: +1 212 555 0100", &["+12125550100"]),
            ("090-1111-2222", &["09011112222"]),
            ("0120-123-456", &["0120123456"]),
            ("受信日時: 2024-05-14 10:23:45", &[]),
            ("2024/05/14 03-1234-5678", &["0312345678"]),
            ("2024-05-14 03-1234-5678", &["0312345678"]),
            ("〒100-8926 東京都千代田区", &[]),
            ("〒060-0001 03-1234-5678", &["0312345678"]),
            ("Pages: 2", &[]),
            ("CommID: 000000123", &[]),
            ("Message No. 0042", &[]),
            ("Job ID 202405141023450001", &[]),
            ("ID-0312345678", &[]),
            ("fax0312345678@efax.example", &[]),
            ("0312345678 0312345679", &["0312345678", "0312345679"]),
            ("3ページ 10:23", &[]),
            ("03-1234-5678-9", &[]),
        ];
        for (line, want) in table {
            let folded = fold(line);
            let got: Vec<String> = phone_numbers(&folded).into_iter().map(|f| f.number).collect();
            assert_eq!(&got, want, "{line}");
        }
    }

    #[test]
    fn a_hostile_body_is_read_in_one_pass() {
        // Digit runs one space apart and numbers by the thousand on one line: linear, no recursion.
        let digits = "1 ".repeat(20_000);
        assert!(phone_numbers(&digits).is_empty());
        let numbers = "発信元 0312345678 ".repeat(5_000);
        assert_eq!(phone_numbers(&numbers).len(), 5_000);
        // Only the first BODY_READ bytes are read, and a body that long is not a template.
        let tiff = [AttachmentUpload { filename: "f.tif".into(), content_type: "image/tiff".into(), bytes: vec![] }];
        let body = format!("発信元 0312345678\n{digits}\n{numbers}\n");
        let mail =
            FaxMail {
                from: "fax@x", from_name: "", subject: "FAX受信", body: &body, headers: "", attachments: &tiff
            };
        let info = detect(&mail).unwrap();
        assert_eq!(info.number.as_deref(), Some("0312345678"));
        assert!(info.evidence.as_deref().unwrap().contains("long-2"), "{:?}", info.evidence);
    }

    #[test]
    fn labels_say_whose_number_it_is() {
        let lines = ["送信元FAX番号: 03-1234-5678", "宛先: 03-5555-0000", "発信元電話番号 06-1111-2222"];
        let found = candidates(&lines);
        let got: Vec<(&str, Label)> = found.iter().map(|c| (c.number.as_str(), c.label)).collect();
        assert_eq!(got, [("0312345678", Label::Sender), ("0611112222", Label::Sender)]);
        let found = candidates(&["Remote station ID: ACME", "Caller ID: 0312345678", "To: 0355550000"]);
        assert_eq!(found.len(), 1);
        assert_eq!((found[0].number.as_str(), found[0].label), ("0312345678", Label::Caller));
        let found = candidates(&["発信元", "03-1234-5678"]);
        assert_eq!(found[0].label, Label::Sender, "a table's label above its value");
        let found = candidates(&["03-1234-5678様からFAXが届きました"]);
        assert_eq!(found[0].label, Label::Sender);
        let found = candidates(&["FAX: 03-1234-5679"]);
        assert_eq!(found[0].label, Label::Weak, "a bare FAX: line is a contact card's");
        assert!(candidates(&["TEL: 03-1234-5678"]).is_empty());
    }

    #[test]
    fn signatures_quotes_and_replies_are_taken_out() {
        let body = Body::clean(
            "見積書を送付します。\n\n山田太郎\n総務課\nTEL: 03-1234-5678 FAX: 03-1234-5679\n\n> [FAX] 送信元 / from: 0312345678\n",
        );
        assert!(body.card);
        assert_eq!(body.text().trim(), "見積書を送付します。");
        let body = Body::clean("本文\n山田\nFAX 03-1234-5679\nyamada@example.go.jp\n");
        assert!(body.card, "an address beside it");
        let body = Body::clean("送信元FAX番号: 03-1234-5678\nお問い合わせ電話番号: 0120-000-000\n");
        assert!(!body.card, "a gateway's lines are not a card");
        let body = Body::clean("了解です\n\n-----Original Message-----\nFAX受信 発信元 03-1234-5678\n");
        assert_eq!(body.text().trim(), "了解です");
    }

    #[test]
    fn pages_are_read_from_the_text() {
        for (text, want) in [
            ("eFax message from \"03-1234-5678\" - 2 page(s)", Some(2)),
            ("You have received a 3 page fax", Some(3)),
            ("Pages: 4", Some(4)),
            ("Page 1 of 5", Some(5)),
            ("枚数: 2", Some(2)),
            ("受信枚数：6枚", Some(6)),
            ("3ページ", Some(3)),
            ("ページ数：7", Some(7)),
            ("1/3ページ目", None),
            ("受信日時: 2024/05/14", None),
        ] {
            assert_eq!(pages_in(&fold(text)), want, "{text}");
        }
    }
}
