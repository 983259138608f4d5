//! The `jfmon` binary: parse the command line, run, and report failure as
//! one line on stderr (never a backtrace, never a password).

use std::process::ExitCode;

use clap::Parser;
use clap::error::ErrorKind;

fn main() -> ExitCode {
    // Before the first large allocation: resident memory follows the live
    // heap over days (see jfmon::memory).
    jfmon::memory::tune();
    // color-eyre's panic hook (installed first, so the dashboard can wrap it to
    // restore the terminal before the report is printed).
    let _ = color_eyre::config::HookBuilder::default()
        .display_env_section(false)
        .install();
    let cli = match jfmon::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(e),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("jfmon: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let outcome = runtime.block_on(jfmon::cmd::run(cli));
    // Do not wait for lingering tasks (a hung connection must not block exit).
    runtime.shutdown_background();
    match outcome {
        Ok(code) => code,
        Err(fail) => {
            eprintln!("jfmon: {fail}");
            ExitCode::from(fail.code)
        }
    }
}

/// Help and version print as usual; a usage mistake is one line. `check`
/// exits 3 (UNKNOWN) so a broken cron line is not mistaken for an outage.
fn usage_error(e: clap::Error) -> ExitCode {
    if matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        e.exit();
    }
    let rendered = e.render().to_string();
    let first = rendered.lines().next().unwrap_or("invalid command line");
    let first = first.strip_prefix("error: ").unwrap_or(first);
    eprintln!("jfmon: {first} — see `jfmon --help`");
    let is_check = std::env::args().skip(1).any(|a| a == "check");
    ExitCode::from(if is_check { 3 } else { 2 })
}
