//! The file work of a fake run, shared by the fake `command` agent and the
//! fake CLIs: change files as the `fake:` block says, and commit them.
//! Each step writes a note to `notes` (stdout for the `command` agent,
//! stderr for a fake CLI, whose stdout is its transcript).

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use crate::script::{Files, Script};

/// Changes files under the cwd: `fix_on_feedback` when there is feedback,
/// else `write` then `append`, else nothing with `no_changes`, else writes
/// `colony-fake/<task-id>.txt` holding the prompt; then appends the prompt
/// to `prompts_to`. Returns the paths changed, in order.
pub(crate) fn change_files(
    script: &Script,
    task_id: &str,
    prompt: &str,
    feedback: bool,
    notes: &mut dyn Write,
) -> Result<Vec<String>, String> {
    let mut changed = files_of(script, task_id, prompt, feedback, notes)?;
    if let Some(path) = &script.prompts_to {
        changed.extend(write_files(&Files::from([(path.clone(), format!("{prompt}\n"))]), true, notes)?);
    }
    Ok(changed)
}

fn files_of(
    script: &Script,
    task_id: &str,
    prompt: &str,
    feedback: bool,
    notes: &mut dyn Write,
) -> Result<Vec<String>, String> {
    if let Some(fixes) = script.fix_on_feedback.as_ref().filter(|_| feedback) {
        note(notes, "fake: fixing after feedback");
        return write_files(fixes, false, notes);
    }
    if script.no_changes {
        note(notes, "fake: changing nothing");
        return Ok(Vec::new());
    }
    if script.write.is_empty() && script.append.is_empty() {
        let default = Files::from([(format!("colony-fake/{task_id}.txt"), prompt.to_owned())]);
        return write_files(&default, false, notes);
    }
    let mut changed = write_files(&script.write, false, notes)?;
    changed.extend(write_files(&script.append, true, notes)?);
    Ok(changed)
}

fn note(notes: &mut dyn Write, text: &str) {
    // A note that cannot be written (a closed pipe) must not stop the work.
    let _ = writeln!(notes, "{text}");
}

/// Writes (or appends) each file under the cwd, making its directory.
fn write_files(files: &Files, append: bool, notes: &mut dyn Write) -> Result<Vec<String>, String> {
    for (path, text) in files {
        let fail = |e: io::Error| format!("writing {path}: {e}");
        if let Some(dir) = Path::new(path).parent() {
            fs::create_dir_all(dir).map_err(fail)?;
        }
        if append {
            let mut file = OpenOptions::new().create(true).append(true).open(path).map_err(fail)?;
            file.write_all(text.as_bytes()).map_err(fail)?;
            note(notes, &format!("fake: appended to {path}"));
        } else {
            fs::write(path, text).map_err(fail)?;
            note(notes, &format!("fake: wrote {path}"));
        }
    }
    Ok(files.keys().cloned().collect())
}

/// Commits everything changed in the worktree, if anything is. The
/// identity is fixed so the fake's commits are the same on every machine;
/// `GIT_AUTHOR_*` in the environment still wins, as git has it.
pub(crate) fn commit(message: &str, notes: &mut dyn Write) -> Result<(), String> {
    git(&["add", "--all"])?;
    if git(&["diff", "--cached", "--quiet"]).is_ok() {
        note(notes, "fake: nothing to commit");
        return Ok(());
    }
    let identity = ["-c", "user.name=colony fake agent", "-c", "user.email=fake-agent@colony.invalid"];
    git(&[&identity[..], &["commit", "--quiet", "--message", message]].concat())?;
    note(notes, "fake: committed");
    Ok(())
}

/// Runs git in the cwd; its stdout on success.
pub(crate) fn git(args: &[&str]) -> Result<String, String> {
    let out = Command::new("git").args(args).stdin(Stdio::null()).output().map_err(|e| format!("running git: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        let stderr = String::from_utf8_lossy(&out.stderr);
        Err(format!("git {} failed: {}", args.join(" "), stderr.trim()))
    }
}
