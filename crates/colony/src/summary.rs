//! The summary `colony run` ends with: how it went, what failed and why,
//! what is blocked by what, and what to do next.

use std::io::Write;
use std::time::Duration;

use anyhow::Result;
use colony_core::TaskStatus;
use colony_engine::RunReport;

use crate::progress::{MAX_REASON, one_line};
use crate::render;

/// How the run went, in a line: its summary's first, and what
/// `[notify]` says of a finished run with the agents' spend after it.
pub fn in_a_line(report: &RunReport, ran: bool) -> String {
    match report.usage.is_empty() {
        true => headline(report, ran),
        false => format!("{}; the agents used {}", headline(report, ran), render::usage(&report.usage)),
    }
}

fn headline(report: &RunReport, ran: bool) -> String {
    let counts = &report.counts;
    let total = counts.total;
    let done = counts.get(TaskStatus::Done);
    let took = wall(report.wall);
    let replaced = counts.get(TaskStatus::Replaced);
    if report.all_done() && replaced > 0 {
        format!("all {} done in {took}, and {replaced} replaced by new ones", render::count(done, "task"))
    } else if report.all_done() {
        format!("all {} done in {took}", render::count(total, "task"))
    } else {
        let how = match (ran, report.interrupted || report.halted.is_some()) {
            (false, _) => "nothing could run".to_owned(),
            (true, true) => format!("stopped after {took}"),
            (true, false) => format!("finished in {took}"),
        };
        let rest = render::status_counts(|s| if s == TaskStatus::Done { 0 } else { counts.get(s) });
        format!("{how}: {done} of {} done; {rest}", render::count(total, "task"))
    }
}

/// Where a run's reports are, or can be had.
pub struct Reports<'a> {
    /// The plans the run worked on.
    pub plans: &'a [String],
    /// The reports the run's end wrote (for `[notify]`), by path.
    pub written: &'a [String],
}

impl Reports<'_> {
    /// The footer's line on them, if the run worked on any plan.
    fn line(&self) -> Option<String> {
        match (self.written, self.plans) {
            ([], []) => None,
            ([], [plan]) => Some(format!("where its time went: `colony report {plan}`")),
            ([], _) => Some("where a plan's time went: `colony report PLAN`".to_owned()),
            (written, _) => Some(format!("where its time went: {}", written.join(", "))),
        }
    }
}

/// Writes the summary of a run. `ran` is false when nothing could run
/// from the start (every task left was failed, blocked or cancelled).
pub fn write(out: &mut dyn Write, report: &RunReport, ran: bool, reports: &Reports) -> Result<()> {
    let counts = &report.counts;
    let done = counts.get(TaskStatus::Done);
    writeln!(out, "{}", headline(report, ran))?;
    if !report.usage.is_empty() {
        writeln!(out, "the agents used {}", render::usage(&report.usage))?;
    }
    if let Some(why) = &report.halted {
        writeln!(out, "\nno new work was started: {why}")?;
    }

    let id_width = report
        .failed
        .iter()
        .map(|(id, _)| id.as_str().len())
        .chain(report.blocked.iter().map(|(id, _)| id.as_str().len()))
        .max()
        .unwrap_or(0);
    if !report.failed.is_empty() {
        writeln!(out, "\nfailed:")?;
        for (id, reason) in &report.failed {
            let (reason, cut) = one_line(reason, MAX_REASON);
            let rest = if cut { format!(" (`colony show {id}` has all of it)") } else { String::new() };
            writeln!(out, "  {:<id_width$}  {reason}{rest}", id.as_str())?;
        }
    }
    if !report.blocked.is_empty() {
        writeln!(out, "\nblocked:")?;
        for (id, by) in &report.blocked {
            writeln!(out, "  {:<id_width$}  by {by}", id.as_str())?;
        }
    }
    if !report.awaiting.is_empty() {
        writeln!(out, "\nawaiting your approval (`colony show ID` has their reviews):")?;
        for id in &report.awaiting {
            writeln!(out, "  {id}: `colony approve {id}`, or `colony reject {id} --feedback \"…\"`")?;
        }
    }
    if !report.asking.is_empty() {
        writeln!(out, "\nwaiting for your answer (`colony status` has the whole question):")?;
        for (id, question) in &report.asking {
            let (question, _) = one_line(question, MAX_REASON);
            writeln!(out, "  {:<id_width$}  {question}", id.as_str())?;
        }
    }
    if !report.proposed.is_empty() {
        writeln!(out, "\nfollow-ups proposed by agents, waiting for you:")?;
        for (id, title) in &report.proposed {
            let (title, _) = one_line(title, MAX_REASON);
            writeln!(out, "  {id}: {title}")?;
        }
    }

    let mut footer = Vec::new();
    if done > 0 {
        footer.push(match report.branches.as_slice() {
            [one] => format!("the finished work is in {one}; bring it into your branch with `colony land`"),
            several => format!(
                "the finished work is in {}; bring a plan's into your branch with `colony land --plan NAME`",
                several.join(", ")
            ),
        });
    }
    if ran && (done > 0 || !report.failed.is_empty()) {
        footer.extend(reports.line());
    }
    if let Some((id, _)) = report.asking.first() {
        footer.push(format!(
            "next: `colony answer {id} \"TEXT\"`, then `colony run` goes on with it; unanswered, it fails at the \
             time `colony status` says"
        ));
    } else if !report.awaiting.is_empty() {
        footer.push("next: approve or reject, then `colony run` merges or reworks them".to_owned());
    } else if !report.proposed.is_empty() {
        footer.push(
            "next: `colony approve ID` adds a follow-up, `colony reject ID --feedback \"why\"` drops it; \
             then `colony run` runs those added"
                .to_owned(),
        );
    } else if let Some((id, _)) = report.failed.first() {
        footer.push(format!(
            "next: `colony logs {id}` shows what its agent did; `colony retry {id}`, then `colony run`, tries again"
        ));
    } else if (report.interrupted || report.halted.is_some()) && !report.all_done() {
        footer.push("next: `colony run` carries on where this run stopped".to_owned());
    } else if !report.blocked.is_empty() || counts.get(TaskStatus::Cancelled) > 0 {
        footer.push("next: `colony list` shows what is left and why".to_owned());
    }
    if !footer.is_empty() {
        writeln!(out, "\n{}", footer.join("\n"))?;
    }
    Ok(())
}

/// What startup recovery found and did, before anything else.
pub fn write_recovered(out: &mut dyn Write, recovered: &[String]) -> Result<()> {
    if recovered.is_empty() {
        return Ok(());
    }
    writeln!(out, "cleaned up after an earlier run that did not finish:")?;
    for note in recovered {
        writeln!(out, "  {note}")?;
    }
    writeln!(out)?;
    Ok(())
}

/// `4.2s`, `3m 05s`, `1h 02m`: a run's length at the precision that matters.
pub fn wall(d: Duration) -> String {
    let secs = d.as_secs();
    match secs {
        0..60 => format!("{:.1}s", d.as_secs_f64()),
        60..3600 => format!("{}m {:02}s", secs / 60, secs % 60),
        _ => format!("{}h {:02}m", secs / 3600, secs % 3600 / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wall_times_read_at_their_scale() {
        assert_eq!(wall(Duration::from_millis(4200)), "4.2s");
        assert_eq!(wall(Duration::from_secs(185)), "3m 05s");
        assert_eq!(wall(Duration::from_secs(3720)), "1h 02m");
    }
}
