//! `colony show ID`: everything the store knows about one task.

use std::collections::HashMap;
use std::io::Write;

use anyhow::Result;
use colony_agents::{Entry, LogReader};
use colony_core::layout::Layout;
use colony_core::record::Record;
use colony_core::review::Verdict;
use colony_core::spec::Review;
use colony_core::{Approval, EventKind, ReviewOutcome, TaskId, TaskState, TaskStatus};
use colony_store::{AttemptRecord, Store, TaskDetail, TaskFilter};

use crate::cli::ShowArgs;
use crate::ctx::Ctx;
use crate::exit::bad_input;
use crate::render;

/// Width of the label column in the summary block.
const LABEL: usize = 12;

pub async fn run(ctx: &Ctx, args: ShowArgs, out: &mut impl Write) -> Result<()> {
    let store = ctx.open_store().await?;
    let Some(detail) = store.task(&args.id).await? else {
        store.close().await;
        return Err(bad_input(format!("no task `{}`; see `colony list`", args.id)));
    };
    // Dependencies and dependents live in the same plan; one read gets all
    // their statuses.
    let filter = TaskFilter { statuses: Vec::new(), plan: Some(detail.record.task.plan.to_string()) };
    let statuses: HashMap<TaskId, TaskStatus> =
        store.tasks(&filter).await?.into_iter().map(|t| (t.task.id.clone(), t.task.status())).collect();
    store.close().await;

    if args.prompt {
        let layout = Layout::new(&ctx.root);
        let sent = prompts_sent(&layout, &detail.record.task.id, &detail.attempts);
        return match args.json {
            true => render::json(out, &sent),
            false => write_prompts(out, &detail.record.task.id, &sent),
        };
    }
    if args.json {
        return render::json(out, &detail);
    }
    write_detail(out, &detail, &statuses)
}

/// A prompt as an attempt's log recorded it.
#[derive(Debug, serde::Serialize)]
struct Sent {
    attempt: u32,
    /// `builder` or `reviewer`.
    to: String,
    text: String,
}

/// Every prompt the task's attempts sent, in order, from their logs.
fn prompts_sent(layout: &Layout, task: &TaskId, attempts: &[AttemptRecord]) -> Vec<Sent> {
    let mut sent = Vec::new();
    for a in attempts {
        let Ok(mut reader) = LogReader::open(layout.log(task, a.attempt)) else { continue };
        while let Some(Ok(record)) = reader.next_now() {
            if let Entry::Colony(Record::Prompt { to, text }) = record.entry {
                sent.push(Sent { attempt: a.attempt, to, text });
            }
        }
    }
    sent
}

fn write_prompts(out: &mut impl Write, task: &TaskId, sent: &[Sent]) -> Result<()> {
    if sent.is_empty() {
        writeln!(out, "no prompt was sent for task {task} yet")?;
    }
    for (i, s) in sent.iter().enumerate() {
        if i > 0 {
            writeln!(out)?;
        }
        writeln!(out, "--- attempt {}, to the {} ---", s.attempt, s.to)?;
        out.write_all(s.text.as_bytes())?;
    }
    Ok(())
}

fn write_detail(out: &mut impl Write, d: &TaskDetail, statuses: &HashMap<TaskId, TaskStatus>) -> Result<()> {
    let task = &d.record.task;
    let spec = &d.spec;
    writeln!(out, "{}: {}", task.id, spec.title)?;
    let mut field = |label: &str, value: String| writeln!(out, "  {label:<LABEL$}{value}");
    field("plan", task.plan.to_string())?;
    field("status", status_line(&task.state))?;
    field("attempts", format!("{} of {} used", task.tries, task.max_attempts))?;
    if let Some(EventKind::TaskAdded { proposal: Some(p), .. }) = d.events.first().map(|e| &e.kind) {
        field("proposed by", format!("the agent of {} (attempt {}), a follow-up {} deep", p.by, p.attempt, p.depth))?;
    }
    if spec.priority != 0 {
        field("priority", spec.priority.to_string())?;
    }
    if let Some(role) = &spec.role {
        field("role", role.clone())?;
    }
    if let Some(agent) = &spec.agent {
        field("agent", agent.clone())?;
    }
    if let Some(model) = &spec.model {
        field("model", model.clone())?;
    }
    if let Some(review) = &spec.review {
        field(
            "review",
            match review {
                Review::Skip(_) => "none".to_owned(),
                Review::Agent { agent } => format!("by {agent}"),
            },
        )?;
    }
    if let Some(timeout) = spec.timeout {
        field("timeout", humantime::format_duration(timeout).to_string())?;
    }
    if let Some(approval) = spec.approval {
        field(
            "approval",
            match approval {
                Approval::Required => "required before merging".to_owned(),
                Approval::Auto => "automatic".to_owned(),
            },
        )?;
    }
    if let Some(hours) = spec.estimated_hours {
        field("estimate", format!("{hours} h"))?;
    }
    if let Some(phase) = &spec.phase {
        field("phase", phase.clone())?;
    }
    if let Some(kind) = &spec.kind {
        field("type", kind.clone())?;
    }
    let with_status = |ids: &[TaskId]| -> String {
        let named: Vec<String> = ids
            .iter()
            .map(|id| match statuses.get(id) {
                Some(s) => format!("{id} ({s})"),
                None => id.to_string(),
            })
            .collect();
        if named.is_empty() { "nothing".to_owned() } else { named.join(", ") }
    };
    field("depends on", with_status(&d.record.deps))?;
    field("needed by", with_status(&d.dependents))?;
    if !spec.files.is_empty() {
        field("files", spec.files.join(", "))?;
    }
    if !spec.design_docs.is_empty() {
        field("docs", spec.design_docs.join(", "))?;
    }

    if !spec.acceptance.is_empty() {
        writeln!(out, "\nacceptance:")?;
        for item in &spec.acceptance {
            writeln!(out, "  - {item}")?;
        }
    }
    writeln!(out, "\nprompt:")?;
    for line in spec.prompt.trim_end().lines() {
        writeln!(out, "  {line}")?;
    }
    if !d.attempts.is_empty() {
        writeln!(out, "\nattempt history:")?;
        for a in &d.attempts {
            writeln!(out, "  {}", attempt_line(a))?;
            if let Some(ports) = &a.ports {
                writeln!(out, "      ports {ports} (COLONY_PORT={})", ports.first)?;
            }
            if let Some(version) = &a.agent_version {
                writeln!(out, "      agent version {version}")?;
            }
            if let Some(session) = &a.session {
                writeln!(out, "      agent session {session}")?;
                writeln!(
                    out,
                    "        resume by hand: `claude --resume {session}` (gemini, cursor-agent alike), `codex resume {session}`"
                )?;
            }
            if let Some(answer) = &a.answer {
                let first = answer.lines().next().unwrap_or_default();
                match answer.lines().count() {
                    1 => writeln!(out, "      agent said: {first}")?,
                    n => writeln!(
                        out,
                        "      agent said: {first} (and {} more, in --json)",
                        render::count(n - 1, "line")
                    )?,
                }
            }
            if !a.usage.is_empty() {
                writeln!(out, "      spent {}", render::usage(&a.usage))?;
            }
        }
        let spent = d.attempts.iter().fold(colony_core::Usage::default(), |sum, a| sum.plus(a.usage));
        if d.attempts.len() > 1 && !spent.is_empty() {
            writeln!(out, "  in all: {}", render::usage(&spent))?;
        }
    }
    write_reviews(out, d)?;
    writeln!(out, "\nevents:")?;
    for e in &d.events {
        writeln!(out, "  {:>5}  {}  {}", e.seq, render::clock(e.at), e.kind.summary())?;
    }
    if let Some(hint) = next_step(&task.id, &task.state) {
        writeln!(out, "\nnext: {hint}")?;
    }
    Ok(())
}

/// Every review, round by round: the verdict, the summary, each issue.
fn write_reviews(out: &mut impl Write, d: &TaskDetail) -> Result<()> {
    let reviews: Vec<_> = d
        .events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::ReviewRecorded { attempt, round, reviewer, outcome, spent } => {
                Some((attempt, round, reviewer, outcome, spent))
            }
            _ => None,
        })
        .collect();
    if reviews.is_empty() {
        return Ok(());
    }
    writeln!(out, "\nreviews:")?;
    for (attempt, round, reviewer, outcome, spent) in reviews {
        let head = format!("  attempt {attempt}, round {round}, {reviewer}:");
        let spent = if spent.is_empty() { String::new() } else { format!("    (spent {})\n", render::usage(spent)) };
        match outcome {
            ReviewOutcome::NoVerdict { reason } => write!(out, "{head} no verdict ({reason})\n{spent}")?,
            ReviewOutcome::Answered { answer } => {
                let verdict = match answer.verdict {
                    Verdict::Approved => "approved",
                    Verdict::NeedsChanges => "needs changes",
                };
                writeln!(out, "{head} {verdict}")?;
                if let Some(summary) = answer.summary.as_deref().filter(|s| !s.trim().is_empty()) {
                    for line in summary.trim().lines() {
                        writeln!(out, "    {line}")?;
                    }
                }
                for issue in &answer.issues {
                    let place = match (&issue.file, issue.line) {
                        (Some(f), Some(l)) => format!("{f}:{l}: "),
                        (Some(f), None) => format!("{f}: "),
                        _ => String::new(),
                    };
                    let severity = issue.severity.as_deref().map(|s| format!("[{s}] ")).unwrap_or_default();
                    writeln!(out, "    - {place}{severity}{}", issue.message.trim())?;
                }
                write!(out, "{spent}")?;
            }
        }
    }
    Ok(())
}

/// The status with what goes with it: why, by whom, until when.
fn status_line(state: &TaskState) -> String {
    match state {
        TaskState::Failed { reason } => format!("failed: {reason}"),
        TaskState::Blocked { by } => format!("blocked by {by}"),
        TaskState::Running { lease } | TaskState::Checking { lease } | TaskState::Merging { lease } => {
            format!("{}, held by {} until {}", state.status(), lease.worker, render::date_time(lease.until))
        }
        TaskState::Ready { not_before: Some(at) } => format!("ready, retries after {}", render::date_time(*at)),
        TaskState::AwaitingApproval => "awaiting a person's approval".to_owned(),
        TaskState::AwaitingInput { question, until } => format!(
            "awaiting your answer until {}; its agent asks:\n  {}",
            render::date_time(*until),
            question.replace('\n', "\n  ")
        ),
        TaskState::Pending => "pending: waits for its dependencies".to_owned(),
        TaskState::Replaced => "replaced: new tasks do its work (its history names them)".to_owned(),
        TaskState::Proposed => {
            "proposed by an agent as a follow-up: `colony approve` adds it, `colony reject -f WHY` drops it".to_owned()
        }
        TaskState::Dropped => "dropped: a proposed follow-up a person did not want".to_owned(),
        TaskState::Ready { not_before: None } | TaskState::Done | TaskState::Cancelled => state.status().to_string(),
    }
}

/// `#1  worker-a  2024-05-01 10:00:00 to 10:12:31  failed: tests fail`.
fn attempt_line(a: &AttemptRecord) -> String {
    let mut line = format!("#{}  {}  {}", a.attempt, a.worker, render::date_time(a.started_at));
    match a.ended_at {
        Some(end) => line.push_str(&format!(" to {}", render::clock(end))),
        None => line.push_str(", still running"),
    }
    match (&a.outcome, &a.reason) {
        (Some(outcome), Some(reason)) => line.push_str(&format!("  {outcome}: {reason}")),
        (Some(outcome), None) => line.push_str(&format!("  {outcome}")),
        (None, _) => {}
    }
    line
}

/// What a person can do about a task in this state, if anything.
fn next_step(id: &TaskId, state: &TaskState) -> Option<String> {
    match state {
        TaskState::Failed { .. } | TaskState::Cancelled => Some(format!("run it again with `colony retry {id}`")),
        TaskState::Blocked { by } => Some(format!("it runs once {by} is done; `colony show {by}` says why it is not")),
        TaskState::AwaitingInput { .. } => {
            Some(format!("answer with `colony answer {id} \"TEXT\"`; its agent goes on from there"))
        }
        _ => None,
    }
}
