//! `depwait check`: one look at every dependency — one list per watched set, no watch — as a
//! table a person on call can read at a glance.

use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;
use kube::api::ListParams;
use kube::runtime::watcher;
use kube::{Api, Client};

use crate::aggregate::Board;
use crate::api_error::{self, Verdict};
use crate::dependency::Dependency;
use crate::exit::ExitCode;
use crate::readiness::pod::{PodVerdict, slim, verdict};
use crate::watch::Phase;

/// Judge every dependency once; returns the exit code and the text for stdout.
pub async fn run(dependencies: Vec<Dependency>, client: Client, color: bool) -> (ExitCode, String) {
    let (mut board, keys) = Board::new(dependencies);
    let mut pods_of: Vec<Vec<Arc<Pod>>> = vec![Vec::new(); keys.len()];
    for (index, key) in keys.iter().enumerate() {
        let api: Api<Pod> = Api::namespaced(client.clone(), &key.namespace);
        match api.list(&ListParams::default().labels(&key.selector)).await {
            Ok(list) => {
                pods_of[index] = list
                    .items
                    .into_iter()
                    .map(|mut p| {
                        slim(&mut p);
                        Arc::new(p)
                    })
                    .collect();
                board.set_phase(index, Phase::Live);
            }
            // The same judgement as the waiter's: a 403 is an answer, a 503 is not.
            Err(e) => match api_error::classify(&watcher::Error::InitialListFailed(e), key) {
                Verdict::Fatal(error) => {
                    return (ExitCode::ApiError, format!("depwait: {error}\n"));
                }
                Verdict::Retry(reason) => board.set_phase(index, Phase::Failing(reason)),
            },
        }
        let pods = &pods_of[index];
        board.rejudge(index, || pods.clone());
    }

    let watch_of = |dep: &Dependency| keys.iter().position(|k| *k == dep.watch_key());
    let mut rows = vec![[
        "DEPENDENCY".to_string(),
        "STATE".into(),
        "READY".into(),
        "DETAIL".into(),
    ]];
    for (dep, readiness) in board.verdicts() {
        let index = watch_of(dep).unwrap_or_default();
        let (state, counts) = if readiness.ready {
            (
                "READY",
                format!("{}/{}", readiness.ready_objects, readiness.counted_objects),
            )
        } else if readiness.summary.starts_with("API error") {
            ("ERROR", "-".to_string())
        } else {
            (
                "NOT READY",
                format!("{}/{}", readiness.ready_objects, readiness.counted_objects),
            )
        };
        let counts = match dep.min {
            Some(min) if counts != "-" => format!("{counts} (min {min})"),
            _ => counts,
        };
        let mut details: Vec<String> = Vec::new();
        if !readiness.ready {
            let mut waiting: Vec<(String, String)> = pods_of[index]
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
            if details.is_empty() {
                details.push(readiness.summary.clone());
            }
        }
        let first = details.first().cloned().unwrap_or_default();
        rows.push([dep.to_string(), state.into(), counts, first]);
        for more in details.iter().skip(1) {
            rows.push([String::new(), String::new(), String::new(), more.clone()]);
        }
    }
    let code = if board.all_ready() {
        ExitCode::Ready
    } else {
        ExitCode::TimedOut
    };
    (code, table(&rows, color))
}

/// Left-aligned columns two spaces apart; STATE coloured when `color`.
fn table(rows: &[[String; 4]], color: bool) -> String {
    let width = |c: usize| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0);
    let widths = [width(0), width(1), width(2)];
    let mut out = String::new();
    for row in rows {
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
}
