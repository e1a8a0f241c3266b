//! The reviewer and a person's approval through the real binary: the
//! builder is colony's fake agent, the reviewer a `command` agent (a shell
//! script in the repository) that answers once with changes, then approves.

use crate::repo::TestRepo;
use crate::run::merges;

/// The reviewer: counts its runs in the temp dir (each test has its own,
/// and the sandbox lets agents write there) and asks for a change the
/// first time.
pub(crate) const REVIEWER: &str = r#"#!/bin/sh
cat > /dev/null
runs="$TMPDIR/review-runs"
n=$(( $(cat "$runs" 2>/dev/null || echo 0) + 1 ))
echo $n > "$runs"
if [ $n = 1 ]; then
  echo '{"verdict":"needs_changes","issues":[{"file":"a.txt","line":1,"severity":"high","message":"say hello properly"}],"summary":"almost"}'
else
  echo 'VERDICT: APPROVED'
fi
"#;

const CONFIG: &str = "[run]\nagent = \"fake\"\nbackoff_base = \"1s\"\nbackoff_cap = \"1s\"\n\n\
                      [agents.reviewer]\nkind = \"command\"\ncommand = [\"./review.sh\"]\n\n\
                      [review]\nagent = \"reviewer\"\napproval = \"required\"\n";

const PLAN: &str = "name: p\ntasks:\n  - id: a\n    title: Greet\n    prompt: Write a.txt\n    fake: {write: {a.txt: \"hi\\n\"}, fix_on_feedback: {a.txt: \"hello\\n\"}}\n  - id: b\n    title: After\n    prompt: Write b.txt\n    deps: [a]\n    review: none\n    approval: auto\n    fake: {write: {b.txt: \"b\\n\"}}\n";

fn repo() -> TestRepo {
    let repo = TestRepo::for_runs(CONFIG);
    let script = repo.root().join("review.sh");
    std::fs::write(&script, REVIEWER).unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    repo.commit_all("reviewer");
    repo
}

#[test]
fn a_review_round_then_a_persons_approval_merge_the_work() {
    let repo = repo();
    let plan = repo.write_plan("p.yaml", PLAN);
    let out = repo.command(&["run", "-q", &plan]).output().unwrap();
    let summary = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "not all done: {summary}");
    assert!(summary.contains("awaiting your approval"), "{summary}");
    assert!(summary.contains("`colony approve a`"), "{summary}");
    let a = repo.json(&["show", "a"]);
    assert_eq!(a["status"], "awaiting_approval");
    assert_eq!(repo.json(&["show", "b"])["status"], "pending", "b waits for a's merge");

    let shown = repo.stdout(&["show", "a"], 0);
    assert!(shown.contains("attempt 1, round 1, reviewer: needs changes"), "{shown}");
    assert!(shown.contains("- a.txt:1: [high] say hello properly"), "{shown}");
    assert!(shown.contains("attempt 1, round 2, reviewer: approved"), "{shown}");
    assert!(merges(&repo, "colony/p").is_empty(), "nothing merged before the approval");

    let err = repo.stderr(&["approve", "b"], 2);
    assert!(err.contains("task b is pending, not awaiting approval"), "{err}");
    let err = repo.stderr(&["reject", "a", "--feedback", "  "], 2);
    assert!(err.contains("the feedback is empty"), "{err}");

    let approved = repo.stdout(&["approve", "a"], 0);
    assert!(approved.contains("attempt 1 approved"), "{approved}");
    let out = repo.command(&["run", "-q"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(repo.git_out(&["show", "colony/p:a.txt"]), "hello\n", "the reviewed fix is what merged");
    assert_eq!(repo.git_out(&["show", "colony/p:b.txt"]), "b\n");
    assert_eq!(merges(&repo, "colony/p").len(), 2);
}

#[test]
fn a_rejection_sends_the_feedback_to_the_agent_and_waits_again() {
    let repo = repo();
    let plan = repo.write_plan("p.yaml", PLAN);
    repo.command(&["run", "-q", &plan]).output().unwrap();
    let rejected = repo.stdout(&["reject", "a", "--feedback", "shout it"], 0);
    assert!(rejected.contains("attempt 1 sent back: shout it"), "{rejected}");
    let out = repo.command(&["run", "-q"]).output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    let a = repo.json(&["show", "a"]);
    assert_eq!(
        (a["status"].as_str(), a["attempt"].as_u64(), a["tries"].as_u64()),
        (Some("awaiting_approval"), Some(2), Some(1))
    );
    let feedback = std::fs::read_to_string(repo.root().join(".colony/runs/a/a2/feedback.md")).unwrap();
    assert!(feedback.contains("A person reviewed your work and asks for changes:\n\nshout it"), "{feedback}");
}
