//! Confining a child to its worktree with Landlock (Linux): what it may
//! write, worked out as plain data here, and the ruleset the child takes
//! on between fork and exec ([`run`](crate::run) applies it).
//!
//! Only writing is confined: the child reads everything it could before.
//! A [`Sandbox`] is decided once a run (the user's temp dir, caches and
//! `[sandbox] writable`); [`Sandbox::confine`] adds one child's tree, what
//! git needs to commit in it, and its agent CLI's own state.

use std::path::{Component, Path, PathBuf};

/// Test hook: the Landlock ABI [`probe`] reports instead of the kernel's
/// (`0`: no Landlock), so that a kernel without it can be played.
pub const ABI_VAR: &str = "COLONY_LANDLOCK_ABI";

/// The oldest ABI colony confines with: under ABI 1 the kernel refuses
/// every rename or link across directories, which breaks git and package
/// managers; ABI 2 (Linux 5.19) lets colony allow them.
pub const MIN_ABI: u8 = 2;

/// The oldest ABI that filters TCP (Linux 6.7).
pub const NET_ABI: u8 = 4;

/// Devices any program writes to, wherever it runs.
const DEVICES: &[&str] = &["/dev/null", "/dev/zero", "/dev/full", "/dev/tty", "/dev/ptmx", "/dev/pts", "/dev/shm"];

/// The user's package and build caches, under the home directory.
const CACHES: &[&str] = &[".cache", ".npm", ".cargo"];

/// The Landlock ABI of the running kernel, `0` where there is none (or not
/// Linux); [`ABI_VAR`], when set to a number, instead.
pub fn probe() -> u8 {
    if let Some(forced) = std::env::var(ABI_VAR).ok().and_then(|v| v.trim().parse().ok()) {
        return forced;
    }
    kernel_abi()
}

#[cfg(target_os = "linux")]
fn kernel_abi() -> u8 {
    const LANDLOCK_CREATE_RULESET_VERSION: libc::c_uint = 1;
    // SAFETY: with this flag and no attributes the call only returns the
    // ABI version (or -1); it reads and writes no memory.
    let abi = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<libc::c_void>(),
            0usize,
            LANDLOCK_CREATE_RULESET_VERSION,
        )
    };
    u8::try_from(abi).unwrap_or(0)
}

#[cfg(not(target_os = "linux"))]
fn kernel_abi() -> u8 {
    0
}

/// What every confined child of a run may write besides its own tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sandbox {
    /// The temp dir, the caches, the devices and `[sandbox] writable`.
    pub writable: Vec<PathBuf>,
    /// The user's home, under which agent CLIs keep their state.
    pub home: Option<PathBuf>,
    /// TCP is refused to children that do not need their model's API.
    pub deny_tcp: bool,
}

/// This process's environment as the sandbox needs it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Places {
    pub home: Option<PathBuf>,
    pub temp: PathBuf,
    pub xdg_cache: Option<PathBuf>,
    pub xdg_state: Option<PathBuf>,
}

impl Places {
    /// `HOME`, the temp dir (`TMPDIR`, else `/tmp`), `XDG_CACHE_HOME` and
    /// `XDG_STATE_HOME`; empty or relative values count as unset.
    pub fn from_env() -> Self {
        let var = |name: &str| std::env::var_os(name).map(PathBuf::from).filter(|p| p.is_absolute());
        Places {
            home: var("HOME"),
            temp: std::env::temp_dir(),
            xdg_cache: var("XDG_CACHE_HOME"),
            xdg_state: var("XDG_STATE_HOME"),
        }
    }
}

impl Sandbox {
    /// The sandbox of a run in `places`; `extra` is `[sandbox] writable`
    /// as written (absolute, or `~/…`).
    pub fn new(places: &Places, extra: &[String], deny_tcp: bool) -> Self {
        let home = places.home.clone();
        let under_home = |rel: &str| home.as_ref().map(|h| h.join(rel));
        let mut writable = vec![places.temp.clone()];
        writable.extend(DEVICES.iter().map(PathBuf::from));
        writable.extend(CACHES.iter().filter_map(|c| under_home(c)));
        writable.extend(places.xdg_cache.clone().or_else(|| under_home(".cache")));
        writable.extend(places.xdg_state.clone().or_else(|| under_home(".local/state")));
        writable.extend(extra.iter().filter_map(|p| match p.strip_prefix("~/") {
            Some(rel) => under_home(rel),
            None => Some(PathBuf::from(p)),
        }));
        // `~/.cache` is both a cache and, by default, XDG's.
        let mut seen = std::collections::HashSet::new();
        writable.retain(|p| seen.insert(p.clone()));
        Sandbox { writable, home, deny_tcp }
    }

    /// What a child working in `tree` may write: `tree`, what git needs to
    /// commit there, `state` (paths under the home an agent CLI keeps its
    /// own state in) and the run's places. `needs_network`: an agent CLI,
    /// which keeps TCP whatever `deny_tcp` says.
    pub fn confine(&self, tree: &Path, state: &[&str], needs_network: bool) -> Confinement {
        let mut writable = vec![tree.to_owned()];
        writable.extend(git_paths(tree));
        writable.extend(state.iter().filter_map(|rel| self.home.as_ref().map(|h| h.join(rel))));
        writable.extend(self.writable.iter().cloned());
        Confinement { writable, deny_tcp: self.deny_tcp && !needs_network }
    }
}

/// One child's confinement: every place it may write, and whether TCP is
/// refused. Paths that do not exist when it starts are left out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confinement {
    pub writable: Vec<PathBuf>,
    pub deny_tcp: bool,
}

/// What git writes outside a linked worktree when the agent commits in
/// it: the worktree's own git dir (`.git/worktrees/<name>`: HEAD, index,
/// its reflog), the shared object store, and the directory of the
/// branch it has checked out, with that branch's reflog directory (a ref
/// is written as `<ref>.lock` beside it, then renamed). Other refs, the
/// config and the hooks stay read-only, so an agent can neither move
/// another branch outside its own directory nor change how git runs.
/// Nothing for a tree that is not a linked worktree.
fn git_paths(tree: &Path) -> Vec<PathBuf> {
    let Some(git_dir) = linked_git_dir(tree) else {
        return Vec::new();
    };
    let Some(common) = read_trimmed(&git_dir.join("commondir")).map(|c| normal(&git_dir.join(c))) else {
        return vec![git_dir];
    };
    let mut paths = vec![git_dir.clone(), common.join("objects")];
    if let Some(branch) = read_trimmed(&git_dir.join("HEAD")).and_then(|h| h.strip_prefix("ref: ").map(str::to_owned)) {
        let branch = Path::new(&branch);
        if let Some(dir) = branch.parent().filter(|d| d.starts_with("refs/heads")) {
            paths.push(common.join(dir));
            paths.push(common.join("logs").join(dir));
        }
    }
    paths
}

/// The git dir a linked worktree's `.git` file points to.
fn linked_git_dir(tree: &Path) -> Option<PathBuf> {
    let text = read_trimmed(&tree.join(".git"))?;
    let dir = Path::new(text.strip_prefix("gitdir: ")?);
    Some(normal(&tree.join(dir)))
}

fn read_trimmed(path: &Path) -> Option<String> {
    std::fs::read_to_string(path).ok().map(|s| s.trim().to_owned())
}

/// `path` without `.` and `..` parts, as the kernel would resolve them
/// where no symlink is in between.
fn normal(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// The words in an output line that tell of a refused write.
const REFUSALS: &[&str] = &["Permission denied", "permission denied", "EACCES", "Read-only file system", "EROFS"];

/// The path outside `tree` that `line` says a write to was refused, if it
/// says so: a refusal's words and, as its last path (absolute, `~/…` or
/// `../…`: tools name the file last, after the program's own name), one
/// that lies outside the tree. A guess from words: a tool that prints
/// neither is not caught.
pub fn refused_write(line: &str, tree: &Path, home: Option<&Path>) -> Option<PathBuf> {
    if !REFUSALS.iter().any(|w| line.contains(w)) {
        return None;
    }
    let token = |t: &str| t.trim_matches(|c: char| "'\"`,:;()[]{}<>".contains(c)).to_owned();
    let mut paths = line.split_whitespace().rev().map(token).filter_map(|word| {
        if let Some(rel) = word.strip_prefix("~/") {
            home.map(|h| h.join(rel))
        } else if word.starts_with('/') {
            Some(PathBuf::from(&word))
        } else if word.starts_with("../") {
            Some(normal(&tree.join(&word)))
        } else {
            None
        }
    });
    paths.next().filter(|p| !normal(p).starts_with(tree))
}

/// Builds the ruleset of `confinement`, for the child to take on: write
/// access handled everywhere and granted beneath its paths, and TCP
/// handled (so refused) when it is denied. Built in the parent, where it
/// may allocate; the child only restricts itself.
#[cfg(target_os = "linux")]
pub(crate) fn ruleset(confinement: &Confinement) -> Result<landlock::RulesetCreated, landlock::RulesetError> {
    use landlock::{ABI, Access, AccessFs, AccessNet, Ruleset, RulesetAttr, RulesetCreatedAttr, path_beneath_rules};
    // Writes, truncation and cross-directory renames; not device ioctls,
    // which confine nothing worth the surprise.
    let write = AccessFs::from_write(ABI::V3);
    let mut ruleset = Ruleset::default().handle_access(write)?;
    if confinement.deny_tcp {
        ruleset = ruleset.handle_access(AccessNet::from_all(ABI::V4))?;
    }
    ruleset.create()?.add_rules(path_beneath_rules(&confinement.writable, write))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn places() -> Places {
        Places { home: Some("/home/u".into()), temp: "/tmp".into(), xdg_cache: None, xdg_state: None }
    }

    #[test]
    fn a_run_writes_to_temp_caches_devices_and_what_it_lists() {
        let extra = ["/srv/shared".to_owned(), "~/.m2".to_owned()];
        let sandbox = Sandbox::new(&places(), &extra, false);
        let has = |p: &str| sandbox.writable.contains(&PathBuf::from(p));
        for p in ["/tmp", "/dev/null", "/home/u/.cache", "/home/u/.npm", "/home/u/.cargo", "/home/u/.local/state"] {
            assert!(has(p), "{p} in {:?}", sandbox.writable);
        }
        assert!(has("/srv/shared") && has("/home/u/.m2"));
        assert!(!has("/home/u"), "the home itself stays read-only");
        let caches = sandbox.writable.iter().filter(|p| p.ends_with(".cache")).count();
        assert_eq!(caches, 1, "each place once: {:?}", sandbox.writable);

        let xdg = Places { xdg_cache: Some("/c".into()), xdg_state: Some("/s".into()), ..places() };
        let sandbox = Sandbox::new(&xdg, &[], false);
        assert!(sandbox.writable.contains(&"/c".into()) && sandbox.writable.contains(&"/s".into()));
    }

    #[test]
    fn a_child_adds_its_tree_and_its_state_and_keeps_tcp_if_it_needs_its_api() {
        let sandbox = Sandbox::new(&places(), &[], true);
        let cli = sandbox.confine(Path::new("/r/.colony/worktrees/t-a1"), &[".claude", ".claude.json"], true);
        assert_eq!(cli.writable[0], Path::new("/r/.colony/worktrees/t-a1"));
        assert!(cli.writable.contains(&"/home/u/.claude.json".into()));
        assert!(!cli.deny_tcp);
        assert!(sandbox.confine(Path::new("/w"), &[], false).deny_tcp);
    }

    #[test]
    fn git_may_write_the_worktrees_git_dir_objects_and_its_branchs_directory() {
        let dir = tempfile::tempdir().unwrap();
        let (tree, git) = (dir.path().join("tree"), dir.path().join("repo/.git"));
        let own = git.join("worktrees/t-a1");
        std::fs::create_dir_all(&tree).unwrap();
        std::fs::create_dir_all(&own).unwrap();
        std::fs::write(tree.join(".git"), format!("gitdir: {}\n", own.display())).unwrap();
        std::fs::write(own.join("commondir"), "../..\n").unwrap();
        std::fs::write(own.join("HEAD"), "ref: refs/heads/colony-task/p/t-a1\n").unwrap();
        let paths = git_paths(&tree);
        let want = [
            own.clone(),
            git.join("objects"),
            git.join("refs/heads/colony-task/p"),
            git.join("logs/refs/heads/colony-task/p"),
        ];
        assert_eq!(paths, want);

        std::fs::write(own.join("HEAD"), "0123abcd\n").unwrap();
        assert_eq!(git_paths(&tree), want[..2], "a detached HEAD writes no ref");
        assert_eq!(git_paths(dir.path()), Vec::<PathBuf>::new(), "no linked worktree");
    }

    #[test]
    fn refused_writes_are_read_from_the_words_tools_print() {
        let tree = Path::new("/r/.colony/worktrees/t-a1");
        let home = Some(Path::new("/home/u"));
        let seen = |line: &str| refused_write(line, tree, home);
        let sh = "/r/.colony/agent.sh: 1: cannot create ../../outside: Permission denied";
        assert_eq!(seen(sh), Some("/r/.colony/outside".into()), "the file, not the script");
        assert_eq!(seen("touch: cannot touch '/home/u/x': Permission denied"), Some("/home/u/x".into()));
        assert_eq!(seen("EACCES: permission denied, open '~/.config/x.json'"), Some("/home/u/.config/x.json".into()));
        assert_eq!(seen("cp: cannot create regular file '/r/a.txt': Read-only file system"), Some("/r/a.txt".into()));
        assert_eq!(seen("touch: cannot touch '/r/.colony/worktrees/t-a1/x': Permission denied"), None, "its own tree");
        assert_eq!(seen("wrote /r/a.txt"), None, "no refusal");
        assert_eq!(seen("Permission denied (publickey)."), None, "no path");
    }
}
