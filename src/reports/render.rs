//! A report as text (the mail's body, the terminal), CSV (one figure a row), JSON, and HTML with
//! SVG charts (the console's page and `--format html`: one renderer for both). Japanese first,
//! English second; times in JST. Only counts, times, names of categories, groups and FAQ
//! entries, and the ticket numbers of low survey ratings appear: never a caller's number, name,
//! address or words (a survey's comment included).

use super::figures::{Count, Faults, RatingGroup, Report, Survey, Timing};
use super::svg;
use maud::{DOCTYPE, Markup, PreEscaped, html};
use std::fmt::Write;

/// `1時間05分 / 1 h 05 min` (rounded to the minute), or `—` when there is no value.
pub fn duration(ms: Option<i64>) -> String {
    let Some(ms) = ms else { return "—".into() };
    let minutes = (ms + 30_000) / 60_000;
    let (h, m) = (minutes / 60, minutes % 60);
    if h > 0 { format!("{h}時間{m:02}分 / {h} h {m:02} min") } else { format!("{m}分 / {m} min") }
}

fn minutes(ms: Option<i64>) -> String {
    ms.map(|ms| format!("{:.1}", ms as f64 / 60_000.0)).unwrap_or_default()
}

fn percent(p: Option<f64>) -> String {
    p.map(|p| format!("{p:.1}%")).unwrap_or_else(|| "—".into())
}

/// A mean rating to two decimals, or `—`.
fn rating(m: Option<f64>) -> String {
    m.map(|m| format!("{m:.2}")).unwrap_or_else(|| "—".into())
}

fn survey_text(o: &mut String, s: &Survey) {
    let _ = writeln!(
        o,
        "満足度調査 / satisfaction survey: 送信 sent {}, 回答 answered {}, 回答率 response rate {}, 平均 mean rating {}",
        s.sent,
        s.answered,
        percent(s.response_rate_percent),
        rating(s.mean_rating)
    );
    let groups = |o: &mut String, ja: &str, en: &str, groups: &[RatingGroup]| {
        let answered: Vec<&RatingGroup> = groups.iter().filter(|g| g.answered > 0).collect();
        if answered.is_empty() {
            return;
        }
        let _ = writeln!(o, "  {ja} / {en}:");
        for g in answered {
            let _ = writeln!(o, "    {} ({}): {} ({} 件 answers)", g.ja, g.en, rating(g.mean_rating), g.answered);
        }
    };
    groups(o, "種別別", "by category", &s.by_category);
    groups(o, "対応レベル別", "by tier", &s.by_tier);
    if s.low_ratings.is_empty() {
        let _ = writeln!(o, "  低評価 (1–2) / low ratings: なし / none");
    } else {
        let list: Vec<String> = s.low_ratings.iter().map(|l| format!("{} ({})", l.ticket, l.rating)).collect();
        let _ = writeln!(o, "  低評価 (1–2) / low ratings: {}", list.join(", "));
    }
}

fn faults_text(o: &mut String, f: &Faults) {
    let _ = writeln!(o, "障害（問診） / faults (from interviews): {}", f.total);
    if f.total == 0 {
        return;
    }
    let _ = writeln!(o, "  システム別 / by system:");
    for c in &f.by_system {
        let _ = writeln!(o, "    {}: {}", c.ja, c.count);
    }
    if !f.by_screen.is_empty() {
        let _ = writeln!(o, "  画面ID別 / by screen ID:");
        for s in &f.by_screen {
            let _ = writeln!(o, "    {} {}: {}", s.system, s.screen_id, s.count);
        }
    }
}

/// The mail's subject: `[日次報告 / Daily report] 2026-11-20`.
pub fn subject(r: &Report) -> String {
    format!("[{} / {}] {}", r.period.kind.ja(), r.period.kind.en(), r.period.label)
}

fn counts_text(out: &mut String, counts: &[Count]) {
    for c in counts {
        let _ = writeln!(out, "  {} ({}): {}", c.ja, c.en, c.count);
    }
}

fn timing_text(out: &mut String, ja: &str, en: &str, t: &Timing) {
    let _ = writeln!(
        out,
        "{ja} / {en}: 中央値 median {}, 90パーセンタイル p90 {} ({} 件 tickets, 未 without {})",
        duration(t.median_ms),
        duration(t.p90_ms),
        t.measured,
        t.pending
    );
}

/// The report as plain text.
pub fn text(r: &Report) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "{} / {}: {}", r.period.kind.ja(), r.period.kind.en(), r.period.label);
    let _ = writeln!(o, "期間 / period: {} – {} (JST)", r.period.start, r.period.end);
    let _ = writeln!(o, "営業日数 / business days: {}", r.business_days);
    let _ = writeln!(o);
    let per_day = r.contacts.per_business_day.map(|d| format!("{d:.1}")).unwrap_or_else(|| "—".into());
    let _ = writeln!(o, "受付件数 / contacts: {} (営業日あたり / per business day {per_day})", r.contacts.total);
    let _ = writeln!(o, "受付経路別 / by channel:");
    counts_text(&mut o, &r.contacts.by_channel);
    let _ = writeln!(o, "種別別 / by category:");
    counts_text(&mut o, &r.contacts.by_category);
    let _ = writeln!(o, "対応レベル別 / by tier:");
    counts_text(&mut o, &r.contacts.by_tier);
    let _ = writeln!(o, "時間帯別 (JST) / by hour:");
    for (hour, n) in r.contacts.by_hour.iter().enumerate().filter(|(_, n)| **n > 0) {
        let _ = writeln!(o, "  {hour:02}時 / {hour:02}:00: {n}");
    }
    let _ = writeln!(o);
    let _ = writeln!(o, "新規チケット / tickets opened: {}", r.tickets_created);
    timing_text(&mut o, "初回応答時間", "first response", &r.first_response);
    timing_text(&mut o, "解決時間", "resolution", &r.resolution);
    if r.sla.compliance_percent.is_none() {
        let _ = writeln!(o, "SLA遵守率 / SLA compliance: 対象なし / no SLA clocks ended in the period");
    } else {
        let _ = writeln!(
            o,
            "SLA遵守率 / SLA compliance: {} (達成 met {}, 超過 breached {})",
            percent(r.sla.compliance_percent),
            r.sla.met,
            r.sla.breached
        );
        for k in &r.sla.by_kind {
            let _ =
                writeln!(o, "  {}: {} (met {}, breached {})", k.kind, percent(k.compliance_percent), k.met, k.breached);
        }
    }
    let _ = writeln!(o);
    let _ = writeln!(o, "期末の未完了 / open at the end: {}", r.backlog.total);
    counts_text(&mut o, &r.backlog.by_age);
    let c = &r.calls;
    let _ = writeln!(
        o,
        "通話 / calls: 終了 ended {}, 転送 transferred {}, 放棄呼 abandoned {}, 留守番電話 voicemails {}",
        c.ended, c.transferred, c.abandoned, c.voicemails
    );
    let _ = writeln!(o, "折り返し / callbacks: 発生 created {}, 完了 done {}", c.callbacks_created, c.callbacks_done);
    let _ = writeln!(o, "エスカレーション / escalations: {}", r.escalations.total);
    counts_text(&mut o, &r.escalations.by_group);
    if r.faq.available {
        let _ = writeln!(o, "FAQ利用 / FAQ use: {}", r.faq.total);
        for e in &r.faq.top {
            let _ = writeln!(o, "  {} ({}): {}", e.question, e.id, e.uses);
        }
    } else {
        let _ = writeln!(o, "FAQ利用 / FAQ use: 利用できません / not available");
    }
    survey_text(&mut o, &r.survey);
    faults_text(&mut o, &r.faults);
    o
}

/// The report as CSV: `section,key,ja,en,value`, one figure a row (UTF-8, with a header).
pub fn csv(r: &Report) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut row = |section: &str, key: &str, ja: &str, en: &str, value: String| {
        let _ = w.write_record([section, key, ja, en, value.as_str()]);
    };
    row("section", "key", "ja", "en", "value".into());
    row("period", "kind", "種類", "kind", r.period.kind.as_str().into());
    row("period", "label", "期間", "period", r.period.label.clone());
    row("period", "start", "開始", "start", r.period.start.clone());
    row("period", "end", "終了", "end", r.period.end.clone());
    row("period", "business_days", "営業日数", "business days", r.business_days.to_string());
    row("contacts", "total", "受付件数", "contacts", r.contacts.total.to_string());
    let per_day = r.contacts.per_business_day.map(|d| format!("{d:.1}")).unwrap_or_default();
    row("contacts", "per_business_day", "営業日あたり", "per business day", per_day);
    for (section, counts) in [
        ("contacts_by_channel", &r.contacts.by_channel),
        ("contacts_by_category", &r.contacts.by_category),
        ("contacts_by_tier", &r.contacts.by_tier),
    ] {
        for c in counts {
            row(section, &c.key, &c.ja, &c.en, c.count.to_string());
        }
    }
    for (hour, n) in r.contacts.by_hour.iter().enumerate() {
        row("contacts_by_hour", &format!("{hour:02}"), &format!("{hour}時"), &format!("{hour:02}:00"), n.to_string());
    }
    row("tickets", "created", "新規チケット", "tickets opened", r.tickets_created.to_string());
    for (key, ja, en, t) in [
        ("first_response", "初回応答", "first response", &r.first_response),
        ("resolution", "解決", "resolution", &r.resolution),
    ] {
        row(key, "measured", "件数", "tickets", t.measured.to_string());
        row(key, "pending", "未", "without", t.pending.to_string());
        row(key, "median_minutes", &format!("{ja} 中央値（分）"), &format!("{en} median (min)"), minutes(t.median_ms));
        row(key, "p90_minutes", &format!("{ja} 90%（分）"), &format!("{en} p90 (min)"), minutes(t.p90_ms));
    }
    let sla_percent = |p: Option<f64>| p.map(|p| format!("{p:.1}")).unwrap_or_default();
    row("sla", "met", "達成", "met", r.sla.met.to_string());
    row("sla", "breached", "超過", "breached", r.sla.breached.to_string());
    row("sla", "compliance_percent", "遵守率（%）", "compliance (%)", sla_percent(r.sla.compliance_percent));
    for k in &r.sla.by_kind {
        row("sla", &format!("{}_met", k.kind), "達成", "met", k.met.to_string());
        row("sla", &format!("{}_breached", k.kind), "超過", "breached", k.breached.to_string());
        let key = format!("{}_compliance_percent", k.kind);
        row("sla", &key, "遵守率（%）", "compliance (%)", sla_percent(k.compliance_percent));
    }
    row("backlog", "total", "期末の未完了", "open at the end", r.backlog.total.to_string());
    for c in &r.backlog.by_age {
        row("backlog", &c.key, &c.ja, &c.en, c.count.to_string());
    }
    let c = &r.calls;
    for (key, ja, en, n) in [
        ("ended", "終了した通話", "calls ended", c.ended),
        ("transferred", "転送", "transferred", c.transferred),
        ("abandoned", "放棄呼", "abandoned", c.abandoned),
        ("voicemails", "留守番電話", "voicemails", c.voicemails),
        ("callbacks_created", "折り返し発生", "callbacks created", c.callbacks_created),
        ("callbacks_done", "折り返し完了", "callbacks done", c.callbacks_done),
    ] {
        row("calls", key, ja, en, n.to_string());
    }
    row("escalations", "total", "エスカレーション", "escalations", r.escalations.total.to_string());
    for g in &r.escalations.by_group {
        row("escalations_by_group", &g.key, &g.ja, &g.en, g.count.to_string());
    }
    let available = if r.faq.available { "yes" } else { "no" };
    row("faq", "available", "FAQ利用", "FAQ use available", available.into());
    if r.faq.available {
        row("faq", "total", "FAQ利用", "FAQ uses", r.faq.total.to_string());
        for e in &r.faq.top {
            row("faq_top", &e.id, &e.question, &e.question, e.uses.to_string());
        }
    }
    let s = &r.survey;
    let mean = |m: Option<f64>| m.map(|m| format!("{m:.2}")).unwrap_or_default();
    row("survey", "sent", "満足度調査 送信", "surveys sent", s.sent.to_string());
    row("survey", "answered", "満足度調査 回答", "surveys answered", s.answered.to_string());
    let rate = s.response_rate_percent.map(|p| format!("{p:.1}")).unwrap_or_default();
    row("survey", "response_rate_percent", "回答率（%）", "response rate (%)", rate);
    row("survey", "mean_rating", "平均満足度", "mean rating", mean(s.mean_rating));
    for (section, groups) in [("survey_by_category", &s.by_category), ("survey_by_tier", &s.by_tier)] {
        for g in groups {
            row(
                section,
                &format!("{}_answered", g.key),
                &format!("{} 回答", g.ja),
                &format!("{} answers", g.en),
                g.answered.to_string(),
            );
            row(
                section,
                &format!("{}_mean_rating", g.key),
                &format!("{} 平均", g.ja),
                &format!("{} mean", g.en),
                mean(g.mean_rating),
            );
        }
    }
    for l in &s.low_ratings {
        row("survey_low_ratings", &l.ticket, "低評価", "low rating", l.rating.to_string());
    }
    row("faults", "total", "障害（問診）", "faults (interviews)", r.faults.total.to_string());
    for c in &r.faults.by_system {
        row("faults_by_system", &c.key, &c.ja, &c.en, c.count.to_string());
    }
    for f in &r.faults.by_screen {
        let name = format!("{} {}", f.system, f.screen_id);
        row("faults_by_screen", &f.screen_id, &name, &name, f.count.to_string());
    }
    let bytes = w.into_inner().unwrap_or_default();
    String::from_utf8(bytes).unwrap_or_default()
}

fn both(ja: &str, en: &str) -> Markup {
    html! { (ja) " " span.en lang="en" { (en) } }
}

fn count_table(counts: &[Count]) -> Markup {
    html! {
        table.figures {
            tbody {
                @for c in counts {
                    tr data-key=(c.key) { th { (both(&c.ja, &c.en)) } td { (c.count) } }
                }
            }
        }
    }
}

fn labelled(counts: &[Count]) -> Vec<(String, i64)> {
    counts.iter().map(|c| (c.ja.clone(), c.count)).collect()
}

/// The report as an HTML section with its charts; the console puts it in its page, and
/// [`html_document`] in a file of its own.
pub fn html(r: &Report) -> Markup {
    let c = &r.contacts;
    let per_day = c.per_business_day.map(|d| format!("{d:.1}")).unwrap_or_else(|| "—".into());
    html! {
        section.report data-kind=(r.period.kind.as_str()) data-period=(r.period.label) {
            h2 { (r.period.kind.ja()) " " (r.period.label) " " span.en lang="en" { (r.period.kind.en()) } }
            p.period { "期間 / period: " (r.period.start) " – " (r.period.end) " (JST)" }
            table.figures.summary {
                tbody {
                    tr data-key="contacts" { th { (both("受付件数", "contacts")) } td { (c.total) } }
                    tr data-key="business_days" { th { (both("営業日数", "business days")) } td { (r.business_days) } }
                    tr data-key="per_business_day" { th { (both("営業日あたり", "per business day")) } td { (per_day) } }
                    tr data-key="tickets_created" { th { (both("新規チケット", "tickets opened")) } td { (r.tickets_created) } }
                    tr data-key="first_response" {
                        th { (both("初回応答時間 中央値 / 90%", "first response median / p90")) }
                        td { (duration(r.first_response.median_ms)) " ・ " (duration(r.first_response.p90_ms)) }
                    }
                    tr data-key="resolution" {
                        th { (both("解決時間 中央値 / 90%", "resolution median / p90")) }
                        td { (duration(r.resolution.median_ms)) " ・ " (duration(r.resolution.p90_ms)) }
                    }
                    tr data-key="sla" {
                        th { (both("SLA遵守率", "SLA compliance")) }
                        td {
                            @if r.sla.compliance_percent.is_some() {
                                (percent(r.sla.compliance_percent)) " (達成 met " (r.sla.met) ", 超過 breached " (r.sla.breached) ")"
                            } @else {
                                "対象なし / no SLA clocks ended"
                            }
                        }
                    }
                    tr data-key="backlog" { th { (both("期末の未完了", "open at the end")) } td { (r.backlog.total) } }
                }
            }
            div.charts {
                figure {
                    figcaption { (both("受付経路別", "by channel")) }
                    (svg::bars("channel", "受付経路別 / by channel", &labelled(&c.by_channel)))
                }
                figure {
                    figcaption { (both("種別別", "by category")) }
                    (svg::bars("category", "種別別 / by category", &labelled(&c.by_category)))
                }
                figure {
                    figcaption { (both("対応レベル別", "by tier")) }
                    (svg::bars("tier", "対応レベル別 / by tier", &labelled(&c.by_tier)))
                }
                figure {
                    figcaption { (both("時間帯別（JST）", "by hour (JST)")) }
                    (svg::hours("hours", "時間帯別 / by hour", &c.by_hour))
                }
                figure {
                    figcaption { (both("期末の未完了（経過日数別）", "open at the end, by age")) }
                    (svg::bars("backlog", "未完了の経過日数 / backlog by age", &labelled(&r.backlog.by_age)))
                }
            }
            h3 { (both("SLA", "SLA by kind")) }
            @if r.sla.by_kind.is_empty() {
                p.none { "期間内に終了したSLAクロックはありません / no SLA clocks ended in the period" }
            } @else {
                table.figures {
                    thead { tr { th { "種類 / kind" } th { "達成 / met" } th { "超過 / breached" } th { "遵守率 / compliance" } } }
                    tbody {
                        @for k in &r.sla.by_kind {
                            tr data-key=(k.kind) { th { (k.kind) } td { (k.met) } td { (k.breached) } td { (percent(k.compliance_percent)) } }
                        }
                    }
                }
            }
            h3 { (both("通話と折り返し", "calls and callbacks")) }
            table.figures {
                tbody {
                    tr data-key="ended" { th { (both("終了した通話", "calls ended")) } td { (r.calls.ended) } }
                    tr data-key="transferred" { th { (both("転送", "transferred")) } td { (r.calls.transferred) } }
                    tr data-key="abandoned" { th { (both("放棄呼", "abandoned")) } td { (r.calls.abandoned) } }
                    tr data-key="voicemails" { th { (both("留守番電話", "voicemails")) } td { (r.calls.voicemails) } }
                    tr data-key="callbacks_created" { th { (both("折り返し発生", "callbacks created")) } td { (r.calls.callbacks_created) } }
                    tr data-key="callbacks_done" { th { (both("折り返し完了", "callbacks done")) } td { (r.calls.callbacks_done) } }
                }
            }
            h3 { (both("エスカレーション（連絡先別）", "escalations by group")) " " (r.escalations.total) }
            (count_table(&r.escalations.by_group))
            h3 { (both("FAQ利用", "FAQ use")) }
            @if !r.faq.available {
                p.none data-key="faq" { "利用できません / not available" }
            } @else {
                p data-key="faq" { (r.faq.total) " 件 / uses" }
                table.figures {
                    tbody {
                        @for e in &r.faq.top {
                            tr data-key=(e.id) { th { (e.question) } td { (e.uses) } }
                        }
                    }
                }
            }
            (survey_html(&r.survey))
            (faults_html(&r.faults))
            p.generated { "作成 / generated: " (r.generated_at) }
        }
    }
}

fn rating_table(groups: &[RatingGroup]) -> Markup {
    html! {
        table.figures {
            thead { tr { th { "" } th { "回答 / answers" } th { "平均 / mean" } } }
            tbody {
                @for g in groups.iter().filter(|g| g.answered > 0) {
                    tr data-key=(g.key) { th { (both(&g.ja, &g.en)) } td { (g.answered) } td { (rating(g.mean_rating)) } }
                }
            }
        }
    }
}

/// The survey's figures: counts, rates, means, and low ratings by ticket number (no comments).
fn survey_html(s: &Survey) -> Markup {
    html! {
        h3 { (both("満足度調査", "satisfaction survey")) }
        table.figures.survey {
            tbody {
                tr data-key="survey_sent" { th { (both("送信", "surveys sent")) } td { (s.sent) } }
                tr data-key="survey_answered" { th { (both("回答", "answered")) } td { (s.answered) } }
                tr data-key="survey_response_rate" { th { (both("回答率", "response rate")) } td { (percent(s.response_rate_percent)) } }
                tr data-key="survey_mean_rating" { th { (both("平均満足度（5段階）", "mean rating (1–5)")) } td { (rating(s.mean_rating)) } }
            }
        }
        @if s.answered > 0 {
            h4 { (both("種別別", "by category")) }
            (rating_table(&s.by_category))
            h4 { (both("対応レベル別", "by tier")) }
            (rating_table(&s.by_tier))
        }
        h4 { (both("低評価（1–2）", "low ratings (1–2)")) }
        @if s.low_ratings.is_empty() {
            p.none data-key="survey_low_ratings" { "なし / none" }
        } @else {
            table.figures {
                tbody {
                    @for l in &s.low_ratings {
                        tr data-key=(l.ticket) { th { (l.ticket) } td { (l.rating) } }
                    }
                }
            }
        }
    }
}

/// Faults by system (a chart and its table) and by screen ID.
fn faults_html(f: &Faults) -> Markup {
    html! {
        h3 { (both("障害（問診）", "faults, from interviews")) " " span data-key="faults_total" { (f.total) } }
        @if f.total == 0 {
            p.none data-key="faults" { "期間内の障害の問診はありません / no fault interviews in the period" }
        } @else {
            div.charts {
                figure {
                    figcaption { (both("システム別", "by system")) }
                    (svg::bars("faults", "システム別 / faults by system", &labelled(&f.by_system)))
                }
            }
            h4 { (both("システム別", "by system")) }
            table.figures.faults-by-system {
                tbody {
                    @for c in &f.by_system {
                        tr data-key=(c.key) { th { (c.ja) } td { (c.count) } }
                    }
                }
            }
            h4 { (both("画面ID別", "by screen ID")) }
            @if f.by_screen.is_empty() {
                p.none { "画面IDの回答はありません / no screen IDs given" }
            } @else {
                table.figures.faults-by-screen {
                    thead { tr { th { "システム / system" } th { "画面ID / screen ID" } th { "件数 / faults" } } }
                    tbody {
                        @for s in &f.by_screen {
                            tr data-screen=(s.screen_id) { td { (s.system) } td { (s.screen_id) } td { (s.count) } }
                        }
                    }
                }
            }
        }
    }
}

/// A page of its own (`madoguchi report … --format html`): the same section, with a little style.
pub fn html_document(r: &Report) -> String {
    const STYLE: &str = "body{font-family:sans-serif;margin:2em;color:#222}table.figures{border-collapse:collapse;\
margin:.5em 0 1em}table.figures th,table.figures td{border-bottom:1px solid #ddd;padding:.25em .75em;text-align:left}\
table.figures td{text-align:right}.en{color:#666;font-size:.85em}.charts{display:flex;flex-wrap:wrap;gap:1.5em}\
figure{margin:0}figcaption{font-weight:bold;margin-bottom:.25em}";
    html! {
        (DOCTYPE)
        html lang="ja" {
            head {
                meta charset="utf-8";
                title { (subject(r)) }
                style { (PreEscaped(STYLE)) }
            }
            body { (html(r)) }
        }
    }
    .into_string()
}

/// The mail: the text report, then where it came from. No attachment (the outbox carries text).
pub fn mail_body(r: &Report) -> String {
    format!(
        "{}\nこのメールは madoguchi が自動で送信しています。/ This report was sent automatically by madoguchi.\n",
        text(r)
    )
}
