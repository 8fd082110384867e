//! The gates: each init container that runs depwait, read with depwait's own parser — its
//! command line and its environment as the kubelet would hand them over (`$(VAR)` expanded,
//! the downward API's namespace filled in, ConfigMap values looked up), so what the graph says
//! a pod waits for is what that pod's depwait will wait for. What cannot be known from here (a
//! Secret's value, a shell script) is said, not guessed.

use std::collections::BTreeMap;
use std::path::Path;

use super::objects::{Container, Inventory, Volume, Workload};
use crate::cli::{Command, Invocation};
use crate::config::{Config, ConfigFileUnread};
use crate::dependency::Dependency;

/// The image patterns a gate is found by when none is given: depwait's image under any
/// registry and tag.
pub const DEFAULT_IMAGES: &[&str] = &[
    "depwait",
    "*/depwait",
    "*/depwait:*",
    "depwait:*",
    "*/depwait@*",
];

/// The environment variables whose values are dependencies; one that cannot be read leaves
/// the dependencies it would have added out of the graph, which is said.
const DEPENDENCY_VARIABLES: &[&str] = &["NAMESPACE_LABEL_DICT", "DEPWAIT_CONFIG"];

/// One init container that runs depwait.
#[derive(Debug, Clone)]
pub struct Gate {
    /// The container's name.
    pub container: String,
    /// What it waits for, as depwait would read it.
    pub dependencies: Vec<Dependency>,
    /// What could not be read or would not run.
    pub problems: Vec<GateProblem>,
}

/// Something the graph cannot show about a gate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GateProblem {
    /// depwait would refuse this configuration at start (exit 2): the pod never starts.
    Invalid(String),
    /// Part (or all) of the configuration cannot be read from here: not guessed.
    Unread(String),
}

/// Whether `image` matches one of `patterns` (`*` is any text; a pattern matches the whole
/// reference).
pub fn image_matches(patterns: &[String], image: &str) -> bool {
    patterns.iter().any(|p| glob(p, image))
}

fn glob(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    true
}

/// The init containers of `workload` that run an image `patterns` match and are not native
/// sidecars (a sidecar does not hold the pod).
pub fn gated_containers<'a>(
    workload: &'a Workload,
    patterns: &'a [String],
) -> impl Iterator<Item = &'a Container> {
    workload.pod.init_containers.iter().filter(move |c| {
        image_matches(patterns, &c.image) && c.restart_policy.as_deref() != Some("Always")
    })
}

/// The ConfigMaps (by name, in the workload's namespace) a gate of `workload` reads through
/// its environment or a mounted `--config`, so a cluster read can fetch just those.
pub fn config_maps_used(workload: &Workload, patterns: &[String]) -> Vec<String> {
    let mut names = Vec::new();
    for c in gated_containers(workload, patterns) {
        for var in &c.env {
            if let Some(r) = var
                .value_from
                .as_ref()
                .and_then(|s| s.config_map_key_ref.as_ref())
            {
                names.push(r.name.clone());
            }
        }
        for from in &c.env_from {
            if let Some(r) = &from.config_map_ref {
                names.push(r.name.clone());
            }
        }
        for m in &c.volume_mounts {
            for v in workload.pod.volumes.iter().filter(|v| v.name == m.name) {
                names.extend(config_map_sources(v).map(|s| s.name.clone()));
            }
        }
    }
    names.sort();
    names.dedup();
    names
}

/// Read one gate. `None`: the container runs depwait for something else than a wait
/// (`depwait rbac`, `man`), which holds nothing.
pub fn read(workload: &Workload, container: &Container, inventory: &Inventory) -> Option<Gate> {
    let mut problems = Vec::new();
    let env = Environment::of(workload, container, inventory);
    for (var, why) in &env.unknown {
        if DEPENDENCY_VARIABLES.contains(&var.as_str()) {
            problems.push(GateProblem::Unread(format!(
                "{var} {why}: the dependencies it sets are not shown"
            )));
        }
    }
    for why in &env.unread_sources {
        problems.push(GateProblem::Unread(format!(
            "{why}: dependencies set through it are not shown"
        )));
    }
    let gate = |dependencies, problems| {
        Some(Gate {
            container: container.name.clone(),
            dependencies,
            problems,
        })
    };
    let mut argv: Vec<String> = container.command.iter().map(|a| env.expand(a)).collect();
    if argv.is_empty() {
        // The image's entrypoint: depwait's runs the binary.
        argv.push("depwait".into());
    }
    let program = Path::new(&argv[0])
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_string();
    argv.extend(container.args.iter().map(|a| env.expand(a)));
    if program != "depwait" {
        // Only the program: a script's text can carry a token.
        let shown = crate::text::escape(&crate::text::ellipsize(&program, 40)).into_owned();
        problems.push(GateProblem::Unread(format!(
            "runs `{shown}`, not depwait itself; a script's text is not read (give depwait \
             its arguments in `command`/`args`)"
        )));
        return gate(Vec::new(), problems);
    }
    for arg in &argv {
        if let Some(var) = env.unexpanded(arg) {
            problems.push(GateProblem::Unread(format!(
                "an argument refers to $({var}), {}: it is read as written",
                env.unknown
                    .get(&var)
                    .map(String::as_str)
                    .unwrap_or("which the container does not define")
            )));
        }
    }
    let invocation = match Invocation::from_container(&argv, &env.known) {
        Ok(i) => i,
        Err(e) => {
            let text = e.render().to_string();
            let first = text.lines().next().unwrap_or_default();
            let first = first.strip_prefix("error: ").unwrap_or(first);
            let first = crate::text::escape(&crate::text::redact(first)).into_owned();
            problems.push(GateProblem::Invalid(format!(
                "depwait refuses its arguments: {first}"
            )));
            return gate(Vec::new(), problems);
        }
    };
    match invocation.command {
        None | Some(Command::Check { .. }) => {}
        Some(_) => return None,
    }
    let mut input = invocation.input;
    // The file is in the container: its text comes from the ConfigMap mounted there, read
    // once here; without one, the rest of the gate is still read.
    let mut config_text = String::new();
    if let Some(path) = input.config.clone() {
        match mounted_file(workload, container, inventory, &path.text) {
            Ok(text) => config_text = text,
            Err(why) => {
                problems.push(GateProblem::Unread(format!(
                    "{} {}: {why}; its dependencies are not shown",
                    path.name,
                    path.text.display()
                )));
                input.config = None;
            }
        }
    }
    let source = |_: &Path| Ok::<_, ConfigFileUnread>(config_text.clone());
    match Config::from_input_reading(input, &source) {
        Ok(config) => gate(config.dependencies, problems),
        // Nothing left to wait for only because what would have said it is unread.
        Err(e) if e.name == "dependencies" && !problems.is_empty() => gate(Vec::new(), problems),
        Err(e) => {
            problems.push(GateProblem::Invalid(format!(
                "depwait refuses its configuration: {e}"
            )));
            gate(Vec::new(), problems)
        }
    }
}

/// A container's environment as its process would see it.
struct Environment {
    /// Variables with a value known here.
    known: BTreeMap<String, String>,
    /// Variables whose value cannot be known from here, and why.
    unknown: BTreeMap<String, String>,
    /// `envFrom` sources that could not be read.
    unread_sources: Vec<String>,
}

impl Environment {
    /// `env` in order over `envFrom` (the kubelet's precedence), each value expanded against
    /// what came before, as the kubelet does.
    fn of(workload: &Workload, container: &Container, inventory: &Inventory) -> Self {
        let mut env = Environment {
            known: BTreeMap::new(),
            unknown: BTreeMap::new(),
            unread_sources: Vec::new(),
        };
        let ns = &workload.namespace;
        for from in &container.env_from {
            let prefix = from.prefix.clone().unwrap_or_default();
            if let Some(r) = &from.config_map_ref {
                match inventory.config_map(ns, &r.name) {
                    Some(cm) => {
                        for (k, v) in &cm.data {
                            env.set(format!("{prefix}{k}"), Ok(v.clone()));
                        }
                    }
                    None => env.unread_sources.push(format!(
                        "envFrom ConfigMap {ns}/{} {}",
                        r.name,
                        unseen(inventory, ns, &r.name)
                    )),
                }
            }
            if let Some(r) = &from.secret_ref {
                env.unread_sources.push(format!(
                    "envFrom Secret {ns}/{} is never read by depwait graph",
                    r.name
                ));
            }
        }
        for var in &container.env {
            let value = match (&var.value, &var.value_from) {
                (Some(v), _) => Ok(env.expand(v)),
                (None, None) => Ok(String::new()),
                (None, Some(from)) => {
                    if let Some(f) = &from.field_ref {
                        downward(workload, &f.field_path)
                    } else if let Some(r) = &from.config_map_key_ref {
                        match inventory.config_map(ns, &r.name) {
                            Some(cm) => cm.data.get(&r.key).cloned().ok_or_else(|| {
                                format!(
                                    "comes from key {} of ConfigMap {ns}/{}, which has no such key",
                                    r.key, r.name
                                )
                            }),
                            None => Err(format!(
                                "comes from ConfigMap {ns}/{} {}",
                                r.name,
                                unseen(inventory, ns, &r.name)
                            )),
                        }
                    } else if let Some(r) = &from.secret_key_ref {
                        Err(format!(
                            "comes from Secret {ns}/{}, which depwait graph never reads",
                            r.name
                        ))
                    } else {
                        Err("comes from the pod's resources, known only when it runs".into())
                    }
                }
            };
            env.set(var.name.clone(), value);
        }
        env
    }

    fn set(&mut self, name: String, value: Result<String, String>) {
        match value {
            Ok(v) => {
                self.unknown.remove(&name);
                self.known.insert(name, v);
            }
            Err(why) => {
                self.known.remove(&name);
                self.unknown.insert(name, why);
            }
        }
    }

    /// Kubernetes' `$(VAR)` expansion: a defined variable is replaced, `$$` is `$`, and
    /// anything else is kept as written (an undefined `$(VAR)` stays literally).
    fn expand(&self, text: &str) -> String {
        let mut out = String::new();
        let mut rest = text;
        while let Some(at) = rest.find('$') {
            out.push_str(&rest[..at]);
            let after = &rest[at + 1..];
            if let Some(tail) = after.strip_prefix('$') {
                out.push('$');
                rest = tail;
            } else if let Some(inner) = after.strip_prefix('(')
                && let Some(end) = inner.find(')')
            {
                let name = &inner[..end];
                match self.known.get(name) {
                    Some(v) => out.push_str(v),
                    None => out.push_str(&rest[at..at + 3 + end]),
                }
                rest = &inner[end + 1..];
            } else {
                out.push('$');
                rest = after;
            }
        }
        out.push_str(rest);
        out
    }

    /// A `$(VAR)` left in an expanded text whose variable is not known.
    fn unexpanded(&self, text: &str) -> Option<String> {
        let start = text.find("$(")?;
        let end = text[start..].find(')')?;
        let name = &text[start + 2..start + end];
        (!self.known.contains_key(name)).then(|| name.to_string())
    }
}

fn unseen(inventory: &Inventory, ns: &str, name: &str) -> String {
    match inventory
        .unreadable_config_maps
        .get(&format!("{ns}/{name}"))
    {
        Some(why) => format!("could not be read ({why})"),
        None => "is not in what was read".into(),
    }
}

/// The downward API's value for `path` where it is the same for every pod of the workload.
fn downward(workload: &Workload, path: &str) -> Result<String, String> {
    let label = path
        .strip_prefix("metadata.labels['")
        .and_then(|l| l.strip_suffix("']"));
    match path {
        "metadata.namespace" => Ok(workload.namespace.clone()),
        "metadata.name" if workload.kind == super::objects::WorkloadKind::Pod => {
            Ok(workload.name.clone())
        }
        _ => match label.and_then(|l| workload.pod_labels.get(l)) {
            Some(v) => Ok(v.clone()),
            None => Err(format!("is the pod's {path}, known only when it runs")),
        },
    }
}

/// A `--config` path inside the container, found in the ConfigMap mounted there: its text,
/// or why it cannot be had.
fn mounted_file(
    workload: &Workload,
    container: &Container,
    inventory: &Inventory,
    path: &Path,
) -> Result<String, String> {
    let path = path.to_string_lossy();
    let mount = container
        .volume_mounts
        .iter()
        .filter(|m| {
            let root = m.mount_path.trim_end_matches('/');
            path == root || path.starts_with(&format!("{root}/"))
        })
        .max_by_key(|m| m.mount_path.len())
        .ok_or("no volume is mounted there")?;
    let inside = path[mount.mount_path.trim_end_matches('/').len()..].trim_start_matches('/');
    let relative = match &mount.sub_path {
        Some(sub) if inside.is_empty() => sub.clone(),
        Some(sub) => format!("{sub}/{inside}"),
        None => inside.to_string(),
    };
    let volume = workload
        .pod
        .volumes
        .iter()
        .find(|v| v.name == mount.name)
        .ok_or_else(|| format!("volume {} is not in the pod template", mount.name))?;
    let ns = &workload.namespace;
    for source in config_map_sources(volume) {
        let key = match &source.items {
            Some(items) => match items.iter().find(|i| i.path == relative) {
                Some(item) => item.key.clone(),
                None => continue,
            },
            None => relative.clone(),
        };
        let Some(cm) = inventory.config_map(ns, &source.name) else {
            return Err(format!(
                "it is mounted from ConfigMap {ns}/{}, which {}",
                source.name,
                unseen(inventory, ns, &source.name).trim_start_matches("is ")
            ));
        };
        if let Some(text) = cm.data.get(&key) {
            return Ok(text.clone());
        }
    }
    Err(format!("volume {} has no ConfigMap key for it", mount.name))
}

fn config_map_sources(volume: &Volume) -> impl Iterator<Item = &super::objects::ConfigMapVolume> {
    volume.config_map.iter().chain(
        volume
            .projected
            .iter()
            .flat_map(|p| p.sources.iter().filter_map(|s| s.config_map.as_ref())),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::objects::{EnvSource, EnvVar, FieldRef, WorkloadKind};

    /// Every variable depwait's command line reads.
    fn variables() -> Vec<String> {
        use clap::CommandFactory;
        crate::cli::Cli::command()
            .get_arguments()
            .filter_map(|a| a.get_env().and_then(|v| v.to_str()).map(str::to_string))
            .collect()
    }

    fn workload(container: Container) -> Workload {
        Workload {
            kind: WorkloadKind::Deployment,
            namespace: "shop".into(),
            name: "web".into(),
            pod_labels: BTreeMap::new(),
            replicas: Some(1),
            ordered: false,
            pod: super::super::objects::PodSpec {
                init_containers: vec![container],
                volumes: Vec::new(),
            },
        }
    }

    fn var(name: &str, value: &str) -> EnvVar {
        EnvVar {
            name: name.into(),
            value: Some(value.into()),
            value_from: None,
        }
    }

    #[test]
    fn images_match_under_any_registry_and_tag() {
        let patterns: Vec<String> = DEFAULT_IMAGES.iter().map(|s| s.to_string()).collect();
        for image in [
            "depwait",
            "ghcr.io/acme/depwait:1.2",
            "registry:5000/x/depwait@sha256:ab",
        ] {
            assert!(image_matches(&patterns, image), "{image}");
        }
        for image in ["busybox", "ghcr.io/acme/depwaiter:1", "depwait-old:1"] {
            assert!(!image_matches(&patterns, image), "{image}");
        }
        assert!(image_matches(&["*/gate*".into()], "r/gate:2"));
    }

    #[test]
    fn expansion_follows_kubernetes() {
        let mut env = Environment {
            known: BTreeMap::new(),
            unknown: BTreeMap::new(),
            unread_sources: Vec::new(),
        };
        env.known.insert("NS".into(), "db".into());
        assert_eq!(env.expand("$(NS):app=zk"), "db:app=zk");
        assert_eq!(env.expand("$$(NS) $(NOPE) $x"), "$(NS) $(NOPE) $x");
        assert_eq!(env.unexpanded("$(NOPE)/a").as_deref(), Some("NOPE"));
    }

    #[test]
    fn the_namespace_comes_from_the_downward_api_and_env_is_the_containers() {
        let container = Container {
            name: "wait".into(),
            image: "depwait:1".into(),
            args: vec!["--pods".into(), "$(MY_NS):app=db".into()],
            env: vec![
                EnvVar {
                    name: "MY_NS".into(),
                    value: None,
                    value_from: Some(EnvSource {
                        field_ref: Some(FieldRef {
                            field_path: "metadata.namespace".into(),
                        }),
                        ..Default::default()
                    }),
                },
                var("NAMESPACE_LABEL_DICT", r#"{"cache": [{"app": "redis"}]}"#),
            ],
            ..Default::default()
        };
        let w = workload(container.clone());
        let gate = read(&w, &container, &Inventory::default()).unwrap();
        assert!(gate.problems.is_empty(), "{:?}", gate.problems);
        let shown: Vec<String> = gate.dependencies.iter().map(|d| d.to_string()).collect();
        assert_eq!(shown, ["shop app=db", "cache app=redis"]);
    }

    #[test]
    fn a_secret_is_said_not_guessed_and_a_bad_value_is_a_broken_gate() {
        let container = Container {
            image: "depwait".into(),
            args: vec!["--pods".into(), "db:app=zk".into()],
            env: vec![EnvVar {
                name: "NAMESPACE_LABEL_DICT".into(),
                value: None,
                value_from: Some(EnvSource {
                    secret_key_ref: Some(Default::default()),
                    ..Default::default()
                }),
            }],
            ..Default::default()
        };
        let w = workload(container.clone());
        let gate = read(&w, &container, &Inventory::default()).unwrap();
        assert_eq!(gate.dependencies.len(), 1);
        assert!(matches!(&gate.problems[..], [GateProblem::Unread(t)] if t.contains("Secret")));

        let mut bad = container.clone();
        bad.env = vec![var("TIMEOUT", "soon")];
        let gate = read(&workload(bad.clone()), &bad, &Inventory::default()).unwrap();
        assert!(
            matches!(&gate.problems[..], [GateProblem::Invalid(t)] if t.contains("TIMEOUT")),
            "{:?}",
            gate.problems
        );
    }

    #[test]
    fn a_shell_is_not_read_and_other_subcommands_are_no_gates() {
        let shell = Container {
            image: "depwait".into(),
            command: vec!["sh".into(), "-c".into(), "depwait --pods db:app=zk".into()],
            ..Default::default()
        };
        let gate = read(&workload(shell.clone()), &shell, &Inventory::default()).unwrap();
        assert!(gate.dependencies.is_empty());
        assert!(
            matches!(&gate.problems[..], [GateProblem::Unread(t)] if t.contains("not depwait"))
        );
        let rbac = Container {
            image: "depwait".into(),
            args: vec!["rbac".into(), "--service-account".into(), "a/b".into()],
            ..Default::default()
        };
        assert!(read(&workload(rbac.clone()), &rbac, &Inventory::default()).is_none());
    }

    #[test]
    fn every_variable_of_the_command_line_is_known() {
        let vars = variables();
        for v in DEPENDENCY_VARIABLES
            .iter()
            .chain(&["TIMEOUT", "DEPWAIT_CLUSTER_DOMAIN"])
        {
            assert!(vars.iter().any(|x| x == v), "{v}");
        }
    }
}
