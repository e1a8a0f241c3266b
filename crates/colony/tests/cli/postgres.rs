//! The same commands against a real PostgreSQL store, chosen with `--store`
//! or `COLONY_STORE`.

use colony_testkit::PgServer;

use crate::repo::{TestRepo, example};

/// init, add, list and status with the store chosen by `choose`.
fn round(repo: &TestRepo, choose: impl Fn(&mut std::process::Command)) {
    let run = |args: &[&str]| {
        let mut cmd = repo.command(args);
        choose(&mut cmd);
        let out = cmd.output().unwrap();
        let stdout = String::from_utf8(out.stdout).unwrap();
        assert!(out.status.success(), "colony {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        stdout
    };
    let init = run(&["init"]);
    assert!(init.contains("the store postgres://postgres@127.0.0.1:"), "{init}");
    let plan = repo.write_plan("auth.yaml", &std::fs::read_to_string(example("auth.yaml")).unwrap());
    assert_eq!(run(&["add", &plan]).lines().next(), Some("plan auth: 6 added"));
    let list = run(&["list"]);
    assert!(list.contains("login-page") && list.contains("ready"), "{list}");
    let status = run(&["status"]);
    assert!(status.contains("progress:  0/6 done"), "{status}");
    // Nothing went to a SQLite file.
    assert!(!repo.db().exists());
}

#[test]
fn store_flag_selects_postgres() {
    let url = PgServer::shared().fresh_db();
    round(&TestRepo::new(), |cmd| {
        cmd.args(["--store", &url]);
    });
}

#[test]
fn colony_store_env_selects_postgres() {
    let url = PgServer::shared().fresh_db();
    round(&TestRepo::new(), |cmd| {
        cmd.env("COLONY_STORE", &url);
    });
}
