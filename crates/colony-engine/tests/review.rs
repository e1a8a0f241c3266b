//! The review loop and a person's approval, on real repositories, a real
//! SQLite store and real processes: the builder is a scripted agent (see
//! `common`), each reviewer a `command` agent whose script prints its
//! answer on stdout.

mod common;

use colony_core::review::Policy;
use colony_core::{Approval, Review, TaskStatus};
use colony_engine::Settings;
use colony_store::Store;

use common::Fixture;

/// The builder: counts its runs, keeps its last prompt, and writes
/// out/<task>.txt (a new line each run, so every round is a change).
const BUILDER: &str = "n=$(( $(cat \"$STATE/built-$COLONY_TASK_ID\" 2>/dev/null || echo 0) + 1 ))\n\
                       echo $n > \"$STATE/built-$COLONY_TASK_ID\"\n\
                       cat > \"$STATE/prompt-$COLONY_TASK_ID\"\n\
                       echo \"$RESUME\" > \"$STATE/resumed-$COLONY_TASK_ID\"\n\
                       echo 'SESSION builder-1'\n\
                       mkdir -p out && echo \"round $n\" >> \"out/$COLONY_TASK_ID.txt\"\n";

/// A reviewer script that counts its runs in `$STATE/<name>` as `n`.
fn reviewer(name: &str, answer: &str) -> String {
    format!(
        "n=$(( $(cat \"$STATE/{name}\" 2>/dev/null || echo 0) + 1 ))\necho $n > \"$STATE/{name}\"\ncat > /dev/null\n{answer}\n"
    )
}

const APPROVE: &str = r#"echo '{"verdict":"approved","summary":"fine"}'"#;
const CHANGES: &str = r#"echo '{"verdict":"needs_changes","issues":[{"file":"out/a.txt","line":1,"severity":"high","message":"add a test"}]}'"#;

/// A reviewer that reports its tokens the way a CLI adapter would.
const PRICED_APPROVE: &str = "echo 'USAGE 2000 100 0'; echo '{\"verdict\":\"approved\"}'";

fn settings(f: &Fixture, reviewers: &[(&str, String)], resumes: bool) -> Settings {
    let mut s = f.settings(BUILDER, resumes);
    for (name, script) in reviewers {
        s.agents.insert((*name).to_owned(), f.command_agent(name, script));
        s.config.review.agents.push((*name).to_owned());
    }
    s
}

fn reviews(events: &[colony_core::Event]) -> Vec<String> {
    events.iter().filter(|e| e.kind.name() == "review_recorded").map(|e| e.kind.summary()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_asked_once_then_approved_take_two_rounds_and_two_builds() {
    let f = Fixture::new(&["a"]).await;
    let once = reviewer(
        "r",
        &format!("if [ $n = 1 ]; then {CHANGES}; else echo 'Looks right now.'; echo 'VERDICT: APPROVED'; fi"),
    );
    let report = f.run(settings(&f, &[("r", once)], false)).await;
    assert!(report.all_done(), "{report:?}");
    assert_eq!(f.read_state("built-a").trim(), "2", "the builder ran twice");
    assert_eq!(f.read_state("r").trim(), "2", "exactly two review rounds");
    let second_prompt = f.read_state("prompt-a");
    assert!(second_prompt.contains("out/a.txt:1 [high] add a test"), "{second_prompt}");
    let detail = f.store.task("a").await.unwrap().unwrap();
    assert_eq!(
        reviews(&detail.events),
        ["attempt 1 review 1: r asks for changes (1 issue)", "attempt 1 review 2: r approved"]
    );
    let rounds: Vec<String> =
        detail.events.iter().filter(|e| e.kind.name() == "feedback_round").map(|e| e.kind.summary()).collect();
    assert_eq!(rounds, ["attempt 1 review round 1: r asked for changes"]);
    assert_eq!(detail.attempts.len(), 1, "the review rounds are within one attempt");
    assert_eq!(f.files_on("colony/p"), ["README.md", "out/a.txt"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reviewer_that_always_asks_for_changes_fails_the_task_and_nothing_merges() {
    let f = Fixture::new(&["a"]).await;
    f.add(&[("a", &[])], |t| t.max_attempts = Some(1)).await;
    let mut s = settings(&f, &[("r", reviewer("r", CHANGES))], false);
    s.config.review.max_rounds = 2;
    let report = f.run(s).await;
    assert_eq!(report.counts.get(TaskStatus::Failed), 1, "{report:?}");
    let reason = &report.failed[0].1;
    assert!(reason.starts_with("the review still asks for changes after 2 rounds:"), "{reason}");
    assert!(reason.contains("add a test"), "the last review is attached: {reason}");
    assert_eq!(f.read_state("built-a").trim(), "2");
    assert_eq!(f.files_on("colony/p"), ["README.md"], "nothing of it reaches the integration branch");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_without_a_verdict_is_asked_again_and_never_approves() {
    let f = Fixture::new(&["a", "b"]).await;
    f.add(&[("a", &[]), ("b", &[])], |t| {
        t.max_attempts = Some(1);
        if t.id.as_str() == "b" {
            t.review = Some(Review::Agent { agent: "mumbler".into() });
        }
    })
    .await;
    let late = reviewer("late", &format!("if [ $n -lt 3 ]; then echo 'LGTM!'; else {APPROVE}; fi"));
    let mumbler = reviewer("mumbler", "echo 'APPROVED, I think'");
    let mut s = settings(&f, &[("late", late)], false);
    s.agents.insert("mumbler".into(), f.command_agent("mumbler", &mumbler));
    let report = f.run(s).await;
    assert_eq!(report.counts.get(TaskStatus::Done), 1, "{report:?}");
    let a = f.store.task("a").await.unwrap().unwrap();
    let kinds: Vec<String> = reviews(&a.events);
    assert_eq!(kinds.len(), 3, "{kinds:?}");
    assert!(kinds[0].contains("late gave no verdict") && kinds[2].ends_with("late approved"), "{kinds:?}");
    let b = f.store.task("b").await.unwrap().unwrap();
    assert_eq!(b.record.task.status(), TaskStatus::Failed);
    assert!(report.failed[0].1.contains("`mumbler` gave no verdict in 3 tries"), "{report:?}");
    assert!(!f.files_on("colony/p").contains(&"out/b.txt".to_owned()), "never taken as approval");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_reviewers_decide_by_policy() {
    for (policy, expect_rounds) in [(Policy::All, 2), (Policy::Majority, 1)] {
        let f = Fixture::new(&["a"]).await;
        let stubborn = reviewer("c", &format!("if [ $n = 1 ]; then {CHANGES}; else {APPROVE}; fi"));
        let mut s =
            settings(&f, &[("a1", reviewer("a1", APPROVE)), ("a2", reviewer("a2", APPROVE)), ("c", stubborn)], false);
        s.config.review.policy = policy;
        assert!(f.run(s).await.all_done(), "{policy:?}");
        assert_eq!(f.read_state("a1").trim(), expect_rounds.to_string(), "{policy:?}: review rounds");
        assert_eq!(f.read_state("built-a").trim(), expect_rounds.to_string(), "{policy:?}: builds");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_a_reviewer_changes_in_the_worktree_is_undone() {
    let f = Fixture::new(&["a"]).await;
    let vandal = reviewer("v", &format!("echo sabotage > out/a.txt; echo new > stray.txt; {APPROVE}"));
    assert!(f.run(settings(&f, &[("v", vandal)], false)).await.all_done());
    assert_eq!(f.files_on("colony/p"), ["README.md", "out/a.txt"]);
    let merged = common::git(f.repo(), &["show", "colony/p:out/a.txt"]);
    assert_eq!(merged, "round 1\n");
    assert!(f.log("a", 1).contains("changed the worktree; undone"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reviews_spend_is_kept_with_it_and_priced() {
    let f = Fixture::new(&["a"]).await;
    let mut s = f.settings(BUILDER, false);
    s.agents.insert(
        "r".into(),
        colony_engine::AgentSetup::new(common::Scripted {
            script: f.script("r", &reviewer("r", PRICED_APPROVE)),
            resumes: false,
        }),
    );
    common::with_model(&mut s, "r", "m");
    s.config.review.agents.push("r".into());
    s.config
        .prices
        .insert("m".into(), colony_core::config::Price { input: 1000.0, output: 1000.0, cached_input: None });
    assert!(f.run(s).await.all_done());
    let detail = f.store.task("a").await.unwrap().unwrap();
    let spent = detail
        .events
        .iter()
        .find_map(|e| match &e.kind {
            colony_core::EventKind::ReviewRecorded { spent, .. } => Some(*spent),
            _ => None,
        })
        .unwrap();
    assert_eq!((spent.input, spent.output), (2000, 100));
    assert!((spent.cost_usd.unwrap() - 2.1).abs() < 1e-9, "{spent:?}");
    assert_eq!(detail.attempts[0].usage.cost_usd, spent.cost_usd, "the attempt's spend includes its review");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reviewers_session_never_replaces_the_builders() {
    let f = Fixture::new(&["a"]).await;
    let mut s = f.settings(BUILDER, true);
    let once = reviewer("r", &format!("echo 'SESSION reviewer-9'; if [ $n = 1 ]; then {CHANGES}; else {APPROVE}; fi"));
    s.agents.insert(
        "r".into(),
        colony_engine::AgentSetup::new(common::Scripted { script: f.script("r", &once), resumes: true }),
    );
    s.config.review.agents.push("r".into());
    assert!(f.run(s).await.all_done());
    assert_eq!(f.read_state("built-a").trim(), "2");
    assert_eq!(f.read_state("resumed-a").trim(), "builder-1", "the fix round resumes the builder's own session");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn review_none_skips_the_reviewers() {
    let f = Fixture::new(&["a"]).await;
    f.add(&[("a", &[])], |t| t.review = Some(Review::Skip(colony_core::spec::ReviewNone::None))).await;
    assert!(f.run(settings(&f, &[("r", reviewer("r", CHANGES))], false)).await.all_done());
    assert_eq!(f.read_state("r"), "", "the reviewer never ran");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approval_waits_for_a_person_without_holding_a_worker() {
    let f = Fixture::new(&[]).await;
    f.add(&[("a", &[]), ("b", &["a"]), ("c", &[])], |t| {
        if t.id.as_str() == "a" {
            t.approval = Some(Approval::Required);
        }
    })
    .await;
    let mut s = settings(&f, &[], true);
    s.workers = 1;
    let report = f.run(s.clone()).await;
    assert_eq!(report.awaiting.iter().map(|t| t.as_str()).collect::<Vec<_>>(), ["a"], "{report:?}");
    assert_eq!(report.counts.get(TaskStatus::Done), 1, "c ran meanwhile on the one worker");
    assert_eq!(report.counts.get(TaskStatus::Pending), 1, "b waits for a's merge");
    assert!(f.branches().contains(&"colony-task/p/a-a1".to_owned()), "the waiting work is kept");
    assert!(!f.files_on("colony/p").contains(&"out/a.txt".to_owned()));

    // Sent back: the builder resumes its session with the person's words.
    let a = colony_core::TaskId::new("a").unwrap();
    f.store.decide(&a, Some("call it round one")).await.unwrap();
    let report = f.run(s.clone()).await;
    assert_eq!(report.awaiting.len(), 1, "it waits again after the rework");
    assert_eq!(f.read_state("built-a").trim(), "2");
    let prompt = f.read_state("prompt-a");
    assert!(prompt.starts_with("A person reviewed your work and asks for changes:\n\ncall it round one"), "{prompt}");

    f.store.decide(&a, None).await.unwrap();
    let report = f.run(s).await;
    assert!(report.all_done(), "{report:?}");
    assert_eq!(f.read_state("built-a").trim(), "2", "approved work is merged, not rebuilt");
    let merged = common::git(f.repo(), &["show", "colony/p:out/a.txt"]);
    assert_eq!(merged, "round 1\nround 2\n", "both rounds' work, as approved");
    let detail = f.store.task("a").await.unwrap().unwrap();
    let kinds: Vec<&str> = detail.events.iter().map(|e| e.kind.name()).collect();
    assert!(kinds.contains(&"rejected") && kinds.contains(&"approved"), "{kinds:?}");
    assert_eq!(detail.record.task.tries, 1, "the person's decisions cost no tries");
    assert!(
        !f.branches().iter().any(|b| b.starts_with("colony-task/p/a-")),
        "merged branches are cleaned: {:?}",
        f.branches()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_decision_outlives_an_attempt_given_back_before_it_carried_it_out() {
    let f = Fixture::new(&[]).await;
    f.add(&[("a", &[])], |t| t.approval = Some(Approval::Required)).await;
    let mut s = settings(&f, &[], true);
    assert_eq!(f.run(s.clone()).await.awaiting.len(), 1);
    let a = colony_core::TaskId::new("a").unwrap();
    f.store.decide(&a, Some("call it round one")).await.unwrap();

    // Another program holds the only block of ports: the attempt that
    // takes the decision up is given back before it can carry it out.
    s.config.worktree.ports = 2;
    s.config.worktree.port_range = colony_core::ports::Ports { first: 41300, last: 41301 };
    let holder = std::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 41300)).unwrap();
    let run = tokio::spawn({
        let repo = colony_git::Repo::open(f.repo()).unwrap();
        let engine = colony_engine::Engine::new(f.store.clone(), repo, s.clone());
        async move { engine.run(colony_agents::Shutdown::new()).await.unwrap() }
    });
    while !f.store.task("a").await.unwrap().unwrap().attempts.iter().any(|t| t.outcome.as_deref() == Some("released")) {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(f.branches().contains(&"colony-task/p/a-a1".to_owned()), "the decided work is kept: {:?}", f.branches());
    drop(holder);
    let report = run.await.unwrap();
    assert_eq!(report.awaiting.len(), 1, "{report:?}");
    let prompt = f.read_state("prompt-a");
    assert!(prompt.starts_with("A person reviewed your work and asks for changes:\n\ncall it round one"), "{prompt}");
    assert!(!f.branches().contains(&"colony-task/p/a-a1".to_owned()), "carried out, the decided work's branch goes");

    f.store.decide(&a, None).await.unwrap();
    assert!(f.run(s).await.all_done());
    let merged = common::git(f.repo(), &["show", "colony/p:out/a.txt"]);
    assert_eq!(merged, "round 1\nround 2\n", "the work went on from what the person saw");
    assert_eq!(f.store.task("a").await.unwrap().unwrap().record.task.tries, 1);
}
