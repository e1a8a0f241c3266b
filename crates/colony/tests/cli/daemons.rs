//! A daemon an agent starts (`( setsid … & )`: two forks away, in a
//! session of its own, out of the agent's process group) must not outlive
//! the attempt that started it, nor stay behind as a zombie of colony,
//! which adopts it.

use std::path::Path;

use crate::repo::TestRepo;

/// The agent, a `command` agent in colony.toml. Task `start` leaves a
/// `sleep 1000` daemon behind and writes its pid to `$PID_FILE`; task
/// `check`, which runs after `start` has ended, succeeds once that pid is
/// gone from `/proc` entirely (not even a zombie), and fails if it is still
/// there after a minute. Test scaffolding: colony hands a shell nothing.
const AGENT: &str = r#"set -e
echo "$COLONY_TASK_ID" > "$COLONY_TASK_ID.txt"
case "$COLONY_TASK_ID" in
start)
    ( setsid sh -c 'echo $$ > "$0.tmp" && mv "$0.tmp" "$0" && exec sleep 1000' "$PID_FILE" & )
    while [ ! -s "$PID_FILE" ]; do sleep 0.01; done
    ;;
check)
    pid=$(cat "$PID_FILE")
    tries=0
    while [ -e "/proc/$pid" ]; do
        tries=$((tries + 1))
        if [ "$tries" -gt 3000 ]; then echo "daemon $pid is still there" >&2; exit 1; fi
        sleep 0.02
    done
    ;;
esac
"#;

const PLAN: &str = "name: d\ntasks:\n  - id: start\n    prompt: p\n  - id: check\n    prompt: q\n    deps: [start]\n";

/// Kills the daemon if a test leaves it running.
struct Daemon<'a>(&'a Path);

impl Drop for Daemon<'_> {
    fn drop(&mut self) {
        if let Some(pid) = std::fs::read_to_string(self.0).ok().and_then(|t| t.trim().parse::<i32>().ok()) {
            // SAFETY: kill(2) of the sleep this test's agent started.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
}

#[test]
fn a_daemon_an_agent_starts_is_ended_and_reaped_when_its_attempt_ends() {
    let scaffold = tempfile::tempdir().unwrap();
    let agent = scaffold.path().join("agent.sh");
    std::fs::write(&agent, AGENT).unwrap();
    let pid_file = scaffold.path().join("daemon.pid");
    let _daemon = Daemon(&pid_file);
    // The scaffold is writable in the sandbox: the pid file is written there.
    let config = format!(
        "[run]\nagent = \"daemon\"\nmax_attempts = 1\n[agents.daemon]\nkind = \"command\"\ncommand = [\"sh\", \"{}\"]\nenv = {{ PID_FILE = \"{}\" }}\n[sandbox]\nwritable = [\"{}\"]\n",
        agent.display(),
        pid_file.display(),
        scaffold.path().display()
    );
    let repo = TestRepo::for_runs(&config);
    let plan = repo.write_plan("d.yaml", PLAN);
    let out = repo.command(&["run", "-q", &plan]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let pid: i32 = std::fs::read_to_string(&pid_file).unwrap().trim().parse().unwrap();
    let check = repo.json(&["show", "check"]);
    assert_eq!(check["status"], "done", "the daemon {pid} outlived its attempt: {check}\n{stderr}");
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!Path::new(&format!("/proc/{pid}")).exists(), "the daemon {pid} is still there after the run");
}
