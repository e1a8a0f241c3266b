//! What a planner is told of the repository: its files, languages, README
//! and recent history, as of the commit it plans from, bounded in size
//! whatever the repository's.

use std::collections::BTreeMap;
use std::path::Path;

use colony_agents::cut::cut_middle;
use colony_git::{Oid, Repo};

use crate::error::EngineError;

/// Up to this many files are listed one by one; a bigger repository is
/// shown as its directories.
const MAX_LISTED: usize = 150;
/// Directories listed, for a repository with more files than that.
const MAX_DIRS: usize = 80;
/// Bytes of the README kept.
const MAX_README: usize = 3000;
/// Commits of recent history.
const RECENT: usize = 15;
/// Languages named.
const MAX_LANGUAGES: usize = 8;

/// The repository at `commit`, checked out in `tree`, as the planner's
/// prompt gives it.
pub(crate) fn describe(repo: &Repo, commit: &Oid, tree: &Path) -> Result<String, EngineError> {
    let files = repo.files_at(commit)?;
    let mut out = describe_files(&files);
    let readme = files.iter().find(|f| {
        let lower = f.to_ascii_lowercase();
        !f.contains('/') && (lower == "readme" || lower.starts_with("readme."))
    });
    if let Some(name) = readme {
        // A README that cannot be read is left out: it is not worth the plan.
        if let Ok(bytes) = std::fs::read(tree.join(name)) {
            let text = String::from_utf8_lossy(&bytes);
            out.push_str(&format!("\n{name}:\n\n{}\n", cut_middle(text.trim(), MAX_README)));
        }
    }
    let recent = repo.recent_commits(commit, RECENT)?;
    if !recent.is_empty() {
        out.push_str("\nRecent commits, newest first:\n");
        for line in recent {
            out.push_str(&format!("- {}\n", cut_middle(&line, 200)));
        }
    }
    Ok(out.trim_end().to_owned())
}

/// The files part: languages by how many files each has, then the files,
/// or their directories when there are many.
pub(crate) fn describe_files(files: &[String]) -> String {
    let mut out = format!("{} tracked files", files.len());
    let mut languages: BTreeMap<&str, usize> = BTreeMap::new();
    for f in files {
        if let Some(language) = language_of(f) {
            *languages.entry(language).or_default() += 1;
        }
    }
    let mut languages: Vec<(&str, usize)> = languages.into_iter().collect();
    languages.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    if !languages.is_empty() {
        let named: Vec<String> = languages.iter().take(MAX_LANGUAGES).map(|(l, n)| format!("{l} ({n})")).collect();
        out.push_str(&format!("; languages: {}", named.join(", ")));
    }
    out.push('\n');
    if files.len() <= MAX_LISTED {
        out.push_str("\nFiles:\n");
        for f in files {
            out.push_str(&format!("- {f}\n"));
        }
        return out;
    }
    let mut dirs: BTreeMap<String, usize> = BTreeMap::new();
    for f in files {
        let parts: Vec<&str> = f.split('/').collect();
        let dir = match parts.len() {
            1 => ".".to_owned(),
            2 => format!("{}/", parts[0]),
            _ => format!("{}/{}/", parts[0], parts[1]),
        };
        *dirs.entry(dir).or_default() += 1;
    }
    out.push_str("\nDirectories (files in each):\n");
    for (dir, n) in dirs.iter().take(MAX_DIRS) {
        out.push_str(&format!("- {dir} ({n})\n"));
    }
    if dirs.len() > MAX_DIRS {
        out.push_str(&format!("- and {} more directories\n", dirs.len() - MAX_DIRS));
    }
    out
}

/// The language a file is written in, by its extension, for the ones a
/// planner is likely to meet.
fn language_of(path: &str) -> Option<&'static str> {
    let ext = Path::new(path).extension()?.to_str()?;
    Some(match ext {
        "rs" => "Rust",
        "py" => "Python",
        "js" | "mjs" | "cjs" | "jsx" => "JavaScript",
        "ts" | "tsx" => "TypeScript",
        "go" => "Go",
        "java" => "Java",
        "kt" | "kts" => "Kotlin",
        "rb" => "Ruby",
        "php" => "PHP",
        "c" | "h" => "C",
        "cc" | "cpp" | "cxx" | "hpp" => "C++",
        "cs" => "C#",
        "swift" => "Swift",
        "scala" => "Scala",
        "ex" | "exs" => "Elixir",
        "sh" | "bash" => "Shell",
        "sql" => "SQL",
        "html" => "HTML",
        "css" | "scss" => "CSS",
        "md" => "Markdown",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_repository_is_listed_file_by_file_with_its_languages() {
        let files: Vec<String> =
            ["README.md", "src/main.rs", "src/lib.rs", "web/app.ts", "Cargo.toml"].map(String::from).into();
        let text = describe_files(&files);
        assert!(text.starts_with("5 tracked files; languages: Rust (2), Markdown (1), TypeScript (1)\n"), "{text}");
        assert!(text.contains("\nFiles:\n- README.md\n- src/main.rs\n"), "{text}");
    }

    #[test]
    fn a_big_repository_is_shown_by_its_directories_and_stays_bounded() {
        let files: Vec<String> = (0..20_000).map(|i| format!("d{}/e{}/f{i}.py", i % 300, i % 7)).collect();
        let text = describe_files(&files);
        assert!(text.starts_with("20000 tracked files; languages: Python (20000)\n"), "{text}");
        assert!(text.contains("\nDirectories (files in each):\n- d0/e0/ ("), "{text}");
        assert!(text.contains("more directories"), "{text}");
        assert!(text.len() < 4000, "{} bytes", text.len());
    }
}
