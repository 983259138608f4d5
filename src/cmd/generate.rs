//! `jfmon completions <shell>` and `jfmon man`: a shell completion script and
//! the man page, both generated from the clap definition
//! ([`crate::cli::command`]) so they never drift from the real options.
//! Neither reads the configuration or touches the database.

use std::io::Write;
use std::process::ExitCode;

use super::{Fail, Outcome};
use crate::cli::CompletionsArgs;

/// Print the completion script for the shell asked for.
pub fn completions(a: &CompletionsArgs) -> Outcome {
    let mut cmd = crate::cli::command();
    let mut out = Vec::new();
    clap_complete::generate(a.shell, &mut cmd, "jfmon", &mut out);
    write_stdout(&out)
}

/// Print the man page (roff) for `jfmon` and its subcommands.
pub fn man() -> Outcome {
    let cmd = crate::cli::command();
    let mut out = Vec::new();
    clap_mangen::Man::new(cmd.clone())
        .render(&mut out)
        .map_err(|e| Fail::new(format!("cannot render the man page: {e}")))?;
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = format!("jfmon-{}", sub.get_name());
        let sub = sub
            .clone()
            .name(name.clone())
            .bin_name(format!("jfmon {}", sub.get_name()));
        clap_mangen::Man::new(sub)
            .title(name)
            .render(&mut out)
            .map_err(|e| Fail::new(format!("cannot render the man page: {e}")))?;
    }
    write_stdout(&out)
}

fn write_stdout(bytes: &[u8]) -> Outcome {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Ok(()) => Ok(ExitCode::SUCCESS),
        // `jfmon man | head`: a closed pipe is not an error.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(ExitCode::SUCCESS),
        Err(e) => Err(Fail::new(format!("cannot write to standard output: {e}"))),
    }
}
