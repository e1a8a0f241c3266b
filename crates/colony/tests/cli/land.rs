//! `colony land` after a run, and `colony demo`.

use std::time::{Duration, Instant};

use crate::repo::TestRepo;
use crate::run::{FAKE_CONFIG, dag};
use crate::snap;

/// A repository whose plan `p` (3 tasks) has run to the end.
fn after_a_run() -> TestRepo {
    let repo = TestRepo::for_runs(FAKE_CONFIG);
    let plan = repo.write_plan("p.yaml", &dag("p", 3));
    repo.colony(&["run", &plan, "-q"]).success();
    repo
}

#[test]
fn land_fast_forwards_the_users_branch() {
    let repo = after_a_run();
    let tip = repo.git_out(&["rev-parse", "colony/p"]);
    let out = repo.stdout(&["land"], 0);
    assert!(out.starts_with("fast-forwarded main to colony/p: "), "{out}");
    assert_eq!(repo.git_out(&["rev-parse", "main"]), tip);
    assert!(repo.root().join("colony-fake/t02.txt").is_file(), "the work is in the working tree");
    assert_eq!(repo.stdout(&["land"], 0), "main already has everything in colony/p; nothing to land\n");
}

#[test]
fn land_refuses_a_dirty_tree_and_changes_nothing() {
    let repo = after_a_run();
    std::fs::write(repo.root().join("README.md"), "# Edited, not committed\n").unwrap();
    let head = repo.git_out(&["rev-parse", "main"]);
    let status = repo.git_out(&["status", "--porcelain"]);
    let err = repo.stderr(&["land"], 2);
    snap!(&repo, "land_dirty", err);
    assert_eq!(repo.git_out(&["rev-parse", "main"]), head);
    assert_eq!(repo.git_out(&["status", "--porcelain"]), status);
    assert_eq!(std::fs::read_to_string(repo.root().join("README.md")).unwrap(), "# Edited, not committed\n");
}

#[test]
fn land_merges_diverged_branches_only_when_asked() {
    let repo = after_a_run();
    std::fs::write(repo.root().join("NOTES.md"), "mine\n").unwrap();
    repo.commit_all("A commit of my own");
    let head = repo.git_out(&["rev-parse", "main"]);
    let err = repo.stderr(&["land"], 2);
    snap!(&repo, "land_diverged", err);
    assert_eq!(repo.git_out(&["rev-parse", "main"]), head);

    let out = repo.stdout(&["land", "--merge"], 0);
    assert!(out.starts_with("merged colony/p into main as "), "{out}");
    let parents = repo.git_out(&["rev-list", "--parents", "-n", "1", "main"]);
    assert_eq!(parents.split_whitespace().count(), 3, "a merge commit: {parents}");
    assert!(repo.root().join("NOTES.md").is_file() && repo.root().join("colony-fake/t00.txt").is_file());
}

#[test]
fn land_before_any_run_has_nothing_to_land() {
    let repo = TestRepo::for_runs(FAKE_CONFIG);
    let err = repo.stderr(&["land"], 2);
    assert_eq!(err, "error: the store has no plans to land; add one with `colony add PLAN`\n");
    let plan = repo.write_plan("p.yaml", &dag("p", 2));
    repo.colony(&["add", &plan]).success();
    let err = repo.stderr(&["land"], 2);
    assert!(err.contains("colony/p does not exist; `colony run` creates it"), "{err}");
    let err = repo.stderr(&["land", "--plan", "q"], 2);
    assert_eq!(err, "error: no plan `q`; the store has: p\n");
}

#[test]
fn the_demo_shows_retry_gate_fix_and_conflict_in_under_a_minute() {
    let dir = tempfile::tempdir().unwrap();
    let keep = dir.path().join("demo");
    // colony as a user starts it: the fake agent found beside it.
    let colony = |args: &[&str], cwd: &std::path::Path| {
        assert_cmd::Command::new(env!("CARGO_BIN_EXE_colony"))
            .args(args)
            .current_dir(cwd)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("HOME", dir.path())
            .env_remove("COLONY_STORE")
            .env_remove("COLONY_FAKE_AGENT")
            .output()
            .unwrap()
    };
    let started = Instant::now();
    let out = colony(&["demo", "--keep", keep.to_str().unwrap()], dir.path());
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(started.elapsed() < Duration::from_secs(60), "took {:?}", started.elapsed());

    assert!(stdout.contains("all 12 tasks done in"), "{stdout}");
    assert!(stdout.contains("feed's first attempt failed, and colony retried it"), "{stdout}");
    assert!(stdout.contains("about-page left a TODO; the gate `! grep -rn TODO site` failed"), "{stdout}");
    assert!(stdout.contains("met a conflict, and its agent resolved it"), "{stdout}");
    let keep = keep.canonicalize().unwrap();
    assert!(stdout.contains(&format!("git -C {} log --oneline --graph colony/demo", keep.display())), "{stdout}");

    let git = |args: &[&str]| {
        let out = std::process::Command::new("git").arg("-C").arg(&keep).args(args).output().unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap()
    };
    let merged = git(&["log", "--first-parent", "--format=%s", "main..colony/demo"]);
    assert_eq!(merged.lines().filter(|s| s.starts_with("Merge task ")).count(), 12, "{merged}");
    let css = git(&["show", "colony/demo:site/style.css"]);
    assert!(css.contains("font-family") && css.contains("prefers-color-scheme"), "both sides kept: {css}");
    assert!(!git(&["show", "colony/demo:site/about.html"]).contains("TODO"));
    assert_eq!(git(&["status", "--porcelain"]), "", "the demo leaves a clean checkout");

    // The demo's repository passes `colony doctor`: its default agent is
    // the built-in fake, which needs no table.
    let doctor = colony(&["doctor"], &keep);
    let report = String::from_utf8(doctor.stdout).unwrap();
    assert_eq!(doctor.status.code(), Some(0), "{report}\n{}", String::from_utf8_lossy(&doctor.stderr));
    assert!(!report.contains("problems:"), "{report}");
    let fake = report.lines().find(|l| l.trim_start().starts_with("fake ")).unwrap_or_else(|| panic!("{report}"));
    assert!(fake.contains(" ok ") && fake.ends_with("(default)"), "{report}");

    // The report the demo points to reads from anywhere.
    assert!(stdout.contains(&format!(" --repo {} report\n", keep.display())), "{stdout}");
    let report = colony(&["--repo", keep.to_str().unwrap(), "report"], dir.path());
    let text = String::from_utf8(report.stdout).unwrap();
    assert!(text.starts_with("# Run report: demo\n") && text.contains("over 13 attempts of 12 tasks"), "{text}");

    let err = assert_cmd::Command::new(env!("CARGO_BIN_EXE_colony"))
        .args(["demo", "--keep", keep.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(err.status.code(), Some(2), "a used directory is refused");
}

#[test]
fn land_only_touches_the_chosen_plan() {
    let repo = TestRepo::for_runs(FAKE_CONFIG);
    let a = repo.write_plan("a.yaml", "name: a\ntasks:\n  - id: a1\n    prompt: p\n");
    let b = repo.write_plan("b.yaml", "name: b\ntasks:\n  - id: b1\n    prompt: p\n");
    let out = repo.stdout(&["run", &a, &b, "-q"], 0);
    assert!(
        out.contains(
            "the finished work is in colony/a, colony/b; bring a plan's into your branch with `colony land --plan NAME`"
        ),
        "{out}"
    );
    let err = repo.stderr(&["land"], 2);
    assert_eq!(err, "error: the store has several plans; choose one with --plan: a, b\n");
    repo.colony(&["land", "--plan", "b"]).success();
    let landed = repo.git_out(&["log", "--format=%s", "main"]);
    assert!(landed.contains("Merge task b1") && !landed.contains("Merge task a1"), "{landed}");
    assert!(repo.root().join("colony-fake/b1.txt").is_file() && !repo.root().join("colony-fake/a1.txt").exists());
}
