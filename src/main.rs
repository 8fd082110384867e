//! depwait: parse, validate, wait, and map the outcome to an exit code.

use depwait::cli::Input;
use depwait::config::Config;
use depwait::exit::ExitCode;
use depwait::{report, telemetry};

fn main() -> std::process::ExitCode {
    let input = Input::from_args();
    let termination_log = input.termination_log.clone();
    telemetry::init(input.log_format);
    let config = match Config::from_input(input) {
        Ok(c) => c,
        Err(e) => {
            // Usage errors go to stderr plainly (not as a log line), as clap's do.
            eprintln!("depwait: {e}");
            report::write_termination_log(&termination_log, &format!("depwait: {e}"));
            return ExitCode::Usage.into();
        }
    };
    // One thread is plenty: the work is waiting on sockets, and it keeps memory small.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("depwait: cannot start the async runtime: {e}");
            return ExitCode::ApiError.into();
        }
    };
    runtime.block_on(depwait::run(config)).into()
}
