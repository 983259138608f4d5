//! The `jfmon` binary: parse the command line, run, and report failure as
//! one line on stderr (never a backtrace, never a password).

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // color-eyre's panic hook (installed first, so the dashboard can wrap it to
    // restore the terminal before the report is printed).
    let _ = color_eyre::config::HookBuilder::default()
        .display_env_section(false)
        .install();
    let cli = jfmon::cli::Cli::parse();
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
