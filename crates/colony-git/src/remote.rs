//! A shared remote, for runs across several machines: fetching the
//! integration branch, pushing task branches, and moving the remote's
//! integration branch with a lease-checked push.
//!
//! The remote's integration branch is what `update-ref` compare-and-swap is
//! on one machine: `git push --force-with-lease=<ref>:<expected>` moves it
//! only if it is still at `expected`, so two hosts that merged from the
//! same tip cannot both win. The local branch of the same name is kept a
//! copy of the remote's (fetched with `+`), so `colony land` and the task
//! worktrees on every host start from what the remote holds.

use crate::error::Result;
use crate::repo::{Oid, Repo, branch_ref};
use crate::run::{argv, failure, run_git, run_git_unchecked, unexpected};

/// How a lease-checked push ended. A failure of the remote or the network
/// is an error instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushOutcome {
    /// The remote branch now points at the pushed commit.
    Pushed,
    /// The remote branch was no longer at the expected commit (another
    /// host pushed first); nothing changed. `actual` is where it is now.
    Stale { actual: Option<Oid> },
}

/// One ref's line of `git push --porcelain`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushedRef {
    /// ` ` fast-forward, `+` forced, `-` deleted, `*` new, `=` up to date,
    /// `!` rejected.
    pub flag: char,
    /// The remote ref.
    pub to: String,
    /// git's summary (`[rejected]`, `[new branch]`, old..new), with the
    /// reason in parentheses when there is one.
    pub summary: String,
}

impl PushedRef {
    pub fn rejected(&self) -> bool {
        self.flag == '!'
    }
}

/// The ref lines of `git push --porcelain` output: `<flag>\t<from>:<to>\t<summary>`.
/// The `To <url>` and `Done` lines carry no ref.
pub fn parse_push_porcelain(output: &str) -> Vec<PushedRef> {
    output
        .lines()
        .filter_map(|line| {
            let mut fields = line.splitn(3, '\t');
            let flag = fields.next()?;
            let refs = fields.next()?;
            let summary = fields.next().unwrap_or("");
            let mut chars = flag.chars();
            let (Some(flag), None) = (chars.next(), chars.next()) else {
                return None;
            };
            let (_, to) = refs.split_once(':')?;
            Some(PushedRef { flag, to: to.to_owned(), summary: summary.to_owned() })
        })
        .collect()
}

impl Repo {
    /// Whether a remote of this name is configured.
    pub fn has_remote(&self, name: &str) -> Result<bool> {
        let output = run_git(self.top_level(), &argv!["remote"])?;
        Ok(String::from_utf8_lossy(&output.stdout).lines().any(|l| l == name))
    }

    /// The URL `remote` is configured with, as written (before any
    /// `insteadOf`); `None` when there is no such remote.
    pub fn remote_url(&self, remote: &str) -> Result<Option<String>> {
        let key = format!("remote.{remote}.url");
        let output = run_git_unchecked(self.top_level(), &argv!["config", "--get", key], &[])?;
        match output.status.code() {
            Some(0) => Ok(Some(String::from_utf8_lossy(&output.stdout).trim().to_owned())),
            // `config --get`: the key is not set.
            Some(1) => Ok(None),
            _ => Err(failure(self.top_level(), &argv!["config", "--get", key], &output)),
        }
    }

    /// The commit `branch` points at on `remote`, `None` if it has no such
    /// branch.
    pub fn remote_branch(&self, remote: &str, branch: &str) -> Result<Option<Oid>> {
        let refname = branch_ref(branch);
        let args = argv!["ls-remote", "--exit-code", remote, refname];
        let output = run_git_unchecked(self.top_level(), &args, &[])?;
        match output.status.code() {
            Some(0) => {
                let text = String::from_utf8_lossy(&output.stdout);
                let oid = text
                    .lines()
                    .find_map(|l| l.split_once('\t').filter(|(_, r)| *r == refname))
                    .and_then(|(oid, _)| Oid::parse(oid));
                oid.map(Some).ok_or_else(|| unexpected(&args, &output.stdout))
            }
            // `--exit-code`: no matching ref.
            Some(2) => Ok(None),
            _ => Err(failure(self.top_level(), &args, &output)),
        }
    }

    /// Makes the local `branch` a copy of `remote`'s, whatever it held, and
    /// returns its commit; `None` (and the local branch left alone) when
    /// the remote has no such branch.
    ///
    /// The remote-tracking ref (`refs/remotes/<remote>/<branch>`) is left
    /// alone (`--refmap=`): a push of the branch updates that ref too, and
    /// a fetch that also wrote it failed whenever a push from another
    /// worker of this host moved it in between ("cannot lock ref … is at
    /// X but expected Y").
    pub fn fetch_branch(&self, remote: &str, branch: &str) -> Result<Option<Oid>> {
        let refname = branch_ref(branch);
        let refspec = format!("+{refname}:{refname}");
        let args = argv!["fetch", "--quiet", "--no-tags", "--no-write-fetch-head", "--refmap=", remote, refspec];
        let output = run_git_unchecked(self.top_level(), &args, &[])?;
        if output.status.success() {
            return Ok(Some(self.resolve(&refname)?));
        }
        // git says "couldn't find remote ref" only in prose; ask plainly.
        match self.remote_branch(remote, branch)? {
            None => Ok(None),
            Some(_) => Err(failure(self.top_level(), &args, &output)),
        }
    }

    /// Moves `remote`'s `branch` to `new` if it is still at `expected`
    /// (`None`: if it does not exist yet), sending the commits it needs.
    pub fn push_lease(&self, remote: &str, branch: &str, new: &Oid, expected: Option<&Oid>) -> Result<PushOutcome> {
        let refname = branch_ref(branch);
        let expected_text = expected.map(Oid::as_str).unwrap_or("");
        let lease = format!("--force-with-lease={refname}:{expected_text}");
        let refspec = format!("{new}:{refname}");
        let args = argv!["push", "--porcelain", lease, remote, refspec];
        let output = run_git_unchecked(self.top_level(), &args, &[])?;
        if output.status.success() {
            return Ok(PushOutcome::Pushed);
        }
        let lines = parse_push_porcelain(&String::from_utf8_lossy(&output.stdout));
        if lines.iter().any(|l| l.to == refname && l.rejected()) {
            // Rejected for a moved ref, or by a hook, or a lock on the
            // remote: where the branch is now tells them apart.
            let actual = self.remote_branch(remote, branch)?;
            if actual.as_ref() != expected {
                return Ok(PushOutcome::Stale { actual });
            }
        }
        Err(failure(self.top_level(), &args, &output))
    }

    /// Pushes the local `branch` to the same name on `remote`, replacing
    /// whatever it held there.
    pub fn push_branch(&self, remote: &str, branch: &str) -> Result<()> {
        let refname = branch_ref(branch);
        let refspec = format!("+{refname}:{refname}");
        run_git(self.top_level(), &argv!["push", "--quiet", "--porcelain", remote, refspec])?;
        Ok(())
    }

    /// Deletes `branch` on `remote`; one already gone is no error.
    pub fn delete_remote_branch(&self, remote: &str, branch: &str) -> Result<()> {
        if self.remote_branch(remote, branch)?.is_none() {
            return Ok(());
        }
        let refspec = format!(":{}", branch_ref(branch));
        run_git(self.top_level(), &argv!["push", "--quiet", "--porcelain", remote, refspec])?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_porcelain_lines_are_parsed() {
        let out = "To /tmp/remote.git\n\
                   !\t1f3c1b2e:refs/heads/colony/p\t[rejected] (stale info)\n\
                   *\trefs/heads/t:refs/heads/t\t[new branch]\n\
                   +\tabc:refs/heads/x\t1111111...2222222 (forced update)\n\
                   Done\n";
        let lines = parse_push_porcelain(out);
        assert_eq!(lines.len(), 3);
        assert_eq!(
            lines[0],
            PushedRef { flag: '!', to: "refs/heads/colony/p".into(), summary: "[rejected] (stale info)".into() }
        );
        assert!(lines[0].rejected() && !lines[1].rejected());
        assert_eq!((lines[1].flag, lines[1].to.as_str()), ('*', "refs/heads/t"));
        assert_eq!(lines[2].summary, "1111111...2222222 (forced update)");
        assert!(parse_push_porcelain("To x\nDone\n").is_empty());
    }
}
