//! depwait: parse, validate, wait (or check), and map the outcome to an exit code.

use std::io::IsTerminal;

use clap::CommandFactory;
use depwait::cli::{Cli, Command, Input};
use depwait::config::Config;
use depwait::exit::ExitCode;
use depwait::{report, telemetry};

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
        service_account,
        pod_name,
        ..
    }) = &input.command
    {
        let sa = depwait::rbac::ServiceAccount::parse(service_account);
        let events = depwait::rbac::Events::parse(input.emit_events, pod_name.as_deref());
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build();
        let yaml = match (sa, events, Config::from_input(input.clone()), runtime) {
            (Ok(sa), Ok(events), Ok(config), Ok(runtime)) => {
                runtime.block_on(depwait::rbac::generate(config, &sa, &events))
            }
            (Err(e), ..) | (_, Err(e), ..) | (_, _, Err(e), _) => Err(e),
            (.., Err(e)) => {
                eprintln!("depwait: cannot start the async runtime: {e}");
                return ExitCode::ApiError.into();
            }
        };
        return match yaml {
            Ok(yaml) => {
                print!("{yaml}");
                ExitCode::Ready.into()
            }
            Err(e) => {
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
        // A signal ends `check` too (and a credential plugin it runs, with its group).
        return runtime
            .block_on(async {
                tokio::select! {
                    code = check(config) => code,
                    signal = depwait::shutdown_signal() => match signal {
                        depwait::aggregate::Signal::Interrupt => {
                            eprintln!("depwait: interrupted by SIGINT");
                            ExitCode::Interrupted
                        }
                        depwait::aggregate::Signal::Terminate => {
                            eprintln!("depwait: terminated by SIGTERM");
                            ExitCode::Terminated
                        }
                    },
                }
            })
            .into();
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
    let plan = depwait::plan::plan(
        config.dependencies,
        depwait::plan::Purpose::Wait,
        deadline.instant(),
    );
    let (dependencies, client) = match plan.await {
        Ok(plan) => (plan.dependencies, plan.client),
        Err(e) => {
            eprintln!("depwait: {}", e.message);
            return e.code;
        }
    };
    report::duplicates(&config.duplicates);
    let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let (code, text) = depwait::check::run(dependencies, client, color, deadline).await;
    if code == ExitCode::ApiError {
        eprint!("{text}");
    } else {
        print!("{text}");
    }
    code
}
