//! Charts as SVG drawn on the server: numbers become coordinates, labels are text that maud
//! escapes, nothing runs in the browser. Colours are attributes, not styles, so the console's
//! Content-Security-Policy (no inline style) lets them through.

use maud::{Markup, html};

const BAR: &str = "#2f6db5";
const AXIS: &str = "#666666";

/// The length of a bar for `value` where `max` fills `full`: 0 for nothing, at least 1 for
/// anything, so a small count is still seen.
pub fn scale(value: i64, max: i64, full: u32) -> u32 {
    if value <= 0 || max <= 0 {
        return 0;
    }
    let length = (value as f64 / max as f64 * f64::from(full)).round() as u32;
    length.clamp(1, full)
}

/// Horizontal bars, one row per item: its label, its bar and its count.
pub fn bars(name: &str, title: &str, items: &[(String, i64)]) -> Markup {
    const LABEL: u32 = 260;
    const FULL: u32 = 320;
    const ROW: u32 = 26;
    let max = items.iter().map(|(_, v)| *v).max().unwrap_or(0);
    let height = ROW * items.len().max(1) as u32 + 8;
    let width = LABEL + FULL + 60;
    html! {
        svg.chart xmlns="http://www.w3.org/2000/svg" data-chart=(name) role="img" aria-label=(title)
            width=(width) height=(height) viewBox=(format!("0 0 {width} {height}")) {
            title { (title) }
            @for (i, (label, value)) in items.iter().enumerate() {
                @let y = 4 + ROW * i as u32;
                @let length = scale(*value, max, FULL);
                text.label x=(LABEL - 8) y=(y + 17) text-anchor="end" font-size="13" fill="#222222" { (label) }
                rect.bar x=(LABEL) y=(y + 3) width=(length) height=(ROW - 8) fill=(BAR) data-value=(value) {}
                text.value x=(LABEL + length + 6) y=(y + 17) font-size="13" fill="#222222" { (value) }
            }
        }
    }
}

/// The 24 hours of the day (JST) as columns, hours labelled every three.
pub fn hours(name: &str, title: &str, counts: &[i64]) -> Markup {
    const COLUMN: u32 = 24;
    const FULL: u32 = 140;
    const TOP: u32 = 18;
    let max = counts.iter().copied().max().unwrap_or(0);
    let width = COLUMN * 24 + 20;
    let base = TOP + FULL;
    let height = base + 24;
    html! {
        svg.chart xmlns="http://www.w3.org/2000/svg" data-chart=(name) role="img" aria-label=(title)
            width=(width) height=(height) viewBox=(format!("0 0 {width} {height}")) {
            title { (title) }
            line x1="10" y1=(base) x2=(width - 10) y2=(base) stroke=(AXIS) stroke-width="1" {}
            @for (hour, value) in counts.iter().enumerate() {
                @let x = 10 + COLUMN * hour as u32;
                @let length = scale(*value, max, FULL);
                rect.bar x=(x + 3) y=(base - length) width=(COLUMN - 6) height=(length) fill=(BAR)
                    data-hour=(hour) data-value=(value) {}
                @if *value > 0 {
                    text.value x=(x + COLUMN / 2) y=(base - length - 4) text-anchor="middle" font-size="11"
                        fill="#222222" { (value) }
                }
                @if hour % 3 == 0 {
                    text.label x=(x + COLUMN / 2) y=(base + 16) text-anchor="middle" font-size="12" fill="#222222" {
                        (hour) "時"
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_scale_to_the_largest_and_small_ones_stay_visible() {
        assert_eq!(scale(10, 10, 360), 360);
        assert_eq!(scale(5, 10, 360), 180);
        assert_eq!(scale(1, 1000, 360), 1, "a count is never drawn as nothing");
        assert_eq!(scale(0, 10, 360), 0);
        assert_eq!(scale(3, 0, 360), 0);
        assert_eq!(scale(20, 10, 360), 360, "never past the full length");
    }

    #[test]
    fn labels_are_escaped_and_bars_carry_their_numbers() {
        let svg =
            bars("category", "種別 <x>", &[("<script>alert(1)</script>".into(), 4), ("b&c".into(), 2)]).into_string();
        assert!(svg.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "{svg}");
        assert!(svg.contains("b&amp;c") && svg.contains("aria-label=\"種別 &lt;x&gt;\""), "{svg}");
        assert!(!svg.contains("<script"), "{svg}");
        assert!(svg.contains("width=\"320\" height=\"18\" fill=\"#2f6db5\" data-value=\"4\""), "{svg}");
        assert!(svg.contains("width=\"160\" height=\"18\" fill=\"#2f6db5\" data-value=\"2\""), "{svg}");
        assert!(svg.contains("<rect class=\"bar\"") && svg.contains("></rect>"), "closed for the HTML parser: {svg}");
    }

    #[test]
    fn the_day_has_24_columns() {
        let mut counts = vec![0; 24];
        counts[9] = 4;
        counts[23] = 2;
        let svg = hours("hours", "時間帯", &counts).into_string();
        assert_eq!(svg.matches("<rect class=\"bar\"").count(), 24);
        // Hour 9: x = 10 + 24 × 9 = 226, the full 140 high from y = 18; hour 23: 70 high.
        assert!(svg.contains("x=\"229\" y=\"18\" width=\"18\" height=\"140\""), "{svg}");
        assert!(svg.contains("y=\"88\" width=\"18\" height=\"70\" fill=\"#2f6db5\" data-hour=\"23\""), "{svg}");
        assert!(svg.contains(">21時</text>"), "{svg}");
    }
}
