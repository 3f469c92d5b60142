//! `[[status_sources]]` read into typed sources once: the URL parsed (http or https, with a
//! host), the limits within bounds, the names unique. Every problem is reported at once, each
//! with the table it is in and the key, so the configuration's reader can name its line.

use crate::config::StatusSourceSettings;
use reqwest::Url;
use std::sync::Arc;
use std::time::Duration;

/// The longest time a source may be given, and the most of its answer that may be kept.
pub const MAX_TIMEOUT_MS: u64 = 30_000;
pub const MIN_TIMEOUT_MS: u64 = 100;
pub const MAX_BYTES: u64 = 1024 * 1024;
pub const MIN_BYTES: u64 = 1024;
const NAME_MAX_CHARS: usize = 100;

/// One source, as fetched.
#[derive(Debug, Clone, PartialEq)]
pub struct Source {
    pub name: String,
    /// As configured (stored with each answer; it may carry a token, so it is never logged).
    pub url: Url,
    pub timeout: Duration,
    pub max_bytes: usize,
    /// Ticket categories whose new tickets get this source's answer by themselves.
    pub categories: Vec<String>,
}

impl Source {
    /// The URL as logs show it: no userinfo, no fragment, secret-looking query values blanked.
    pub fn shown_url(&self) -> String {
        redacted(&self.url)
    }
}

/// Every configured source, in the configuration's order; cheap to clone.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sources(Arc<Vec<Source>>);

impl Sources {
    /// The typed sources, or every problem in them.
    pub fn from_settings(list: &[StatusSourceSettings]) -> Result<Sources, Vec<SourceProblem>> {
        let mut problems = Vec::new();
        let mut sources = Vec::with_capacity(list.len());
        for (index, s) in list.iter().enumerate() {
            let mut problem = |kind| problems.push(SourceProblem { index, name: s.name.trim().to_owned(), kind });
            let name = s.name.trim();
            if name.is_empty() {
                problem(ProblemKind::NoName);
            } else if name.chars().count() > NAME_MAX_CHARS {
                problem(ProblemKind::LongName);
            } else if let Some(first) = list[..index].iter().position(|o| o.name.trim() == name) {
                problem(ProblemKind::DuplicateName(first));
            }
            let url = match Url::parse(s.url.trim()) {
                Ok(url) if !matches!(url.scheme(), "http" | "https") => {
                    problem(ProblemKind::Scheme);
                    None
                }
                Ok(url) if url.host_str().is_none_or(str::is_empty) => {
                    problem(ProblemKind::NoHost);
                    None
                }
                Ok(url) => Some(url),
                Err(e) => {
                    problem(ProblemKind::BadUrl(e.to_string()));
                    None
                }
            };
            if !(MIN_TIMEOUT_MS..=MAX_TIMEOUT_MS).contains(&s.timeout_ms) {
                problem(ProblemKind::Timeout);
            }
            if !(MIN_BYTES..=MAX_BYTES).contains(&s.max_bytes) {
                problem(ProblemKind::MaxBytes);
            }
            for (i, c) in s.categories.iter().enumerate() {
                if c.trim().is_empty() {
                    problem(ProblemKind::EmptyCategory(i));
                }
            }
            if let Some(url) = url {
                sources.push(Source {
                    name: name.to_owned(),
                    url,
                    timeout: Duration::from_millis(s.timeout_ms),
                    max_bytes: s.max_bytes as usize,
                    categories: s.categories.iter().map(|c| c.trim().to_owned()).collect(),
                });
            }
        }
        if problems.is_empty() { Ok(Sources(Arc::new(sources))) } else { Err(problems) }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn all(&self) -> &[Source] {
        &self.0
    }

    pub fn named(&self, name: &str) -> Option<&Source> {
        self.0.iter().find(|s| s.name == name.trim())
    }

    /// The sources fetched by themselves for a new ticket of `category`.
    pub fn for_category(&self, category: &str) -> Vec<Source> {
        self.0.iter().filter(|s| s.categories.iter().any(|c| c == category)).cloned().collect()
    }
}

/// One thing wrong with one `[[status_sources]]` table (`index` from 0, in the file's order).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("[[status_sources]] {} 「{name}」: {kind}", index + 1)]
pub struct SourceProblem {
    pub index: usize,
    pub name: String,
    pub kind: ProblemKind,
}

impl SourceProblem {
    /// The key the problem is in, to find its line.
    pub fn key(&self) -> &'static str {
        match self.kind {
            ProblemKind::NoName | ProblemKind::LongName | ProblemKind::DuplicateName(_) => "name",
            ProblemKind::BadUrl(_) | ProblemKind::Scheme | ProblemKind::NoHost => "url",
            ProblemKind::Timeout => "timeout_ms",
            ProblemKind::MaxBytes => "max_bytes",
            ProblemKind::EmptyCategory(_) => "categories",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProblemKind {
    #[error("name を入力してください / name is required")]
    NoName,
    #[error("name は {NAME_MAX_CHARS} 文字までです / name may have at most {NAME_MAX_CHARS} characters")]
    LongName,
    #[error("name が {} 番目の取得元と同じです / name is already used by status source {}", .0 + 1, .0 + 1)]
    DuplicateName(usize),
    #[error("url を URL として読めません / url is not a URL: {0}")]
    BadUrl(String),
    #[error("url は http:// か https:// で始めてください / url must start with http:// or https://")]
    Scheme,
    #[error("url にホスト名がありません / url names no host")]
    NoHost,
    #[error(
        "timeout_ms は {MIN_TIMEOUT_MS} から {MAX_TIMEOUT_MS} までです / timeout_ms must be between {MIN_TIMEOUT_MS} and {MAX_TIMEOUT_MS}"
    )]
    Timeout,
    #[error(
        "max_bytes は {MIN_BYTES} から {MAX_BYTES} (1 MiB) までです / max_bytes must be between {MIN_BYTES} and {MAX_BYTES} (1 MiB)"
    )]
    MaxBytes,
    #[error("categories[{0}] が空です / categories[{0}] is empty")]
    EmptyCategory(usize),
}

/// Query parameters whose value is taken for a secret when their name holds one of these.
const SECRET_WORDS: [&str; 9] = ["token", "key", "secret", "pass", "pwd", "auth", "sig", "session", "credential"];

/// `url` as it may be logged or shown to an admin: without userinfo or fragment, and with the
/// value of every query parameter that looks like a secret (`token`, `api_key`, `sig`, …) blanked.
/// A URL that does not parse is not shown at all.
pub fn redact_url(url: &str) -> String {
    match Url::parse(url.trim()) {
        Ok(url) => redacted(&url),
        Err(_) => "(not a URL)".into(),
    }
}

fn redacted(url: &Url) -> String {
    let mut shown = url.clone();
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.set_fragment(None);
    if url.query().is_some() {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| {
                let lower = k.to_lowercase();
                let secret = SECRET_WORDS.iter().any(|w| lower.contains(w));
                (k.into_owned(), if secret { "***".to_owned() } else { v.into_owned() })
            })
            .collect();
        shown.query_pairs_mut().clear().extend_pairs(pairs);
    }
    shown.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(name: &str, url: &str) -> StatusSourceSettings {
        StatusSourceSettings {
            name: name.into(),
            url: url.into(),
            timeout_ms: StatusSourceSettings::DEFAULT_TIMEOUT_MS,
            max_bytes: StatusSourceSettings::DEFAULT_MAX_BYTES,
            categories: vec!["fault_report".into()],
        }
    }

    #[test]
    fn good_sources_become_typed_once() {
        let prometheus = source("監視 (Prometheus)", "http://prometheus.example.go.jp:9090/api/v1/query?query=up");
        let mut health = source("ヘルスチェック", " https://ops.example.go.jp/health ");
        health.timeout_ms = 500;
        health.max_bytes = 1024 * 1024;
        health.categories = vec!["fault_report".into(), " security_incident ".into()];
        let sources = Sources::from_settings(&[prometheus, health]).unwrap();
        assert_eq!(sources.len(), 2);
        let h = sources.named("ヘルスチェック").unwrap();
        assert_eq!((h.timeout, h.max_bytes), (Duration::from_millis(500), 1024 * 1024));
        assert_eq!(h.url.as_str(), "https://ops.example.go.jp/health");
        assert_eq!(sources.for_category("security_incident").len(), 1);
        assert_eq!(sources.for_category("fault_report").len(), 2);
        assert!(sources.for_category("howto").is_empty());
        assert!(Sources::from_settings(&[]).unwrap().is_empty());
    }

    #[test]
    fn every_problem_is_named_with_its_key() {
        let mut slow = source("遅い", "http://a.example/");
        slow.timeout_ms = 30_001;
        slow.max_bytes = 2 * 1024 * 1024;
        slow.categories = vec!["fault_report".into(), " ".into()];
        let list = [
            source("", "http://a.example/"),
            source("監視", "ftp://a.example/"),
            source("監視", "not a url"),
            slow,
            source("x".repeat(101).as_str(), "https://"),
        ];
        let problems = Sources::from_settings(&list).unwrap_err();
        let seen: Vec<(usize, &str)> = problems.iter().map(|p| (p.index, p.key())).collect();
        assert_eq!(
            seen,
            [
                (0, "name"),
                (1, "url"),
                (2, "name"),
                (2, "url"),
                (3, "timeout_ms"),
                (3, "max_bytes"),
                (3, "categories"),
                (4, "name"),
                (4, "url")
            ]
        );
        let text: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
        assert_eq!(text[0], "[[status_sources]] 1 「」: name を入力してください / name is required");
        assert!(text[1].contains("http:// か https://"), "{text:?}");
        assert!(text[2].starts_with("[[status_sources]] 3 「監視」: name が 2 番目の取得元と同じです"), "{text:?}");
        assert!(text[4].contains("between 100 and 30000"), "{text:?}");
        assert!(text[5].contains("between 1024 and 1048576"), "{text:?}");
        assert!(text[6].contains("categories[1] is empty"), "{text:?}");
    }

    #[test]
    fn urls_are_shown_without_their_secrets() {
        assert_eq!(
            redact_url("https://user:hunter2@mon.example.go.jp/api?query=up&token=abc123&API_KEY=k#frag"),
            "https://mon.example.go.jp/api?query=up&token=***&API_KEY=***"
        );
        assert_eq!(redact_url("http://mon.example/health"), "http://mon.example/health");
        assert_eq!(redact_url("http://user:pw@ not a url"), "(not a URL)");
        let settings = source("監視", "https://me:hunter2@mon.example/q?access_token=zzz");
        let debug = format!("{settings:?}");
        assert!(!debug.contains("hunter2") && !debug.contains("zzz"), "{debug}");
    }
}
