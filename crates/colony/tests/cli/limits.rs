//! Bounds on what input may cost: the number of workers, and the files
//! colony reads (plans, colony.toml, the dashboard's token, git's exclude
//! file), which must be regular files within a size limit. Each is bad
//! input: exit code 2, the file and the limit named, nothing written.
//!
//! Without the bounds these inputs exhaust memory or hang, so colony runs
//! here with its address space capped and a deadline: a build that lacks a
//! bound fails the test instead of taking the machine down.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::repo::TestRepo;
use crate::run::FAKE_CONFIG;

/// Address space colony may use here: far more than it needs, far less
/// than reading `/dev/zero` to the end would take.
const ADDRESS_SPACE: u64 = 4 << 30;

/// How long colony may take to refuse.
const DEADLINE: Duration = Duration::from_secs(60);

/// Runs `colony ARGS` bounded as above; its exit code and stderr. A colony
/// still running at the deadline is killed and the test fails.
fn bounded(repo: &TestRepo, args: &[&str]) -> (Option<i32>, String) {
    let mut command = repo.command(args);
    command.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::piped());
    // SAFETY: setrlimit is async-signal-safe and touches only the child.
    unsafe {
        command.pre_exec(|| {
            let limit = libc::rlimit { rlim_cur: ADDRESS_SPACE, rlim_max: ADDRESS_SPACE };
            if libc::setrlimit(libc::RLIMIT_AS, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = command.spawn().unwrap();
    let deadline = Instant::now() + DEADLINE;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("colony {args:?} did not finish within {DEADLINE:?}");
        }
        // Polls a child's exit; there is no event to wait on here.
        std::thread::sleep(Duration::from_millis(20));
    };
    let stderr = std::io::read_to_string(child.stderr.take().unwrap()).unwrap();
    (status.code(), stderr)
}

/// Makes a file at a path.
type Make = fn(&Path);

fn mkfifo(path: &Path) {
    let status = std::process::Command::new("mkfifo").arg(path).status().unwrap();
    assert!(status.success(), "mkfifo {}", path.display());
}

#[test]
fn workers_past_the_cap_of_jobs_are_refused() {
    let repo = TestRepo::for_runs(&format!("{FAKE_CONFIG}workers = 100000000000\n"));
    let plan = repo.write_plan("p.yaml", "name: p\ntasks:\n  - id: a\n    prompt: p\n");
    let expected = "error: colony.toml is refused; nothing was done\n  colony.toml:5: [run] workers: must be at most 65535, found 100000000000\n";
    for args in [&["add", &plan][..], &["run", "-q", &plan]] {
        assert_eq!(bounded(&repo, args), (Some(2), expected.to_owned()), "{args:?}");
    }
    let err = repo.stderr(&["run", "-j", "65536", &plan], 2);
    assert!(err.contains("65536 is not in 1..=65535"), "-j has the same cap: {err}");
    std::fs::write(repo.root().join("colony.toml"), FAKE_CONFIG).unwrap();
    assert_eq!(repo.stdout(&["list", "--json"], 0), "[]\n");
}

#[test]
fn plans_that_are_devices_fifos_or_too_big_are_refused_unread() {
    let repo = TestRepo::initialized();
    let dir = repo.root().join("plans");
    std::fs::create_dir_all(&dir).unwrap();
    std::os::unix::fs::symlink("/dev/zero", dir.join("zero.yaml")).unwrap();
    mkfifo(&dir.join("fifo.yaml"));
    std::fs::write(dir.join("big.yaml"), vec![b'#'; 16 * 1024 * 1024 + 1]).unwrap();
    for (file, problem) in [
        ("zero.yaml", "not a regular file but a character device"),
        ("fifo.yaml", "not a regular file but a FIFO"),
        ("big.yaml", "larger than the limit of 16 MiB"),
    ] {
        let path = format!("plans/{file}");
        let (code, err) = bounded(&repo, &["add", &path]);
        assert_eq!(code, Some(2), "{file}: {err}");
        assert_eq!(err, format!("error: the plan is refused; nothing was added\n  {path}: plan file is {problem}\n"));
    }
    assert!(repo.events().is_empty());
}

#[test]
fn a_colony_toml_that_is_a_device_a_fifo_or_too_big_is_refused_unread() {
    let repo = TestRepo::initialized();
    let plan = repo.write_plan("p.yaml", "name: p\ntasks:\n  - id: a\n    prompt: p\n");
    let config = repo.root().join("colony.toml");
    let cases: [(&str, Make); 3] = [
        ("not a regular file but a character device", |p| std::os::unix::fs::symlink("/dev/zero", p).unwrap()),
        ("not a regular file but a FIFO", mkfifo),
        ("larger than the limit of 1 MiB", |p| std::fs::write(p, "#".repeat(1024 * 1024 + 1)).unwrap()),
    ];
    for (problem, make) in cases {
        std::fs::remove_file(&config).unwrap();
        make(&config);
        let (code, err) = bounded(&repo, &["add", &plan]);
        assert_eq!(code, Some(2), "{problem}: {err}");
        assert_eq!(
            err,
            format!("error: colony.toml is refused; nothing was done\n  colony.toml: the config file is {problem}\n")
        );
    }
    std::fs::remove_file(&config).unwrap();
    assert_eq!(repo.stdout(&["list", "--json"], 0), "[]\n");
}

#[test]
fn a_token_file_that_is_a_device_is_refused_unread() {
    let repo = TestRepo::initialized();
    let token = repo.root().join(".colony/token");
    std::os::unix::fs::symlink("/dev/zero", &token).unwrap();
    let (code, err) = bounded(&repo, &["serve", "--addr", "127.0.0.1:0"]);
    assert_eq!(code, Some(2), "{err}");
    assert_eq!(
        err,
        format!(
            "error: the token file {} is not a regular file but a character device; delete it and colony makes a new one\n",
            token.display()
        )
    );
}

#[test]
fn an_exclude_file_that_is_a_device_is_refused_unread() {
    let repo = TestRepo::new();
    let exclude = repo.root().join(".git/info/exclude");
    std::fs::remove_file(&exclude).unwrap();
    std::os::unix::fs::symlink("/dev/zero", &exclude).unwrap();
    let (code, err) = bounded(&repo, &["init"]);
    assert_eq!(code, Some(2), "{err}");
    assert_eq!(err, format!("error: {} is not a regular file but a character device\n", exclude.display()));
}

/// A timer set centuries ahead overflowed the clock and panicked colony in
/// the middle of a run, its task left claimed; a year is the longest
/// duration taken, in colony.toml and in plans alike.
#[test]
fn durations_past_a_year_are_refused() {
    let repo = TestRepo::for_runs(&format!("{FAKE_CONFIG}timeout = 9223372036854775807\n"));
    let plan = repo.write_plan("p.yaml", "name: p\ntasks:\n  - id: a\n    prompt: p\n");
    let expected = "error: colony.toml is refused; nothing was done\n  colony.toml:5: [run] timeout: 9223372036854775807 seconds is longer than a year, the longest colony takes\n";
    assert_eq!(bounded(&repo, &["run", "-q", &plan]), (Some(2), expected.to_owned()));
    std::fs::write(repo.root().join("colony.toml"), FAKE_CONFIG).unwrap();
    let plan = repo.write_plan("p.yaml", "name: p\ntasks:\n  - id: a\n    prompt: p\n    timeout: 400d\n");
    let expected = "error: the plan is refused; nothing was added\n  plans/p.yaml:3: task `a`: bad `timeout`: duration `400d` is longer than a year, the longest colony takes\n";
    assert_eq!(bounded(&repo, &["run", "-q", &plan]), (Some(2), expected.to_owned()));
    assert!(repo.events().is_empty());
}
