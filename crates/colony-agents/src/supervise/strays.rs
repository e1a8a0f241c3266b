//! What to end and what to reap, decided from one look at the process
//! table: a pure function, so the rules are tested without a process.
//!
//! A child that leaves its process group (`setsid`, a double fork) escapes
//! the group kill. It keeps its environment, though, so every child colony
//! starts carries [`TAG_VAR`], unique to that child, and so do its
//! descendants unless they clear their environment. When the child ends,
//! whatever still carries its tag is a stray and is killed. The tag names
//! the colony process that gave it (`<pid>-<nonce>-<n>`), so a colony
//! started after a crash can end the strays of a dead one too.
//!
//! Where colony is the subreaper of its descendants, an orphan among them
//! is reparented to colony rather than to init, and its exit leaves a
//! zombie until colony reaps it. colony may reap only what is no one
//! else's to wait for: a zombie child outside colony's own process group
//! (git and every other helper colony runs stay in it) that is not the
//! leader of a supervised child (tokio waits for those). Reaping is by pid,
//! one process at a time; never `waitpid(-1)`.

/// The environment variable that tags a supervised child and its
/// descendants.
pub const TAG_VAR: &str = "COLONY_PROCESS_TAG";

/// A tag: the colony process's pid, a number random to that process, and
/// a count of the children it started.
pub(crate) fn tag(colony_pid: u32, nonce: u64, n: u64) -> String {
    format!("{colony_pid}-{nonce:016x}-{n}")
}

/// The pid of the colony process that gave `tag`.
pub(crate) fn tag_owner(tag: &str) -> Option<u32> {
    tag.split_once('-')?.0.parse().ok()
}

/// The tag in a process's environment, as `/proc/PID/environ` holds it:
/// `NAME=value` entries, each ended by a NUL.
pub(crate) fn tag_in(environ: &[u8]) -> Option<String> {
    let prefix = format!("{TAG_VAR}=");
    environ
        .split(|&b| b == 0)
        .find_map(|entry| entry.strip_prefix(prefix.as_bytes()))
        .map(|value| String::from_utf8_lossy(value).into_owned())
}

/// One process as the table showed it. With its pid, `start` (clock ticks
/// from boot to its creation) names one process even if the pid is reused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Seen {
    pub pid: i32,
    pub ppid: i32,
    pub pgid: i32,
    pub start: u64,
    /// Dead, waiting for its parent to reap it.
    pub zombie: bool,
    /// Its [`TAG_VAR`]; `None` when it has none or its environment could
    /// not be read (a zombie's, another user's).
    pub tag: Option<String>,
}

/// colony's own process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Me {
    pub pid: i32,
    pub pgid: i32,
}

/// Whose processes to end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target<'a> {
    /// Those carrying this tag: what one supervised child left running.
    Tag(&'a str),
    /// Those carrying a tag the colony process with this pid gave: what a
    /// colony that died left running.
    TagsOf(u32),
    /// colony's adopted children: its children outside its own group that
    /// lead no supervised child. Used at the end of a run, for orphans that
    /// cleared their environment and so could not be told apart earlier.
    Adopted,
}

/// What one look at the table calls for.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Sweep {
    /// Live processes to send SIGKILL.
    pub kill: Vec<Seen>,
    /// colony's zombie children to reap.
    pub reap: Vec<Seen>,
}

/// Decides, from `table`, which processes of `target` to kill and, when
/// colony `adopts` orphans, which zombies to reap. `leaders` are the
/// (pid, start) of the supervised children tokio still waits for.
pub(crate) fn sweep(table: &[Seen], me: Me, leaders: &[(i32, u64)], target: Target, adopts: bool) -> Sweep {
    let leads = |s: &Seen| leaders.contains(&(s.pid, s.start));
    let adopted = |s: &Seen| s.ppid == me.pid && s.pgid != me.pgid && !leads(s);
    let targeted = |s: &Seen| match target {
        Target::Tag(tag) => s.tag.as_deref() == Some(tag),
        Target::TagsOf(owner) => s.tag.as_deref().and_then(tag_owner) == Some(owner),
        Target::Adopted => adopted(s),
    };
    let kill = table.iter().filter(|s| !s.zombie && s.pid != me.pid && targeted(s)).cloned().collect();
    let reap = table.iter().filter(|s| adopts && s.zombie && adopted(s)).cloned().collect();
    Sweep { kill, reap }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ME: Me = Me { pid: 100, pgid: 90 };

    fn seen(pid: i32, ppid: i32, pgid: i32, zombie: bool, tag: Option<&str>) -> Seen {
        Seen { pid, ppid, pgid, start: pid as u64 * 10, zombie, tag: tag.map(str::to_owned) }
    }

    fn pids(list: &[Seen]) -> Vec<i32> {
        list.iter().map(|s| s.pid).collect()
    }

    #[test]
    fn tags_name_their_colony_and_are_found_in_an_environment() {
        let t = tag(4242, 0xabc, 7);
        assert_eq!(t, "4242-0000000000000abc-7");
        assert_eq!(tag_owner(&t), Some(4242));
        assert_eq!(tag_owner("junk"), None);
        let environ = format!("PATH=/bin\0{TAG_VAR}={t}\0HOME=/root\0");
        assert_eq!(tag_in(environ.as_bytes()), Some(t));
        assert_eq!(tag_in(b"PATH=/bin\0X_COLONY_PROCESS_TAG=1\0"), None);
        assert_eq!(tag_in(b""), None);
    }

    #[test]
    fn what_carries_the_tag_is_killed_wherever_it_went() {
        let table = [
            seen(200, 100, 200, false, Some("t1")), // still in the group
            seen(300, 100, 300, false, Some("t1")), // setsid, adopted by colony
            seen(400, 1, 400, false, Some("t1")),   // setsid, adopted by init
            seen(500, 100, 500, false, Some("t2")), // another child's
            seen(600, 100, 90, false, None),        // git, in colony's group
        ];
        let s = sweep(&table, ME, &[], Target::Tag("t1"), true);
        assert_eq!(pids(&s.kill), [200, 300, 400]);
        assert!(s.reap.is_empty());
    }

    #[test]
    fn zombies_are_reaped_only_when_adopted_and_no_one_elses() {
        let table = [
            seen(300, 100, 300, true, None),  // an adopted orphan that died
            seen(310, 100, 90, true, None),   // git that exited: std waits for it
            seen(320, 100, 320, true, None),  // a supervised leader: tokio waits for it
            seen(330, 7, 330, true, None),    // some other process's child
            seen(340, 100, 340, false, None), // alive
        ];
        let leaders = [(320, 3200)];
        let s = sweep(&table, ME, &leaders, Target::Tag("t"), true);
        assert_eq!(pids(&s.reap), [300]);
        assert!(s.kill.is_empty());
        let not_adopting = sweep(&table, ME, &leaders, Target::Tag("t"), false);
        assert!(not_adopting.reap.is_empty(), "without the subreaper nothing is ours to reap");
    }

    #[test]
    fn a_reused_pid_is_not_a_leader() {
        let table = [seen(320, 100, 320, true, None)];
        let s = sweep(&table, ME, &[(320, 1)], Target::Tag("t"), true);
        assert_eq!(pids(&s.reap), [320], "the leader registered as 320 started at another time");
    }

    #[test]
    fn a_dead_colonys_strays_are_found_by_its_pid() {
        let table = [
            seen(200, 1, 200, false, Some(&tag(55, 1, 3))),
            seen(210, 1, 210, false, Some(&tag(555, 1, 3))),
            seen(220, 1, 220, false, Some("55")),
        ];
        assert_eq!(pids(&sweep(&table, ME, &[], Target::TagsOf(55), false).kill), [200]);
    }

    #[test]
    fn adopted_children_exclude_colonys_own_group_and_its_leaders() {
        let table = [
            seen(300, 100, 300, false, None),      // a daemon that cleared its environment
            seen(310, 100, 90, false, None),       // git
            seen(320, 100, 320, false, Some("t")), // a supervised leader at work
            seen(330, 300, 300, false, None),      // the daemon's child: next round
        ];
        let s = sweep(&table, ME, &[(320, 3200)], Target::Adopted, true);
        assert_eq!(pids(&s.kill), [300]);
    }

    #[test]
    fn colony_never_kills_itself() {
        // A colony started by an agent of another colony carries its tag.
        let table = [seen(100, 50, 90, false, Some("t")), seen(101, 50, 90, false, Some("t"))];
        assert_eq!(pids(&sweep(&table, ME, &[], Target::Tag("t"), false).kill), [101]);
    }
}
