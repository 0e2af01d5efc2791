//! `deployctl man`: the manual page in roff, made from the clap definitions.
//! One page holds every command, so `deployctl man > deployctl.1` is the whole
//! install.

use clap::CommandFactory;
use clap_mangen::Man;
use clap_mangen::roff::{Roff, bold};

use super::exit::Exit;

pub(super) const AFTER_HELP: &str = "\
Install it, for example:
  deployctl man > ~/.local/share/man/man1/deployctl.1
or read it now:
  deployctl man | man -l -";

#[derive(Debug, clap::Args)]
pub struct Args {}

pub(super) fn run(_args: Args) -> Exit {
    match page() {
        Ok(page) => {
            super::output::print(page);
            Exit::Ok
        }
        Err(e) => {
            eprintln!("error: cannot render the manual page: {e}");
            Exit::Invalid
        }
    }
}

/// The page: the top-level sections, then one subsection per command with its
/// synopsis, description and options.
pub(super) fn page() -> std::io::Result<String> {
    let mut cmd = super::Cli::command().disable_help_subcommand(true);
    cmd.build();
    let top = Man::new(cmd.clone());
    let mut body = Vec::new();
    top.render_name_section(&mut body)?;
    top.render_synopsis_section(&mut body)?;
    top.render_description_section(&mut body)?;
    top.render_options_section(&mut body)?;

    Roff::new()
        .control("SH", ["COMMANDS"])
        .to_writer(&mut body)?;
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = format!("{} {}", cmd.get_name(), sub.get_name());
        Roff::new()
            .control("SS", [name.as_str()])
            .to_writer(&mut body)?;
        // Global options (`--color`) are documented once, at the top.
        let mut sub = sub.clone();
        let globals: Vec<String> = sub
            .get_arguments()
            .filter(|a| a.is_global_set())
            .map(|a| a.get_id().to_string())
            .collect();
        for id in globals {
            sub = sub.mut_arg(id, |a| a.hide(true));
        }
        let man = Man::new(sub.clone());
        let mut section = Vec::new();
        man.render_synopsis_section(&mut section)?;
        man.render_description_section(&mut section)?;
        if sub.get_arguments().any(|a| !a.is_hide_set()) {
            man.render_options_section(&mut section)?;
        }
        if sub.get_after_long_help().is_some() || sub.get_after_help().is_some() {
            man.render_extra_section(&mut section)?;
        }
        body.extend(demote(&String::from_utf8_lossy(&section)).as_bytes());
    }
    // clap_mangen titles `after_long_help` "EXTRA"; the top level's is the exit codes.
    let mut extra = Vec::new();
    top.render_extra_section(&mut extra)?;
    body.extend(
        String::from_utf8_lossy(&extra)
            .replacen(".SH EXTRA", ".SH \"EXIT STATUS\"", 1)
            .as_bytes(),
    );
    top.render_version_section(&mut body)?;

    // Every render starts with roff's definition of the apostrophe string; keep
    // one, after `.TH`, so the page starts with its title as man pages do.
    let preamble = Roff::new().render();
    let mut title = Vec::new();
    top.render_title(&mut title)?;
    let title = String::from_utf8_lossy(&title).replace(&preamble, "");
    let body = String::from_utf8_lossy(&body).replace(&preamble, "");
    Ok(format!("{title}{preamble}{body}"))
}

/// A command's sections, nested under its `.SS` heading: each `.SH` becomes a
/// paragraph, so the page keeps one level of sections. Only the options keep
/// their title; the synopsis, description and notes read without one.
fn demote(roff: &str) -> String {
    let mut out = String::new();
    for line in roff.lines() {
        match line.strip_prefix(".SH ") {
            Some(title) => {
                let mut paragraph = Roff::new();
                paragraph.control("PP", []);
                if title.trim_matches('"') == "OPTIONS" {
                    paragraph.text([bold("Options:")]);
                }
                out.push_str(&paragraph.to_roff());
            }
            None => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_page_holds_every_command_and_its_options() {
        let page = page().unwrap();
        assert!(page.starts_with(".TH"), "{}", &page[..40.min(page.len())]);
        let commands: Vec<String> = super::super::Cli::command()
            .get_subcommands()
            .map(|s| s.get_name().to_owned())
            .collect();
        for name in &commands {
            assert!(
                page.contains(&format!(".SS \"deployctl {name}\"")),
                "no subsection for {name}"
            );
        }
        assert!(!page.contains(".SS \"deployctl help\""));
        // Options of a command, and the top level's exit codes.
        assert!(page.contains("\\-\\-gpus"));
        // The global `--color` is documented once, at the top.
        assert_eq!(page.matches("\\fB\\-\\-color\\fR \\fI").count(), 1);
        assert!(page.contains(".SH \"EXIT STATUS\""));
        // Only the top level has `.SH` sections; commands are nested under `.SS`.
        let first_ss = page.find(".SS").unwrap();
        let sections_inside = page[first_ss..]
            .lines()
            .filter(|l| l.starts_with(".SH"))
            .count();
        assert_eq!(sections_inside, 2, "EXIT STATUS and VERSION only");
    }

    #[test]
    fn demoting_turns_sections_into_paragraphs() {
        let out = demote(".SH SYNOPSIS\n\\fBx\\fR\n.SH OPTIONS\n.TP\n");
        assert_eq!(out, ".PP\n\\fBx\\fR\n.PP\n\\fBOptions:\\fR\n.TP\n");
    }
}
