//! `wxpay completions SHELL`: the completion script for a shell, from the clap definition.

use crate::{output, Failure};

#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  wxpay completions bash > ~/.local/share/bash-completion/completions/wxpay
  wxpay completions zsh > ~/.zfunc/_wxpay
  wxpay completions fish > ~/.config/fish/completions/wxpay.fish")]
pub(crate) struct Args {
    /// The shell
    #[arg(value_enum)]
    shell: clap_complete::Shell,
}

pub(crate) fn run(args: Args, command: &mut clap::Command) -> Result<(), Failure> {
    let mut script = Vec::new();
    clap_complete::generate(args.shell, command, "wxpay", &mut script);
    output::stdout(&script)
}
