//! depwait: parse, validate, wait (or check), and map the outcome to an exit code.

use std::io::IsTerminal;

use clap::CommandFactory;
use depwait::cli::{Cli, Command, Input};
use depwait::config::Config;
use depwait::exit::ExitCode;
use depwait::{client, report, telemetry};

fn main() -> std::process::ExitCode {
    let input = Input::from_args();
    match input.command {
        Some(Command::Completions { shell }) => {
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "depwait",
                &mut std::io::stdout(),
            );
            return ExitCode::Ready.into();
        }
        Some(Command::Man) => {
            return match clap_mangen::Man::new(Cli::command()).render(&mut std::io::stdout()) {
                Ok(()) => ExitCode::Ready.into(),
                Err(e) => {
                    eprintln!("depwait: cannot write the man page: {e}");
                    ExitCode::Usage.into()
                }
            };
        }
        Some(Command::Check { .. } | Command::Rbac { .. }) | None => {}
    }
    if let Some(Command::Rbac {
        service_account, ..
    }) = &input.command
    {
        let sa = depwait::rbac::ServiceAccount::parse(service_account);
        let emit_events = input.emit_events;
        return match (sa, Config::from_input(input.clone())) {
            (Ok(sa), Ok(config)) => {
                print!(
                    "{}",
                    depwait::rbac::render(&config.dependencies, &sa, emit_events)
                );
                ExitCode::Ready.into()
            }
            (Err(e), _) | (_, Err(e)) => {
                eprintln!("depwait: {e}");
                ExitCode::Usage.into()
            }
        };
    }
    let checking = matches!(input.command, Some(Command::Check { .. }));
    let termination_log = input.termination_log.clone();
    telemetry::init(input.log_format);
    let config = match Config::from_input(input) {
        Ok(c) => c,
        Err(e) => {
            // Usage errors go to stderr plainly (not as a log line), as clap's do.
            eprintln!("depwait: {e}");
            if !checking {
                report::write_termination_log(&termination_log, &format!("depwait: {e}"));
            }
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
    if checking {
        return runtime.block_on(check(config)).into();
    }
    runtime.block_on(depwait::run(config)).into()
}

async fn check(config: Config) -> ExitCode {
    // `--timeout` bounds the whole check, from here.
    let deadline = depwait::deadline::Deadline::after(config.timeout);
    if let Err(e) = depwait::tls::check_trust(&config.dependencies).await {
        eprintln!("depwait: {e}");
        return ExitCode::Usage;
    }
    let client = match client::infer().await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("depwait: {e}");
            return ExitCode::Usage;
        }
    };
    let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let (code, text) = depwait::check::run(config.dependencies, client, color, deadline).await;
    if code == ExitCode::ApiError {
        eprint!("{text}");
    } else {
        print!("{text}");
    }
    code
}
