//! `colony logs ID [-f]`: what an attempt's agent printed and did.
//!
//! The log is the attempt's normalized record (`.colony/runs/<task>/a<n>/
//! log.jsonl`), written by the engine as the agent works; its own notes
//! (gates, conflicts, merges) are in it too, as stderr lines starting with
//! `colony:`. Only the last `--tail` records (200) already written are
//! printed unless `--all` says otherwise: the log itself is bounded (its
//! head and tail, 16 MiB), but that is still more than a terminal wants.
//! Following is the engine's [`LogFollower`]: it reads the file as it
//! grows and asks the store every [`POLL`] whether the attempt has ended,
//! so it stops by itself once the last line is in.

use std::collections::VecDeque;
use std::io::Write;
use std::time::Duration;

use anyhow::Result;
use colony_agents::{AgentError, Entry, ErrorClass, LogReader, LogRecord, Stream};
use colony_core::TaskId;
use colony_core::layout::Layout;
use colony_store::{LogFollower, SqlStore, Store, TaskDetail};
use tokio_util::sync::CancellationToken;
use unicode_width::UnicodeWidthStr;

use crate::cli::LogsArgs;
use crate::ctx::Ctx;
use crate::exit::bad_input;
use crate::{render, signal, terminal};

/// How often following asks the store about the attempt and the file.
const POLL: Duration = Duration::from_millis(200);

/// The label column: `stdout`, `stderr`, `agent`, `tool`, …
const LABEL: usize = 6;

/// Agent text is wrapped to fit this many columns.
const WIDTH: usize = 80;

pub async fn run(ctx: &Ctx, args: LogsArgs, out: &mut impl Write) -> Result<()> {
    let store = ctx.open_store().await?;
    let outcome = show(ctx, &store, &args, out).await;
    store.close().await;
    outcome
}

async fn show(ctx: &Ctx, store: &SqlStore, args: &LogsArgs, out: &mut impl Write) -> Result<()> {
    let Some(detail) = store.task(&args.id).await? else {
        return Err(bad_input(format!("no task `{}`; see `colony list`", args.id)));
    };
    let task = detail.record.task.id.clone();
    let stop = CancellationToken::new();
    if args.follow {
        let interrupted = signal::stop_requested()?;
        let stop = stop.clone();
        tokio::spawn(async move {
            interrupted.await;
            stop.cancel();
        });
    }
    let attempt = match (args.attempt, latest(&detail)) {
        (Some(n), _) if detail.attempts.iter().any(|a| a.attempt == n) => n,
        (Some(n), None) => {
            return Err(bad_input(format!("task {task} has no attempt {n}; it has not started yet")));
        }
        (Some(n), Some(last)) => {
            return Err(bad_input(format!("task {task} has no attempt {n}; its attempts are 1 to {last}")));
        }
        (None, Some(last)) => last,
        (None, None) if args.follow => match first_attempt(store, &task, &stop).await? {
            Some(n) => n,
            None => return Ok(()),
        },
        (None, None) => {
            writeln!(out, "no log yet for task {task}: it has not started")?;
            return Ok(());
        }
    };
    let path = Layout::new(&ctx.root).log(&task, attempt);
    if args.follow {
        let mut log = LogFollower::new(store, &task, attempt, path, POLL);
        if !follow(&mut log, args, out, &stop).await? {
            writeln!(out, "no log for task {task} attempt {attempt}: it ended before its agent started")?;
        }
        return Ok(());
    }
    let Ok(mut reader) = LogReader::open(&path) else {
        writeln!(out, "no log yet for task {task} attempt {attempt}")?;
        return Ok(());
    };
    print_written(|| reader.next_now(), args, out)
}

/// Prints the records already in the log (`next` gives them one by one):
/// every one with `--all`, else the last `--tail`, after a word on stderr
/// about those left out.
fn print_written(mut next: impl FnMut() -> Option<Record>, args: &LogsArgs, out: &mut impl Write) -> Result<()> {
    if args.all {
        while let Some(record) = next() {
            print(out, record, args.json)?;
        }
        return Ok(());
    }
    let mut last = VecDeque::with_capacity(args.tail.min(1024));
    let mut earlier = 0u64;
    while let Some(record) = next() {
        last.push_back(record);
        if last.len() > args.tail {
            last.pop_front();
            earlier += 1;
        }
    }
    if earlier > 0 {
        eprintln!("({earlier} earlier records not shown; --all shows every one)");
    }
    for record in last {
        print(out, record, args.json)?;
    }
    Ok(())
}

/// The number of the task's latest attempt.
fn latest(detail: &TaskDetail) -> Option<u32> {
    detail.attempts.iter().map(|a| a.attempt).max()
}

/// Waits for the task's first attempt to start; `None` if stopped first.
async fn first_attempt(store: &SqlStore, task: &TaskId, stop: &CancellationToken) -> Result<Option<u32>> {
    loop {
        if let Some(n) = store.task(task.as_str()).await?.as_ref().and_then(latest) {
            return Ok(Some(n));
        }
        tokio::select! {
            () = tokio::time::sleep(POLL) => {}
            () = stop.cancelled() => return Ok(None),
        }
    }
}

/// Prints the log as it grows until the attempt ends or `stop`, waiting
/// for the file to appear first: what is written already as
/// [`print_written`] does, then every new record. Returns `false` when
/// the attempt ended without a log.
async fn follow(
    log: &mut LogFollower<'_, SqlStore>,
    args: &LogsArgs,
    out: &mut impl Write,
    stop: &CancellationToken,
) -> Result<bool> {
    let opened = tokio::select! {
        opened = log.open() => opened,
        () = stop.cancelled() => return Ok(true),
    };
    if !opened {
        return Ok(false);
    }
    print_written(|| log.written(), args, out)?;
    out.flush()?;
    loop {
        let next = tokio::select! {
            next = log.next() => next,
            () = stop.cancelled() => return Ok(true),
        };
        let Some(record) = next else { return Ok(true) };
        print(out, record, args.json)?;
        out.flush()?;
    }
}

/// A log record as read: a line that does not read is an error.
type Record = std::result::Result<LogRecord, AgentError>;

/// One record, or a warning about a line that does not read.
fn print(out: &mut impl Write, record: Record, json: bool) -> Result<()> {
    match record {
        Ok(record) if json => {
            serde_json::to_writer(&mut *out, &record)?;
            writeln!(out)?;
        }
        Ok(record) => out.write_all(render_record(&record).as_bytes())?,
        // One torn line (colony died mid-write) should not hide the rest.
        Err(e) => eprintln!("warning: {}; skipped", terminal::safe(&e.to_string())),
    }
    Ok(())
}

/// `HH:MM:SS label text`, one line or, for agent text, several.
fn render_record(record: &LogRecord) -> String {
    let at = render::clock(record.t);
    let line = |label: &str, text: &str| format!("{at} {label:<LABEL$} {text}\n");
    match &record.entry {
        Entry::Raw { stream: Stream::Stdout, text } => line("stdout", text),
        Entry::Raw { stream: Stream::Stderr, text } | Entry::StderrError { message: text, .. } => line("stderr", text),
        Entry::Unknown { event } => line("agent", &format!("skipped events of unknown type `{event}`")),
        Entry::Text { text } | Entry::TextDelta { text } => {
            let indent = at.width() + 1 + LABEL + 1;
            let mut lines = wrap(text, WIDTH.saturating_sub(indent)).into_iter();
            let mut block = line("agent", &lines.next().unwrap_or_default());
            for rest in lines {
                block.push_str(&format!("{:indent$}{rest}\n", ""));
            }
            block
        }
        Entry::ToolUse { name, input_summary } => line("tool", format!("{name} {input_summary}").trim_end()),
        Entry::ToolResult { output, is_error } => {
            let mut lines = output.trim().lines();
            let first = lines.next().unwrap_or("(no output)");
            let more = match lines.count() {
                0 => String::new(),
                n => format!(" (+{n} lines)"),
            };
            if *is_error {
                line("ERROR", &format!("tool failed: {first}{more}"))
            } else {
                line("result", &format!("{first}{more}"))
            }
        }
        Entry::Usage { input, output, cached } => line("tokens", &format!("{input} in, {output} out, {cached} cached")),
        Entry::Cost { usd } => line("cost", &format!("${usd:.4}")),
        Entry::Session { id } => line("agent", &format!("session {id}")),
        Entry::Version { version } => line("agent", &format!("version {version}")),
        Entry::Finished { is_error: false, message } => line(
            "end",
            &format!("finished{}", message.as_deref().map(|m| format!(": {}", first_line(m))).unwrap_or_default()),
        ),
        Entry::Finished { is_error: true, message } => line(
            "ERROR",
            &format!(
                "finished with an error{}",
                message.as_deref().map(|m| format!(": {}", first_line(m))).unwrap_or_default()
            ),
        ),
        Entry::Error { class, message, reset_at } => {
            let until = reset_at.map(|t| format!(" (until {})", render::clock(t))).unwrap_or_default();
            line("ERROR", &format!("{}: {message}{until}", class_name(*class)))
        }
        Entry::Colony(record) => line("colony", &record.to_string()),
        Entry::Omitted { records, bytes } => line(
            "cut",
            &format!(
                "{records} records ({:.1} MiB) of output left out here; the log keeps its head and its tail",
                *bytes as f64 / (1 << 20) as f64
            ),
        ),
    }
}

/// The first line of a final message, with how many follow.
fn first_line(text: &str) -> String {
    let mut lines = text.trim().lines();
    let first = lines.next().unwrap_or("").to_owned();
    match lines.count() {
        0 => first,
        n => format!("{first} (+{n} lines)"),
    }
}

fn class_name(class: ErrorClass) -> &'static str {
    match class {
        ErrorClass::RateLimit => "rate limited",
        ErrorClass::Overloaded => "overloaded",
        ErrorClass::Auth => "not signed in",
        ErrorClass::SpendLimit => "spend limit reached",
        ErrorClass::Other => "error",
    }
}

/// Words of `text` in lines of at most `width` columns (a longer word gets
/// a line of its own); the text's own line breaks are kept.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    for paragraph in text.trim_end().lines() {
        let mut line = String::new();
        for word in paragraph.split_whitespace() {
            if !line.is_empty() && line.width() + 1 + word.width() > width {
                lines.push(std::mem::take(&mut line));
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
        lines.push(line);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(entry: Entry) -> String {
        // Midnight UTC; the clock shows local time, so only the rest is
        // compared.
        let text = render_record(&LogRecord { t: 0, entry });
        text.lines().map(|l| l.get(9..).unwrap_or("").to_owned() + "\n").collect()
    }

    #[test]
    fn each_kind_of_entry_reads_on_its_own_line() {
        assert_eq!(rec(Entry::Raw { stream: Stream::Stdout, text: "hello".into() }), "stdout hello\n");
        assert_eq!(rec(Entry::Raw { stream: Stream::Stderr, text: "oops".into() }), "stderr oops\n");
        assert_eq!(
            rec(Entry::ToolUse { name: "Read".into(), input_summary: "src/lib.rs".into() }),
            "tool   Read src/lib.rs\n"
        );
        assert_eq!(
            rec(Entry::ToolResult { output: "a\nb\nc".into(), is_error: true }),
            "ERROR  tool failed: a (+2 lines)\n"
        );
        assert_eq!(rec(Entry::Usage { input: 1, output: 2, cached: 3 }), "tokens 1 in, 2 out, 3 cached\n");
        assert_eq!(
            rec(Entry::Finished { is_error: false, message: Some("Done.\nAll good.".into()) }),
            "end    finished: Done. (+1 lines)\n"
        );
        assert_eq!(
            rec(Entry::Finished { is_error: true, message: Some("API Error: 500".into()) }),
            "ERROR  finished with an error: API Error: 500\n"
        );
        assert_eq!(
            rec(Entry::Error { class: ErrorClass::RateLimit, message: "429".into(), reset_at: None }),
            "ERROR  rate limited: 429\n"
        );
        assert_eq!(
            rec(Entry::Omitted { records: 12, bytes: 3 << 20 }),
            "cut    12 records (3.0 MiB) of output left out here; the log keeps its head and its tail\n"
        );
    }

    #[test]
    fn agent_text_wraps_under_its_label() {
        let long = "word ".repeat(30);
        let text = render_record(&LogRecord { t: 0, entry: Entry::Text { text: long } });
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines.len() > 1, "{text}");
        assert!(lines.iter().all(|l| l.width() <= WIDTH), "{text}");
        assert!(lines[1].starts_with(&" ".repeat(16)), "{text}");
    }

    #[test]
    fn wrap_keeps_line_breaks_and_long_words() {
        assert_eq!(wrap("a b c", 3), ["a b", "c"]);
        assert_eq!(wrap("one\ntwo", 80), ["one", "two"]);
        assert_eq!(wrap("abcdef x", 3), ["abcdef", "x"]);
    }
}
