//! `[worktree] ports`: each live attempt's own block of ports, taken
//! through the store, given to its setup, agent and gates as
//! `COLONY_PORT` and `COLONY_PORTS`, on real repositories, a real SQLite
//! store and real child processes that listen on them. Each test takes
//! blocks from a range of its own, as tests run at once.

mod common;

use std::time::Duration;

use colony_core::TaskStatus;
use colony_core::ports::Ports;
use colony_core::record::Record;
use colony_store::Store;

use common::Fixture;

/// Writes out/<task>.txt from the prompt.
const WRITE: &str = "mkdir -p out && cat > \"out/$COLONY_TASK_ID.txt\"\n";

/// Listens on 127.0.0.1:$COLONY_PORT, or fails: a port another listener
/// holds is refused (EADDRINUSE).
fn listen(who: &str) -> String {
    format!(
        "perl -MIO::Socket::INET -e 'IO::Socket::INET->new(LocalAddr => \"127.0.0.1\", \
         LocalPort => $ENV{{COLONY_PORT}}, Listen => 1, ReuseAddr => 1) \
         or die \"{who} cannot listen on $ENV{{COLONY_PORT}}: $!\\n\"; {{WHILE}}'"
    )
}

fn range(first: u16, last: u16) -> Ports {
    Ports { first, last }
}

async fn fixture(tasks: &[&str]) -> Fixture {
    let f = Fixture::empty().await;
    f.add(&tasks.iter().map(|t| (*t, &[][..])).collect::<Vec<_>>(), |spec| spec.max_attempts = Some(1)).await;
    f
}

/// Every attempt of `tasks` with its block and when it held it: from the
/// log's note of it to the attempt's end.
async fn blocks(f: &Fixture, tasks: &[&str]) -> Vec<(String, Ports, i64, i64)> {
    let mut out = Vec::new();
    for task in tasks {
        for a in f.store.task(task).await.unwrap().unwrap().attempts {
            let ports = a.ports.unwrap_or_else(|| panic!("{task} a{} has no ports", a.attempt));
            let path = f.repo().join(format!(".colony/runs/{task}/a{}/log.jsonl", a.attempt));
            let mut reader = colony_agents::LogReader::open(path).unwrap();
            let note = format!("ports {ports}:");
            let taken = std::iter::from_fn(|| reader.next_now())
                .map(Result::unwrap)
                .find(|r| matches!(&r.entry, colony_agents::Entry::Colony(Record::Note { text }) if text.starts_with(&note)))
                .unwrap_or_else(|| panic!("{task} a{}'s log names its ports", a.attempt))
                .t;
            out.push((format!("{task}-a{}", a.attempt), ports, taken, a.ended_at.unwrap()));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn colony_port_reaches_setup_the_agent_and_the_gates_and_is_recorded() {
    let f = fixture(&["a"]).await;
    let seen = f.state().join("seen");
    let note = |who: &str| format!("echo \"{who}:$COLONY_PORT:$COLONY_PORTS\" >> '{}'", seen.display());
    let mut settings = f.settings(&format!("{}\n{WRITE}", note("agent")), false);
    settings.config.worktree.ports = 3;
    settings.config.worktree.port_range = range(41000, 41099);
    settings.config.worktree.setup = vec![note("setup")];
    settings.config.gates.commands = vec![note("gate")];
    let report = f.run(settings).await;
    assert!(report.all_done(), "{report:?}");
    let seen = std::fs::read_to_string(seen).unwrap();
    let lines: Vec<&str> = seen.lines().collect();
    assert_eq!(
        lines[..2],
        ["setup:41000:41000-41002", "gate:41000:41000-41002"],
        "the look at the integration tip before any agent holds a block of its own, let go after it"
    );
    for who in ["setup", "agent", "gate"] {
        let line = format!("{who}:41000:41000-41002");
        assert!(lines[2..].contains(&line.as_str()), "{who} of attempt a1 ran with its block: {seen}");
    }
    let attempts = f.store.task("a").await.unwrap().unwrap().attempts;
    assert_eq!(attempts[0].ports, Some(range(41000, 41002)));
    assert!(f.log("a", 1).contains("ports 41000-41002: COLONY_PORT=41000, COLONY_PORTS=41000-41002"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attempts_at_once_each_listen_on_their_own_block() {
    let tasks = ["a", "b", "c", "d", "e", "f"];
    let f = fixture(&tasks).await;
    // Each agent listens until three listen at once (or a minute passes),
    // and its gate listens too: a port shared by two would be refused.
    let wait = "for (1..1200) { my @l = glob(\"$ENV{STATE}/listening-*\"); last if @l >= 3; select(undef, undef, undef, 0.05) }";
    let agent = listen("the agent").replace(
        "{WHILE}",
        &format!("open(my $f, \">\", \"$ENV{{STATE}}/listening-$ENV{{COLONY_TASK_ID}}\"); close $f; {wait}"),
    );
    let mut settings = f.settings(&format!("export STATE\n{agent} || exit 1\n{WRITE}"), false);
    settings.workers = 3;
    settings.config.worktree.ports = 2;
    settings.config.worktree.port_range = range(41100, 41199);
    settings.config.gates.commands = vec![listen("the gate").replace("{WHILE}", "")];
    let report = f.run(settings).await;
    assert!(report.all_done(), "{report:?}");

    let all = blocks(&f, &tasks).await;
    assert_eq!(all.len(), tasks.len(), "one attempt each: {all:?}");
    let mut overlapping = 0;
    for (i, (x, xp, xs, xe)) in all.iter().enumerate() {
        assert!(xp.count() == 2 && xp.first >= 41100 && xp.last <= 41199, "{x}: {xp}");
        for (y, yp, ys, ye) in &all[i + 1..] {
            if xs < ye && ys < xe {
                overlapping += 1;
                assert!(!xp.overlaps(yp), "{x} ({xp}) and {y} ({yp}) were live at once");
            }
        }
    }
    assert!(overlapping >= 3, "three attempts listened at once: {all:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_no_block_free_the_task_goes_back_without_counting_a_try() {
    let f = fixture(&["a", "b"]).await;
    let go = f.state().join("go");
    let script = format!("while [ ! -e '{}' ]; do sleep 0.05; done\n{WRITE}", go.display());
    let mut settings = f.settings(&script, false);
    settings.workers = 2;
    settings.config.worktree.ports = 2;
    settings.config.worktree.port_range = range(41200, 41201);
    let run = tokio::spawn({
        let repo = colony_git::Repo::open(f.repo()).unwrap();
        let engine = colony_engine::Engine::new(f.store.clone(), repo, settings);
        async move { engine.run(colony_agents::Shutdown::new()).await.unwrap() }
    });
    let why = "no block of 2 ports is free in [worktree] port_range 41200-41201";
    let released = loop {
        let mut found = None;
        for task in ["a", "b"] {
            let attempts = f.store.task(task).await.unwrap().unwrap().attempts;
            found = found.or(attempts.into_iter().find(|a| a.outcome.as_deref() == Some("released")));
        }
        if let Some(a) = found {
            break a;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(released.reason.as_deref().unwrap_or_default().starts_with(why), "{released:?}");
    assert_eq!(released.ports, None);
    std::fs::write(&go, "").unwrap();
    let report = run.await.unwrap();
    assert!(report.all_done(), "one attempt each was allowed, and the released one did not count: {report:?}");
    assert_eq!(report.counts.get(TaskStatus::Done), 2);
}
