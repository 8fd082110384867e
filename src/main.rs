//! depwait: parse, validate, wait (or check), and map the outcome to an exit code.
//!
//! Every write goes through `depwait::output`: a closed pipe or a full disk never changes the
//! exit code or stops the termination message.

use std::io::IsTerminal;
use std::path::Path;

use clap::CommandFactory;
use depwait::cli::{Cli, Command, Input, LogFormat, Salvaged};
use depwait::config::{self, Config};
use depwait::exit::ExitCode;
use depwait::{output, report, telemetry};

fn main() -> std::process::ExitCode {
    let input = match Input::from_args() {
        Ok(input) => input,
        Err(e) => return clap_refused(&e),
    };
    match input.command {
        Some(Command::Completions { shell }) => {
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "depwait", &mut script);
            output::stdout_bytes(&script);
            return ExitCode::Ready.into();
        }
        Some(Command::Man) => {
            let mut page = Vec::new();
            return match clap_mangen::Man::new(Cli::command()).render(&mut page) {
                Ok(()) => {
                    output::stdout_bytes(&page);
                    ExitCode::Ready.into()
                }
                Err(e) => {
                    output::stderr_line(&format!("depwait: cannot render the man page: {e}"));
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
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build();
        let yaml = match (sa, Config::from_input(input.clone()), runtime) {
            (Ok(sa), Ok(config), Ok(runtime)) => {
                match depwait::rbac::Waiter::parse(config.emit_events, pod_name.as_deref()) {
                    Ok(waiter) => runtime.block_on(depwait::rbac::generate(config, &sa, &waiter)),
                    Err(e) => Err(e),
                }
            }
            (Err(e), ..) | (_, Err(e), _) => Err(e),
            (.., Err(e)) => {
                output::stderr_line(&format!("depwait: cannot start the async runtime: {e}"));
                return ExitCode::ApiError.into();
            }
        };
        return match yaml {
            Ok(yaml) => {
                output::stdout(&yaml);
                ExitCode::Ready.into()
            }
            Err(e) => {
                output::stderr_line(&format!("depwait: {e}"));
                ExitCode::Usage.into()
            }
        };
    }
    let checking = matches!(input.command, Some(Command::Check { .. }));
    let termination_log = input.termination_log.clone();
    let format = match config::log_format(&input.log_format) {
        Ok(format) => format,
        Err(e) => return refused(&e.to_string(), LogFormat::Text, checking, &termination_log),
    };
    if let Err(text) = telemetry::init(format) {
        return refused(&text, format, checking, &termination_log);
    }
    let config = match Config::from_input(input) {
        Ok(c) => c,
        Err(e) => return refused(&e.to_string(), format, checking, &termination_log),
    };
    // One thread is plenty: the work is waiting on sockets, and it keeps memory small.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let text = format!("cannot start the async runtime: {e}");
            if checking {
                output::stderr_line(&format!("depwait: {text}"));
            } else {
                report::ended_before_wait(ExitCode::ApiError, &text, &termination_log);
            }
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
                            output::stderr_line("depwait: interrupted by SIGINT");
                            ExitCode::Interrupted
                        }
                        depwait::aggregate::Signal::Terminate => {
                            output::stderr_line("depwait: terminated by SIGTERM");
                            ExitCode::Terminated
                        }
                    },
                }
            })
            .into();
    }
    runtime.block_on(depwait::run(config)).into()
}

/// A usage error found by depwait (exit 2): plainly on stderr, as clap's own are, or as the
/// `start` and `summary` lines in JSON; a wait also writes the termination message.
fn refused(
    text: &str,
    format: LogFormat,
    checking: bool,
    termination_log: &Path,
) -> std::process::ExitCode {
    if format == LogFormat::Json && !checking {
        report::ended_before_wait(ExitCode::Usage, text, termination_log);
    } else {
        output::stderr_line(&format!("depwait: {text}"));
        if !checking {
            report::write_termination_log(termination_log, &format!("depwait: {text}"));
        }
    }
    ExitCode::Usage.into()
}

/// clap refused the arguments, or was asked for `--help`/`--version` (exit 0, stdout). A usage
/// error is reported like depwait's own: what could be salvaged of the arguments says the log
/// format and where the termination message goes.
fn clap_refused(e: &clap::Error) -> std::process::ExitCode {
    let code = std::process::ExitCode::from(e.exit_code().clamp(0, 255) as u8);
    if !e.use_stderr() {
        // clap's `print` returns write errors instead of panicking; there is no one to tell.
        let _ = e.print();
        return code;
    }
    let salvaged = Salvaged::from_args();
    let waiting = salvaged.command.is_none();
    let text = e.render().to_string();
    let text = text.trim_end();
    if salvaged.log_format == Some(LogFormat::Json) && waiting {
        // A bad DEPWAIT_LOG is not worth a second error here; the default filter is set up.
        let _ = telemetry::init(LogFormat::Json);
        report::ended_before_wait(ExitCode::Usage, text, &salvaged.termination_log);
    } else {
        let _ = e.print();
        if waiting {
            report::write_termination_log(&salvaged.termination_log, &format!("depwait: {text}"));
        }
    }
    code
}

async fn check(config: Config) -> ExitCode {
    // `--timeout` bounds the whole check, from here.
    let deadline = depwait::deadline::Deadline::after(config.timeout);
    if let Err(e) = depwait::probe::check_roots(
        config
            .dependencies
            .iter()
            .filter_map(depwait::dependency::Dependency::probe),
    )
    .await
    {
        output::stderr_line(&format!("depwait: {e}"));
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
            output::stderr_line(&format!("depwait: {}", e.message));
            return e.code;
        }
    };
    report::duplicates(&config.duplicates);
    let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let (code, text) = depwait::check::run(dependencies, client, color, deadline).await;
    if code == ExitCode::ApiError {
        output::stderr(&text);
    } else {
        output::stdout(&text);
    }
    code
}
