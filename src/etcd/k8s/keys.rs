//! kube-apiserver's key layout in etcd.
//!
//! ```text
//! <prefix><resource>/<namespace>/<name>        namespaced built-in (pods, configmaps, ...)
//! <prefix><resource>/<name>                    cluster-scoped built-in (namespaces, clusterroles, ...)
//! <prefix><group>/<plural>/<namespace>/<name>  custom resource (group has a dot), namespaced
//! <prefix><group>/<plural>/<name>              custom resource, cluster-scoped; also
//!                                              apiextensions.k8s.io/customresourcedefinitions/<name>
//! exceptions: services/specs/<ns>/<name> (services), services/endpoints/<ns>/<name> (endpoints),
//!             minions/<name> (nodes), controllers/<ns>/<name> (replicationcontrollers),
//!             ingress/<ns>/<name> (ingresses)
//! ```
//! The prefix is kube-apiserver's `--etcd-prefix` (default `/registry/`;
//! OpenShift uses `/kubernetes.io/`). Key text only; the value's envelope says the type.

use serde::Serialize;

/// Default `--etcd-prefix` of kube-apiserver, with the separator.
pub const DEFAULT_PREFIX: &str = "/registry/";

/// Where an object lives, from its key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ObjectKey<'a> {
    /// Resource as kubectl names it: plural for built-ins (`pods`),
    /// `plural.group` for resources under a group path (`widgets.example.com`).
    pub resource: String,
    /// Namespace, empty for cluster-scoped objects.
    pub namespace: &'a str,
    /// Object name.
    pub name: &'a str,
}

/// Reads `key` under `prefix`; `None` for keys outside it or that do not look
/// like an object key (e.g. `compact_rev_key`, `/registry/masterleases/` ranges
/// with no name).
pub fn parse<'a>(key: &'a [u8], prefix: &str) -> Option<ObjectKey<'a>> {
    let rest = key.strip_prefix(prefix.as_bytes())?;
    let rest = std::str::from_utf8(rest).ok()?;
    let segs: Vec<&str> = rest.split('/').collect();
    let (resource, ns, name) = match segs.as_slice() {
        ["services", "specs", ns, name] => ("services".to_string(), *ns, *name),
        ["services", "endpoints", ns, name] => ("endpoints".to_string(), *ns, *name),
        [group, plural, ns, name] if group.contains('.') => {
            (format!("{plural}.{group}"), *ns, *name)
        }
        [group, plural, name] if group.contains('.') => (format!("{plural}.{group}"), "", *name),
        [res, ns, name] => (builtin(res), *ns, *name),
        [res, name] => (builtin(res), "", *name),
        _ => return None,
    };
    if resource.is_empty() || name.is_empty() {
        return None;
    }
    Some(ObjectKey {
        resource,
        namespace: ns,
        name,
    })
}

fn builtin(seg: &str) -> String {
    match seg {
        "minions" => "nodes",
        "controllers" => "replicationcontrollers",
        "ingress" => "ingresses",
        other => other,
    }
    .to_string()
}

/// Whether `resource` (as [`parse`] names it) is what the user asked for:
/// the plural, `plural.group`, or one of kubectl's short names and singulars.
pub fn matches(resource: &str, asked: &str) -> bool {
    let asked = asked.to_ascii_lowercase();
    if resource == asked {
        return true;
    }
    let plural = resource.split('.').next().unwrap_or(resource);
    if plural == asked {
        return true;
    }
    let alias = match asked.as_str() {
        "po" | "pod" => "pods",
        "deploy" | "deployment" => "deployments",
        "rs" | "replicaset" => "replicasets",
        "sts" | "statefulset" => "statefulsets",
        "ds" | "daemonset" => "daemonsets",
        "svc" | "service" => "services",
        "ep" | "endpoint" => "endpoints",
        "cm" | "configmap" => "configmaps",
        "secret" => "secrets",
        "ev" | "event" => "events",
        "ns" | "namespace" => "namespaces",
        "no" | "node" => "nodes",
        "sa" | "serviceaccount" => "serviceaccounts",
        "lease" => "leases",
        "crd" | "crds" | "customresourcedefinition" => {
            "customresourcedefinitions.apiextensions.k8s.io"
        }
        "endpointslice" => "endpointslices",
        "pvc" | "persistentvolumeclaim" => "persistentvolumeclaims",
        "pv" | "persistentvolume" => "persistentvolumes",
        "ing" | "ingress" => "ingresses",
        "job" => "jobs",
        "cj" | "cronjob" => "cronjobs",
        "role" => "roles",
        "rolebinding" => "rolebindings",
        "clusterrole" => "clusterroles",
        "clusterrolebinding" => "clusterrolebindings",
        _ => return plural == format!("{asked}s"),
    };
    resource == alias
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout() {
        let k = parse(b"/registry/pods/shop/web-1", DEFAULT_PREFIX).expect("pod");
        assert_eq!(
            (k.resource.as_str(), k.namespace, k.name),
            ("pods", "shop", "web-1")
        );
        let k = parse(
            b"/registry/services/specs/default/kubernetes",
            DEFAULT_PREFIX,
        )
        .expect("svc");
        assert_eq!((k.resource.as_str(), k.namespace), ("services", "default"));
        let k = parse(b"/registry/minions/node-1", DEFAULT_PREFIX).expect("node");
        assert_eq!(
            (k.resource.as_str(), k.namespace, k.name),
            ("nodes", "", "node-1")
        );
        let k = parse(b"/registry/example.com/widgets/shop/w", DEFAULT_PREFIX).expect("cr");
        assert_eq!(k.resource, "widgets.example.com");
        let k = parse(
            b"/registry/apiextensions.k8s.io/customresourcedefinitions/widgets.example.com",
            DEFAULT_PREFIX,
        )
        .expect("crd");
        assert_eq!(k.resource, "customresourcedefinitions.apiextensions.k8s.io");
        assert!(parse(b"compact_rev_key", DEFAULT_PREFIX).is_none());
        assert!(parse(b"/kubernetes.io/pods/a/b", "/kubernetes.io/").is_some());
        assert!(matches("pods", "po") && matches("widgets.example.com", "widgets"));
        assert!(matches(
            "customresourcedefinitions.apiextensions.k8s.io",
            "crd"
        ));
        assert!(matches("widgets.example.com", "widget"));
        assert!(!matches("pods", "secrets"));
    }
}
