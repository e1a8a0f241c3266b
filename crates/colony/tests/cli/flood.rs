//! An agent that floods its output, in many lines and in one line with no
//! newline: the log keeps the head and the tail and says what it left
//! out, and `colony logs` prints a bounded part of it. What the run's
//! memory comes to is a benchmark's to say (`colony-bench flood`): a
//! child's peak resident set as the kernel reports it includes its
//! parent's at the exec, and this test binary's depends on what else runs
//! in it.

use std::process::Stdio;

use crate::repo::TestRepo;
use crate::run::FAKE_CONFIG;

/// 40 MB in lines of 100 bytes, then 60 MB on one line.
const FLOOD_LINES: u64 = 400_000;
const FLOOD_LINE: u64 = 60_000_000;

/// The log's bound ([`colony_agents::log::LogLimits::DEFAULT`]'s `max`),
/// plus room for colony's own notes.
const LOG_BOUND: u64 = (16 << 20) + (64 << 10);

#[test]
fn a_flooding_agent_leaves_a_bounded_log_with_its_head_and_tail() {
    let repo = TestRepo::for_runs(FAKE_CONFIG);
    let plan = format!(
        "name: flood\ntasks:\n  - id: flood\n    title: Prints far too much\n    prompt: p\n    fake: {{print: [first words], flood_lines: {FLOOD_LINES}, flood_line: {FLOOD_LINE}}}\n"
    );
    repo.write_plan("flood.yaml", &plan);
    let status =
        repo.command(&["run", "plans/flood.yaml"]).stdout(Stdio::null()).stderr(Stdio::null()).status().unwrap();
    assert!(status.success(), "{status}");

    let log = repo.root().join(".colony/runs/flood/a1/log.jsonl");
    let size = std::fs::metadata(&log).unwrap().len();
    assert!(size <= LOG_BOUND, "the log is {size} bytes");
    let records: Vec<serde_json::Value> =
        std::fs::read_to_string(&log).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let text = |r: &serde_json::Value| r["text"].as_str().unwrap_or("").to_owned();
    let texts: Vec<String> = records.iter().map(text).collect();
    let at = |wanted: &str| texts.iter().position(|t| t.starts_with(wanted));

    // The head, as the agent began.
    let first = at("first words").expect("the head");
    assert!(texts[first + 1].starts_with("flood line 000000001 "), "{}", texts[first + 1]);
    // What was left out, counted.
    let omitted = records.iter().position(|r| r["kind"] == "omitted").expect("an omitted record");
    let left_out = records[omitted]["records"].as_u64().unwrap();
    let kept = texts.iter().filter(|t| t.starts_with("flood line ")).count() as u64;
    assert_eq!(kept + left_out, FLOOD_LINES, "every flood line is kept or counted");
    assert!(records[omitted]["bytes"].as_u64().unwrap() > 20_000_000);
    // The tail, as the agent ended, and colony's own notes after it.
    let last = at(&format!("flood line {FLOOD_LINES:09} ")).expect("the last flood line is in the tail");
    assert!(omitted < last);
    let long = &texts[last + 1];
    assert!(long.starts_with("xxxx") && long.ends_with("xxxx") && long.len() <= 64 << 10, "{}", long.len());
    let count = long.split_once(" [… ").and_then(|(_, rest)| rest.split_once(" bytes cut …] ")).expect("a marker");
    let cut: u64 = count.0.parse().unwrap();
    let marker = format!(" [… {cut} bytes cut …] ");
    assert_eq!(long.len() as u64 - marker.len() as u64 + cut, FLOOD_LINE, "every byte kept or counted, once");
    assert!(at("fake: exiting with 0").is_some_and(|end| end > last));
    let merged = records.iter().position(|r| r["kind"] == "colony" && r["step"] == "merged");
    assert!(merged.is_some_and(|m| m > last), "colony's records are never left out");

    // `colony logs` prints the end, and says how much more there is.
    let out = repo.colony(&["logs", "flood"]).success().get_output().clone();
    let (stdout, stderr) = (String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap());
    assert_eq!(stdout.lines().count(), 200, "the default tail");
    assert!(stdout.contains("fake: exiting with 0") && !stdout.contains("first words"));
    let earlier = records.len() - 200;
    assert_eq!(stderr, format!("({earlier} earlier records not shown; --all shows every one)\n"));
    let all = repo.stdout(&["logs", "flood", "--all", "--json"], 0);
    assert_eq!(all.lines().count(), records.len());
    let ten = repo.stdout(&["logs", "flood", "-n", "10"], 0);
    assert_eq!(ten.lines().count(), 10);
}
