//! depwait: parse, validate, wait (or check), and map the outcome to an exit code.
//!
//! `run` does the work and returns the exit code, or the [`Error`] that ended it early; `main`
//! is the one place such an error is said. Every write goes through `depwait::output`: a closed
//! pipe or a full disk never changes the exit code or stops the termination message.

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::CommandFactory;
use depwait::cli::{Cli, Command, Invocation, Salvaged};
use depwait::config::{self, Config, LogFormat};
use depwait::exit::ExitCode;
use depwait::{output, report, shutdown, telemetry};

fn main() -> std::process::ExitCode {
    // `graph` reads workloads, not dependencies: a command line of its own.
    if std::env::args_os().nth(1).is_some_and(|a| a == "graph") {
        return depwait::graph::main(std::env::args_os().skip(1));
    }
    match run() {
        Ok(code) => code.into(),
        Err(Error::Clap(e)) => clap_refused(&e),
        Err(Error::Stopped { code, text, to }) => {
            to.say(code, &text);
            code.into()
        }
    }
}

/// Why depwait ended before its command's own report.
enum Error {
    /// clap refused the arguments, or was asked for `--help`/`--version`.
    Clap(clap::Error),
    /// depwait refused the input or could not go on: `text` for `to`, then exit `code`.
    Stopped {
        code: ExitCode,
        text: String,
        to: Audience,
    },
}

impl Error {
    fn stopped(code: ExitCode, text: impl ToString, to: &Audience) -> Self {
        Error::Stopped {
            code,
            text: text.to_string(),
            to: to.clone(),
        }
    }
}

/// Who hears of an early end, and how.
#[derive(Clone)]
enum Audience {
    /// `check`, `rbac`, `man`: a line on stderr.
    Plain,
    /// A wait: the line, or the JSON `start` and `summary` lines once logs are JSON, and the
    /// termination message.
    Wait {
        format: LogFormat,
        termination_log: PathBuf,
    },
}

impl Audience {
    fn say(&self, code: ExitCode, text: &str) {
        match self {
            Audience::Wait {
                format: LogFormat::Json,
                termination_log,
            } => report::ended_before_wait(code, text, termination_log),
            Audience::Wait {
                format: LogFormat::Text,
                termination_log,
            } => {
                output::stderr_line(&format!("depwait: {text}"));
                report::write_termination_log(termination_log, &format!("depwait: {text}"));
            }
            Audience::Plain => output::stderr_line(&format!("depwait: {text}")),
        }
    }
}

fn run() -> Result<ExitCode, Error> {
    let Invocation { command, input } = Invocation::from_args().map_err(Error::Clap)?;
    let plain = Audience::Plain;
    match &command {
        Some(Command::Completions { shell }) => {
            let mut script = Vec::new();
            clap_complete::generate(*shell, &mut Cli::command(), "depwait", &mut script);
            output::stdout_bytes(&script);
            return Ok(ExitCode::Ready);
        }
        Some(Command::Man) => {
            let mut page = Vec::new();
            clap_mangen::Man::new(Cli::command())
                .render(&mut page)
                .map_err(|e| {
                    let text = format!("cannot render the man page: {e}");
                    Error::stopped(ExitCode::ApiError, text, &plain)
                })?;
            output::stdout_bytes(&page);
            return Ok(ExitCode::Ready);
        }
        Some(Command::Rbac {
            service_account,
            pod_name,
            for_graph,
            ..
        }) => {
            let usage = |e: config::ConfigError| Error::stopped(ExitCode::Usage, e, &plain);
            let sa = service_account
                .as_deref()
                .map(depwait::rbac::ServiceAccount::parse)
                .transpose()
                .map_err(usage)?;
            if *for_graph {
                output::stdout(&depwait::rbac::for_graph(sa.as_ref()));
                return Ok(ExitCode::Ready);
            }
            let sa = sa.expect("clap requires --service-account without --for-graph");
            let config = Config::from_input(input.clone()).map_err(usage)?;
            let waiter = depwait::rbac::Waiter::parse(config.emit_events, pod_name.as_deref())
                .map_err(usage)?;
            let yaml = runtime(&plain)?
                .block_on(depwait::rbac::generate(config, &sa, &waiter))
                .map_err(usage)?;
            output::stdout(&yaml);
            return Ok(ExitCode::Ready);
        }
        Some(Command::Graph { .. }) => {
            let text = "write `graph` first, before any flag: `depwait graph --help`";
            return Err(Error::stopped(ExitCode::Usage, text, &plain));
        }
        Some(Command::Check { .. }) | None => {}
    }
    let checking = matches!(command, Some(Command::Check { .. }));
    let termination_log = input.termination_log.clone();
    let audience = |format| match checking {
        true => Audience::Plain,
        false => Audience::Wait {
            format,
            termination_log: termination_log.clone(),
        },
    };
    let usage = |text: String, format| Error::stopped(ExitCode::Usage, text, &audience(format));
    let format =
        config::log_format(&input.log_format).map_err(|e| usage(e.to_string(), LogFormat::Text))?;
    telemetry::init(format).map_err(|e| usage(e.to_string(), format))?;
    let to = audience(format);
    let config = Config::from_input(input).map_err(|e| usage(e.to_string(), format))?;
    let runtime = runtime(&to)?;
    if checking {
        runtime.block_on(check(config))
    } else {
        Ok(runtime.block_on(depwait::run(config)))
    }
}

/// One thread is plenty: the work is waiting on sockets, and it keeps memory small.
fn runtime(to: &Audience) -> Result<tokio::runtime::Runtime, Error> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            let text = format!("cannot start the async runtime: {e}");
            Error::stopped(ExitCode::ApiError, text, to)
        })
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

/// `depwait check`: one look at every dependency, as a table. A signal ends it too (and a
/// credential plugin it runs, with its group).
async fn check(config: Config) -> Result<ExitCode, Error> {
    tokio::select! {
        checked = check_once(config) => checked,
        signal = shutdown::signal() => {
            Err(Error::stopped(ExitCode::from(signal), signal, &Audience::Plain))
        }
    }
}

async fn check_once(config: Config) -> Result<ExitCode, Error> {
    let plain = Audience::Plain;
    // `--timeout` bounds the whole check, from here.
    let deadline = depwait::deadline::Deadline::after(config.timeout);
    let purpose = depwait::plan::Purpose::Wait;
    let plan = depwait::plan::plan(config.dependencies, purpose, deadline.instant())
        .await
        .map_err(|e| Error::stopped(e.code, e.message, &plain))?;
    report::duplicates(&config.duplicates);
    let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let (code, text) = depwait::check::run(plan.dependencies, plan.client, color, deadline).await;
    // The table is the check's report; an API error's goes to stderr with it.
    if code == ExitCode::ApiError {
        output::stderr(&text);
    } else {
        output::stdout(&text);
    }
    Ok(code)
}
