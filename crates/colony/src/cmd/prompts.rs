//! `colony prompts list | show ROLE | eject ROLE`: the templates colony
//! makes its prompts from, and a project's own in `.colony/prompts/`.

use std::io::Write;
use std::path::Path;

use anyhow::Result;
use colony_core::layout::Layout;
use colony_engine::prompts::{Origin, Prompts, Role};

use crate::cli::{PromptsAction, PromptsArgs};
use crate::ctx::Ctx;
use crate::exit::bad_input;

pub fn run(ctx: &Ctx, args: PromptsArgs, out: &mut impl Write) -> Result<()> {
    let dir = Layout::new(&ctx.root).prompts();
    match args.action {
        PromptsAction::List => {
            let config = crate::settings::load_config(&ctx.root)?;
            list(&*crate::settings::prompts(&ctx.root, &config)?, &config, &ctx.root, out)
        }
        PromptsAction::Show { role } => {
            let role = role_named(&role)?;
            let text = match loaded(&dir)?.origin(role) {
                Origin::Shipped => role.shipped().to_owned(),
                Origin::Project(path) => std::fs::read_to_string(path)?,
            };
            out.write_all(text.as_bytes())?;
            Ok(())
        }
        PromptsAction::Eject { role, force } => {
            let role = role_named(&role)?;
            let path = dir.join(format!("{}.md", role.name()));
            if path.exists() && !force {
                return Err(bad_input(format!(
                    "{} exists already; edit it, or add --force to replace it with the shipped template",
                    shown(&path, &ctx.root)
                )));
            }
            std::fs::create_dir_all(&dir)?;
            std::fs::write(&path, role.shipped())?;
            writeln!(
                out,
                "wrote {}: edit it, and colony's {} prompts are made from it",
                shown(&path, &ctx.root),
                role.name()
            )?;
            Ok(())
        }
    }
}

/// The run's templates, refused as `colony run` would refuse them.
fn loaded(dir: &Path) -> Result<Prompts> {
    Prompts::load(dir).map_err(|e| bad_input(format!("the prompt template {e}")))
}

fn role_named(name: &str) -> Result<Role> {
    Role::from_name(name).ok_or_else(|| {
        let roles: Vec<&str> = Role::ALL.iter().map(|r| r.name()).collect();
        bad_input(format!("no prompt role `{name}`; the roles are {}", roles.join(", ")))
    })
}

fn list(prompts: &Prompts, config: &colony_core::config::Config, root: &Path, out: &mut impl Write) -> Result<()> {
    for role in Role::ALL {
        let from = match prompts.origin(role) {
            Origin::Shipped => "shipped".to_owned(),
            Origin::Project(path) => shown(path, root),
        };
        writeln!(out, "{:<9} {from}", role.name())?;
        writeln!(out, "          {}", role.about())?;
        writeln!(out, "          given: {}", role.variables().join(", "))?;
    }
    for (name, task_role) in &config.roles {
        if let Some(template) = &task_role.template {
            writeln!(out, "{:<9} {template}", format!("[roles.{name}]"))?;
            writeln!(out, "          the builder (and what a fresh fixer includes) for tasks of role `{name}`")?;
        }
    }
    Ok(())
}

/// `path` relative to the repository root when it is under it.
fn shown(path: &Path, root: &Path) -> String {
    path.strip_prefix(root).unwrap_or(path).display().to_string()
}
