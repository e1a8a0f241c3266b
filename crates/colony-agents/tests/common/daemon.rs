//! Daemons for tests: a `sleep` started two forks away in a session of its
//! own, as a daemon starts, and a look at whether it still runs. Shared by
//! the test binaries that start them.

use std::path::Path;

/// Whether process `pid` runs: it exists and is not a zombie.
pub fn running(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        let state = stat.rfind(')').and_then(|i| stat[i + 1..].split_whitespace().next());
        !matches!(state, Some("Z" | "X"))
    })
}

/// A script line that starts `sleep 1000` in a session of its own, two
/// forks away, as a daemon does, and waits until it has written its pid to
/// `pid_file`.
pub fn daemon(pid_file: &Path, prefix: &str) -> String {
    let file = pid_file.display();
    format!(
        "( setsid {prefix} sh -c 'echo $$ > \"$0.tmp\" && mv \"$0.tmp\" \"$0\" && exec sleep 1000' '{file}' & )\n\
         while [ ! -s '{file}' ]; do sleep 0.01; done\n"
    )
}

/// The pid a [`daemon`] wrote.
pub fn daemon_pid(pid_file: &Path) -> i32 {
    std::fs::read_to_string(pid_file).unwrap().trim().parse().unwrap()
}
