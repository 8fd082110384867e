//! `depwait check`: one look at every dependency — one list per watched set, no watch — as a
//! table a person on call can read at a glance.

use std::sync::Arc;
use std::time::Duration;

use crate::slim::WatchedPod;
use futures::future::join_all;
use kube::Client;
use kube::api::DynamicObject;

use crate::aggregate::{Board, Sources, View};
use crate::api_error::{FatalApiError, Handling};
use crate::deadline::Deadline;
use crate::dependency::{Dependency, Rule, SourceKey, Target};
use crate::exit::ExitCode;
use crate::probe::{self, Check, ProbeStatus};
use crate::readiness::State;
use crate::readiness::pod::{PodVerdict, verdict};
use crate::watch::{self, Discovery, Phase, Snapshot};

/// How long one probe (a DNS look-up, a TCP connect, an HTTP GET) may take in a check, when
/// `--timeout` does not end it first: a little more than one probe attempt may take.
const PROBE_CHECK_LIMIT: Duration = Duration::from_secs(3);

/// What each source gave, by index, and the probes judging asked for since.
#[derive(Default)]
struct Lists {
    pods: Vec<Vec<Arc<WatchedPod>>>,
    dynamic: Vec<Vec<Arc<DynamicObject>>>,
    /// Probes judging asked for (an ExternalName Service's name): run once, after.
    wanted: Vec<(usize, Check)>,
}

impl View for Lists {
    fn pods(&self, source: usize) -> Vec<Arc<WatchedPod>> {
        self.pods.get(source).cloned().unwrap_or_default()
    }
    fn dynamic(&self, source: usize) -> Vec<Arc<DynamicObject>> {
        self.dynamic.get(source).cloned().unwrap_or_default()
    }
}

impl Sources for Lists {
    fn start_probe(&mut self, index: usize, check: &Check) {
        self.wanted.push((index, check.clone()));
    }
}

/// What one source gave.
enum Answer {
    /// A pod list.
    Pods(Vec<Arc<WatchedPod>>),
    /// A list of other objects.
    Dynamic(Vec<Arc<DynamicObject>>),
    /// A probe's result.
    Probe(ProbeStatus),
    /// No list: why (a 503, or no answer before the deadline).
    Failing(String),
    /// An error waiting cannot fix.
    Fatal(FatalApiError),
}

/// Judge every dependency once; returns the exit code and the text for stdout.
/// `client` is `None` only when planning left nothing that needs the API. Every list,
/// discovery request and probe runs at once and is held to `deadline` (`--timeout`): one that
/// has not answered by then is a row saying so, and the exit code is 1.
pub async fn run(
    dependencies: Vec<Dependency>,
    client: Option<Client>,
    color: bool,
    deadline: Deadline,
) -> (ExitCode, String) {
    let judged = match judge(dependencies, client, deadline).await {
        Ok(judged) => judged,
        Err(error) => {
            return (
                ExitCode::ApiError,
                format!("depwait: {}\n", crate::text::Escaped(error)),
            );
        }
    };
    let mut rows = vec![[
        "DEPENDENCY".to_string(),
        "STATE".into(),
        "READY".into(),
        "DETAIL".into(),
    ]];
    for j in &judged.judgements {
        let first = j.details.first().cloned().unwrap_or_default();
        rows.push([
            j.dependency.to_string(),
            j.state_name().into(),
            j.counts.clone(),
            first,
        ]);
        for more in j.details.iter().skip(1) {
            rows.push([String::new(), String::new(), String::new(), more.clone()]);
        }
    }
    (judged.code, table(&rows, color))
}

/// One dependency as one look found it.
#[derive(Debug, Clone)]
pub struct Judgement {
    /// The dependency.
    pub dependency: Dependency,
    /// Its state.
    pub state: State,
    /// `2/3`, `2/3 (min 2)`, or `-` when nothing was counted.
    pub counts: String,
    /// Why not ready (a line per pod that is not), or what it is; empty when all is said.
    pub details: Vec<String>,
}

impl Judgement {
    /// The state as the table shows it.
    pub fn state_name(&self) -> &'static str {
        match self.state {
            State::Ready => "READY",
            State::Failed => "FAILED",
            State::ApiError => "ERROR",
            State::NotReady => "NOT READY",
        }
    }
}

/// Every dependency judged once, and the exit code that means.
#[derive(Debug, Clone)]
pub struct Judged {
    /// In the order given.
    pub judgements: Vec<Judgement>,
    /// 0 all ready, 1 not, 4 a Job failed.
    pub code: ExitCode,
}

/// [`run`]'s judging, without the table: for `depwait graph --status` too. An error waiting
/// cannot fix (a 403) is the `Err`.
pub async fn judge(
    dependencies: Vec<Dependency>,
    client: Option<Client>,
    deadline: Deadline,
) -> Result<Judged, FatalApiError> {
    let (mut board, keys) = Board::new(dependencies);
    let discovery = Discovery::default();
    let mut lists = Lists {
        pods: vec![Vec::new(); keys.len()],
        dynamic: vec![Vec::new(); keys.len()],
        wanted: Vec::new(),
    };
    let answers = join_all(
        keys.iter()
            .map(|key| look(client.as_ref(), &discovery, key, deadline)),
    )
    .await;
    for (index, answer) in answers.into_iter().enumerate() {
        match answer {
            Answer::Pods(pods) => {
                lists.pods[index] = pods;
                board.set_phase(index, Phase::Live);
            }
            Answer::Dynamic(objects) => {
                lists.dynamic[index] = objects;
                board.set_phase(index, Phase::Live);
            }
            Answer::Probe(status) => board.set_probe(index, status),
            // The same judgement as the waiter's: a 403 is an answer, a 503 is not.
            Answer::Fatal(error) => return Err(error),
            Answer::Failing(reason) => board.set_phase(index, Phase::Failing(reason)),
        }
    }
    // The wait's own judging step; an ExternalName Service asks for its name to be resolved:
    // once, here too.
    let mut touched = vec![true; keys.len()];
    board.settle(&mut touched, &mut lists, |_, _| {});
    let wanted = std::mem::take(&mut lists.wanted);
    let answers = join_all(wanted.iter().map(|(_, check)| probe_once(check, deadline))).await;
    for ((index, _), status) in wanted.into_iter().zip(answers) {
        board.set_probe(index, status);
        touched[index] = true;
    }
    board.settle(&mut touched, &mut lists, |_, _| {});

    let mut judgements = Vec::new();
    for (index, (dep, readiness)) in board.judged().enumerate() {
        let counted = format!("{}/{}", readiness.ready_objects, readiness.counted_objects);
        let counts = match readiness.state {
            State::Ready | State::NotReady => counted,
            State::Failed | State::ApiError => "-".to_string(),
        };
        let min = match &dep.target {
            Target::Pods { min, .. } => *min,
            Target::Service(s) if s.min > 1 => Some(s.min),
            _ => None,
        };
        let counts = match min {
            Some(min) if counts != "-" => format!("{counts} (min {min})"),
            _ => counts,
        };
        let mut details: Vec<String> = Vec::new();
        let pods = match board.rule(index) {
            Rule::Pods { pods, .. } => Some(*pods),
            _ => None,
        };
        if let Some(source) = pods.filter(|_| !readiness.is_ready()) {
            let mut waiting: Vec<(String, String)> = lists
                .pods(source)
                .iter()
                .filter_map(|p| match verdict(p) {
                    PodVerdict::NotReady(why) => {
                        Some((p.metadata.name.clone().unwrap_or_default(), why))
                    }
                    _ => None,
                })
                .collect();
            waiting.sort();
            details = waiting
                .into_iter()
                .map(|(n, w)| format!("{n}: {w}"))
                .collect();
        }
        if details.is_empty() && !readiness.is_ready() || pods.is_none() {
            details = vec![readiness.detail().into_owned()];
        }
        judgements.push(Judgement {
            dependency: dep.clone(),
            state: readiness.state,
            counts,
            details,
        });
    }
    let code = if board.all_ready() {
        ExitCode::Ready
    } else if board.failed().is_some() {
        ExitCode::DependencyFailed
    } else {
        ExitCode::TimedOut
    };
    Ok(Judged { judgements, code })
}

/// One list of a watched set, or one probe answer, by `deadline`.
async fn look(
    client: Option<&Client>,
    discovery: &Discovery,
    key: &SourceKey,
    deadline: Deadline,
) -> Answer {
    let w = match key {
        SourceKey::Watch(w) => w,
        SourceKey::Probe(check) => return Answer::Probe(probe_once(check, deadline).await),
    };
    let Some(client) = client else {
        return Answer::Failing("no Kubernetes credentials".into());
    };
    let what = format!("the API server (listing {w})");
    match deadline
        .within(&what, watch::list_once(client, discovery, w))
        .await
    {
        Ok(Ok(Snapshot::Pods(pods))) => Answer::Pods(pods),
        Ok(Ok(Snapshot::Dynamic(objects))) => Answer::Dynamic(objects),
        Ok(Err(Handling::Fatal(error))) => Answer::Fatal(error),
        Ok(Err(Handling::Retry(reason))) => Answer::Failing(reason),
        Err(no_answer) => Answer::Failing(no_answer.to_string()),
    }
}

/// One probe answer (DNS, TCP, HTTP), through the same probe a wait uses, or why there is none.
async fn probe_once(check: &Check, deadline: Deadline) -> ProbeStatus {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let mut tx = Some(tx);
    let task = probe::spawn(check.clone(), move |status| {
        if let Some(tx) = tx.take() {
            let _ = tx.send(status);
        }
        false
    });
    let answer = deadline
        .within("the probe", tokio::time::timeout(PROBE_CHECK_LIMIT, rx))
        .await;
    task.abort();
    match answer {
        Ok(Ok(Ok(status))) => status,
        Ok(_) => {
            ProbeStatus::NotReady(format!("no answer within {}s", PROBE_CHECK_LIMIT.as_secs()))
        }
        Err(no_answer) => ProbeStatus::NotReady(no_answer.to_string()),
    }
}

/// Left-aligned columns two spaces apart; STATE coloured when `color`. Every cell is escaped
/// first ([`crate::text::escape`]): details and names come from the cluster, and a newline or
/// escape sequence in one must neither reach the terminal nor break the columns.
fn table(rows: &[[String; 4]], color: bool) -> String {
    let rows: Vec<[String; 4]> = rows
        .iter()
        .map(|row| {
            row.clone()
                .map(|cell| crate::text::escape(&cell).into_owned())
        })
        .collect();
    let width = |c: usize| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0);
    let widths = [width(0), width(1), width(2)];
    let mut out = String::new();
    for row in &rows {
        let state = format!("{:w$}", row[1], w = widths[1]);
        let state = match (color, row[1].as_str()) {
            (true, "READY") => format!("\x1b[32m{state}\x1b[0m"),
            (true, "NOT READY" | "ERROR") => format!("\x1b[31m{state}\x1b[0m"),
            _ => state,
        };
        let line = format!(
            "{:w0$}  {state}  {:w2$}  {}",
            row[0],
            row[2],
            row[3],
            w0 = widths[0],
            w2 = widths[2]
        );
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_aligns_columns_and_colours_only_when_asked() {
        let rows = [
            [
                "DEPENDENCY".into(),
                "STATE".into(),
                "READY".into(),
                "DETAIL".into(),
            ],
            [
                "a app=x".into(),
                "READY".into(),
                "1/1".into(),
                String::new(),
            ],
            [
                "b app=longer".into(),
                "NOT READY".into(),
                "0/2".into(),
                "p: Pending".into(),
            ],
        ];
        assert_eq!(
            table(&rows, false),
            "DEPENDENCY    STATE      READY  DETAIL\n\
             a app=x       READY      1/1\n\
             b app=longer  NOT READY  0/2    p: Pending\n"
        );
        assert!(table(&rows, true).contains("\x1b[32mREADY    \x1b[0m"));
    }

    #[test]
    fn cells_are_escaped_and_stay_on_their_line() {
        let rows = [
            ["D".into(), "S".into(), "R".into(), "X".into()],
            [
                "a\x1b[2J".into(),
                "NOT READY".into(),
                "0/1".into(),
                "p: \r\nINFO all dependencies ready\x07".into(),
            ],
        ];
        let out = table(&rows, false);
        assert_eq!(out.lines().count(), 2, "{out}");
        assert!(!out.chars().any(|c| c.is_control() && c != '\n'), "{out:?}");
        assert!(out.contains("a\\x1b[2J"), "{out}");
        assert!(
            out.contains("p: \\r\\nINFO all dependencies ready\\x07"),
            "{out}"
        );
    }
}
