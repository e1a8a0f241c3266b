//! The report as Markdown, self-contained HTML (an inline SVG timeline, no
//! script) or JSON. Pure: a [`Report`] in, text out.

use std::fmt::Write as _;

use colony_core::event::Usage;

use super::model::{AttemptRow, Report, Split};

/// How many tasks the slowest and most expensive lists show.
const TOP: usize = 5;

/// Milliseconds as seconds with one decimal.
fn secs(ms: i64) -> String {
    format!("{:.1}s", ms as f64 / 1000.0)
}

/// Tokens and cost in one short phrase.
fn spent(u: &Usage) -> String {
    let cost = u.cost_usd.map_or_else(|| "-".to_string(), |c| format!("${c:.4}"));
    format!("{} in / {} out / {} cached tokens, {cost}", u.input, u.output, u.cached)
}

/// The split's buckets with their names, in the order the report shows them.
fn buckets(s: &Split) -> [(&'static str, i64); 6] {
    [
        ("setup", s.setup_ms),
        ("agent work", s.agent_ms),
        ("gates", s.gates_ms),
        ("review", s.review_ms),
        ("merge queue", s.merge_queue_ms),
        ("rate-limit pauses", s.rate_limit_ms),
    ]
}

/// Percent of `whole`, 0 when there is none.
fn pct(part: i64, whole: i64) -> f64 {
    if whole == 0 { 0.0 } else { part as f64 * 100.0 / whole as f64 }
}

/// The tasks ordered by `key`, largest first, at most [`TOP`].
fn top<K: PartialOrd>(r: &Report, key: impl Fn(&super::model::TaskRow) -> K) -> Vec<&super::model::TaskRow> {
    let mut tasks: Vec<_> = r.tasks.iter().filter(|t| t.attempts > 0).collect();
    tasks.sort_by(|a, b| key(b).partial_cmp(&key(a)).unwrap_or(std::cmp::Ordering::Equal));
    tasks.truncate(TOP);
    tasks
}

/// Markdown table cell text: no pipes or newlines.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace(['\n', '\r'], " ")
}

/// The report as Markdown.
pub fn markdown(r: &Report) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "# Run report: {}\n", cell(&r.plan));
    let _ =
        writeln!(o, "Wall time {} over {} attempts of {} tasks.\n", secs(r.wall_ms), r.attempts.len(), r.tasks.len());
    let _ = writeln!(o, "## Where the time went\n");
    let _ = writeln!(o, "Attempts' wall time, summed: {}.\n", secs(r.attempts_wall_ms));
    let _ = writeln!(o, "| bucket | time | share |\n|---|---|---|");
    for (name, ms) in buckets(&r.totals) {
        let _ = writeln!(o, "| {name} | {} | {:.1}% |", secs(ms), pct(ms, r.attempts_wall_ms));
    }
    let _ = writeln!(o, "| total | {} | {:.1}% |", secs(r.totals.total()), pct(r.totals.total(), r.attempts_wall_ms));
    let _ = writeln!(o, "\nOutside attempts, tasks waited {} for their dependencies.\n", secs(r.dep_wait_ms));
    let _ = writeln!(o, "## Critical path\n");
    let _ = writeln!(
        o,
        "{} — {} of {} wall time ({:.1}%).\n",
        cell(&r.critical_path.join(" → ")),
        secs(r.critical_path_ms),
        secs(r.wall_ms),
        pct(r.critical_path_ms, r.wall_ms)
    );
    let _ = writeln!(o, "## Timeline\n");
    let _ = writeln!(
        o,
        "| worker | task | attempt | start | wall | outcome | setup | agent | gates | review | merge queue | rate limit |"
    );
    let _ = writeln!(o, "|---|---|---|---|---|---|---|---|---|---|---|---|");
    let mut rows: Vec<&AttemptRow> = r.attempts.iter().collect();
    rows.sort_by(|a, b| (&a.worker, a.start).cmp(&(&b.worker, b.start)));
    for a in rows {
        let s = &a.split;
        let _ = writeln!(
            o,
            "| {} | {} | {} | +{} | {} | {} | {} | {} | {} | {} | {} | {} |",
            cell(&a.worker),
            cell(&a.task),
            a.attempt,
            secs(a.start - r.start),
            secs(a.wall_ms),
            cell(&a.outcome),
            secs(s.setup_ms),
            secs(s.agent_ms),
            secs(s.gates_ms),
            secs(s.review_ms),
            secs(s.merge_queue_ms),
            secs(s.rate_limit_ms)
        );
    }
    let _ = writeln!(o, "\n## Agents and models\n");
    let _ = writeln!(
        o,
        "| agent | model | tasks | first-try successes | fix rounds | review rounds | spent |\n|---|---|---|---|---|---|---|"
    );
    for a in &r.agents {
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} | {} | {} |",
            cell(&a.agent),
            cell(&a.model),
            a.tasks,
            a.first_try,
            a.fix_rounds,
            a.review_rounds,
            spent(&a.usage)
        );
    }
    let _ = writeln!(o, "\n## Tasks\n");
    let _ = writeln!(o, "| task | title | status | attempts | span | spent |\n|---|---|---|---|---|---|");
    for t in &r.tasks {
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} | {} |",
            cell(&t.id),
            cell(&t.title),
            t.status,
            t.attempts,
            secs(t.span_ms),
            spent(&t.usage)
        );
    }
    let slow: Vec<String> =
        top(r, |t| t.span_ms).iter().map(|t| format!("{} ({})", cell(&t.id), secs(t.span_ms))).collect();
    let costly: Vec<String> = top(r, |t| t.usage.cost_usd.unwrap_or(0.0))
        .iter()
        .map(|t| format!("{} ({})", cell(&t.id), spent(&t.usage)))
        .collect();
    let _ = writeln!(o, "\nSlowest: {}.\n\nMost expensive: {}.\n", slow.join(", "), costly.join(", "));
    let _ = writeln!(o, "## Failures\n");
    if r.failures.is_empty() {
        let _ = writeln!(o, "None.");
    } else {
        let _ = writeln!(o, "| task | attempt | outcome | class | reason |\n|---|---|---|---|---|");
        for f in &r.failures {
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} |",
                cell(&f.task),
                f.attempt,
                f.outcome,
                f.class,
                cell(&f.reason)
            );
        }
    }
    o
}

/// Text made safe for HTML content and attribute values.
fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// The colour of an attempt's bar, by outcome.
fn colour(outcome: &str) -> &'static str {
    match outcome {
        "done" => "#3a9d5d",
        "failed" | "expired" | "killed" | "abandoned" => "#c94040",
        "running" => "#3b7dd8",
        _ => "#c9a03a",
    }
}

/// The timeline as an SVG Gantt chart: a row per worker, a bar per attempt.
pub fn gantt(r: &Report) -> String {
    const LABEL: f64 = 140.0;
    const WIDTH: f64 = 900.0;
    const ROW: f64 = 28.0;
    let mut workers: Vec<&str> = r.attempts.iter().map(|a| a.worker.as_str()).collect();
    workers.sort_unstable();
    workers.dedup();
    let height = ROW * workers.len() as f64 + 30.0;
    let scale = if r.wall_ms > 0 { WIDTH / r.wall_ms as f64 } else { 0.0 };
    let mut o = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{height}\" viewBox=\"0 0 {w} {height}\" role=\"img\" aria-label=\"attempts per worker\">",
        w = LABEL + WIDTH + 10.0
    );
    for (i, w) in workers.iter().enumerate() {
        let y = i as f64 * ROW;
        let _ = write!(o, "<text x=\"4\" y=\"{}\" font-size=\"12\">{}</text>", y + 18.0, esc(w));
        for a in r.attempts.iter().filter(|a| a.worker == *w) {
            let x = LABEL + (a.start - r.start) as f64 * scale;
            let width = (a.wall_ms as f64 * scale).max(2.0);
            let _ = write!(
                o,
                "<g class=\"attempt\"><rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{width:.1}\" height=\"{:.1}\" fill=\"{}\"><title>{} #{}: {} ({})</title></rect><text x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\" fill=\"#fff\">{}</text></g>",
                y + 4.0,
                ROW - 8.0,
                colour(&a.outcome),
                esc(&a.task),
                a.attempt,
                esc(&a.outcome),
                secs(a.wall_ms),
                x + 3.0,
                y + 18.0,
                esc(&a.task)
            );
        }
    }
    let _ = write!(
        o,
        "<text x=\"{LABEL}\" y=\"{:.1}\" font-size=\"11\">0s</text><text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"end\">{}</text></svg>",
        height - 8.0,
        LABEL + WIDTH,
        height - 8.0,
        secs(r.wall_ms)
    );
    o
}

/// The report as one self-contained HTML page: the Markdown's sections as
/// preformatted text beside the timeline. Every stored text is escaped.
pub fn html(r: &Report) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Run report: {title}</title>\
<style>body{{font-family:system-ui,sans-serif;margin:2em}}pre{{white-space:pre-wrap}}</style></head>\
<body><h1>Run report: {title}</h1><h2>Timeline</h2>{svg}<pre>{md}</pre></body></html>\n",
        title = esc(&r.plan),
        svg = gantt(r),
        md = esc(&markdown(r))
    )
}

/// The report as pretty JSON (the shape is [`Report`]'s, in `docs/report.md`).
pub fn json(r: &Report) -> serde_json::Result<String> {
    serde_json::to_string_pretty(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_escapes_stored_text() {
        assert_eq!(esc("<script>&\"'"), "&lt;script&gt;&amp;&quot;&#39;");
    }

    #[test]
    fn markdown_cells_lose_pipes_and_newlines() {
        assert_eq!(cell("a|b\nc"), "a\\|b c");
    }
}
