//! `deployctl completions SHELL`: a completion script for the shell, made from
//! the same clap definitions the binary parses its arguments with.

use clap::CommandFactory;
use clap_complete::Shell;

use super::exit::Exit;

pub(super) const AFTER_HELP: &str = "\
Install it where the shell looks for completions, for example:
  bash        deployctl completions bash > ~/.local/share/bash-completion/completions/deployctl
  zsh         deployctl completions zsh > ~/.zfunc/_deployctl
              (and `fpath+=~/.zfunc` before `compinit` in ~/.zshrc)
  fish        deployctl completions fish > ~/.config/fish/completions/deployctl.fish
  elvish      deployctl completions elvish >> ~/.config/elvish/rc.elv
  powershell  deployctl completions powershell >> $PROFILE";

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The shell to write the script for.
    #[arg(value_enum, value_name = "SHELL")]
    pub shell: Shell,
}

pub(super) fn run(args: Args) -> Exit {
    let mut script = Vec::new();
    clap_complete::generate(
        args.shell,
        &mut super::Cli::command(),
        "deployctl",
        &mut script,
    );
    super::output::print(String::from_utf8_lossy(&script));
    Exit::Ok
}
