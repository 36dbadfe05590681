//! The router's path matcher: a tree of path segments. A segment is static (`users`), a parameter
//! (`:id`, one non-empty segment) or a wildcard (`*`, the rest of the path, last segment only). At
//! each level a static child is tried first, then the parameter, then the wildcard, backtracking when
//! a branch does not match, so static beats param beats wildcard. A path that matches only routes of
//! other methods yields the methods to allow (405 / OPTIONS).

use std::collections::HashMap;

/// One route: method, target port and the names of its parameters in path order (`*` for the wildcard).
#[derive(Debug)]
struct Route {
    method: String,
    port: usize,
    names: Vec<String>,
}

#[derive(Debug, Default)]
struct Segment {
    statics: HashMap<String, Segment>,
    param: Option<Box<Segment>>,
    /// Routes whose path ends here.
    here: Vec<usize>,
    /// Routes whose path ends with a wildcard here.
    rest: Vec<usize>,
}

/// What a lookup found.
#[derive(Debug, PartialEq)]
pub(crate) enum Match {
    /// A route of the method: its port and the parameter values by name.
    Found {
        port: usize,
        params: Vec<(String, String)>,
    },
    /// The path matches routes of other methods only: `Allow`'s value.
    NotAllowed {
        allow: String,
    },
    NotFound,
}

/// Compiled routes.
#[derive(Debug, Default)]
pub(crate) struct Table {
    root: Segment,
    routes: Vec<Route>,
}

enum Part<'a> {
    Static(String),
    Param(&'a str),
    Rest,
}

/// Splits a path into segments: `/a/b` → `[a, b]`, `/` → `[""]`, `/a/` → `[a, ""]`.
fn segments(path: &str) -> impl Iterator<Item = &str> {
    path.strip_prefix('/').unwrap_or(path).split('/')
}

fn parse(path: &str) -> Result<Vec<Part<'_>>, String> {
    let segs: Vec<&str> = segments(path).collect();
    let last = segs.len() - 1;
    let mut parts = Vec::with_capacity(segs.len());
    for (i, seg) in segs.into_iter().enumerate() {
        if let Some(name) = seg.strip_prefix(':') {
            if name.is_empty() {
                return Err(format!("path {path:?} has a parameter without a name"));
            }
            parts.push(Part::Param(name));
        } else if seg == "*" {
            if i != last {
                return Err(format!("path {path:?} has `*` before its last segment"));
            }
            parts.push(Part::Rest);
        } else if let Some(literal) = seg.strip_prefix('\\') {
            parts.push(Part::Static(literal.to_string()));
        } else {
            parts.push(Part::Static(seg.to_string()));
        }
    }
    Ok(parts)
}

impl Table {
    /// Adds a route; an error says why the path is not valid or that the route repeats route `i`.
    pub fn add(&mut self, method: &str, path: &str, port: usize) -> Result<(), String> {
        let parts = parse(path)?;
        let mut names = Vec::new();
        let mut node = &mut self.root;
        let mut rest = false;
        for part in parts {
            match part {
                Part::Static(s) => node = node.statics.entry(s).or_default(),
                Part::Param(name) => {
                    names.push(name.to_string());
                    node = node.param.get_or_insert_with(Default::default);
                }
                Part::Rest => {
                    names.push("*".to_string());
                    rest = true;
                }
            }
        }
        let id = self.routes.len();
        let ends = if rest { &mut node.rest } else { &mut node.here };
        if let Some(&dup) = ends.iter().find(|&&r| self.routes[r].method == method) {
            return Err(format!("repeats route {dup} ({method} {path})"));
        }
        ends.push(id);
        self.routes.push(Route {
            method: method.to_string(),
            port,
            names,
        });
        Ok(())
    }

    /// Finds the route for `method` and `path`.
    pub fn find(&self, method: &str, path: &str) -> Match {
        let segs: Vec<&str> = segments(path).collect();
        let mut search = Search {
            table: self,
            method,
            first: None,
            found: None,
        };
        let mut captured = Vec::new();
        search.walk(&self.root, &segs, 0, &mut captured);
        if let Some((id, values)) = search.found {
            let route = &self.routes[id];
            let params = route.names.iter().cloned().zip(values).collect();
            return Match::Found {
                port: route.port,
                params,
            };
        }
        match search.first {
            Some(ids) => {
                let mut allow = vec!["OPTIONS"];
                for &id in ids {
                    let m = self.routes[id].method.as_str();
                    if !allow.contains(&m) {
                        allow.push(m);
                    }
                }
                Match::NotAllowed {
                    allow: allow.join(", "),
                }
            }
            None => Match::NotFound,
        }
    }
}

struct Search<'a> {
    table: &'a Table,
    method: &'a str,
    /// The first path match in priority order, for `Allow` when no route has the method.
    first: Option<&'a [usize]>,
    found: Option<(usize, Vec<String>)>,
}

impl<'a> Search<'a> {
    /// Visits routes ending at one place; true when one has the method.
    fn visit(&mut self, ids: &'a [usize], captured: &[String]) -> bool {
        if ids.is_empty() {
            return false;
        }
        if let Some(&id) = ids
            .iter()
            .find(|&&id| self.table.routes[id].method == self.method)
        {
            self.found = Some((id, captured.to_vec()));
            return true;
        }
        self.first.get_or_insert(ids);
        false
    }

    fn walk(&mut self, node: &'a Segment, segs: &[&str], i: usize, captured: &mut Vec<String>) -> bool {
        let Some(&seg) = segs.get(i) else {
            return self.visit(&node.here, captured);
        };
        if let Some(child) = node.statics.get(seg) {
            if self.walk(child, segs, i + 1, captured) {
                return true;
            }
        }
        if let Some(child) = node.param.as_deref().filter(|_| !seg.is_empty()) {
            captured.push(seg.to_string());
            if self.walk(child, segs, i + 1, captured) {
                return true;
            }
            captured.pop();
        }
        if !node.rest.is_empty() {
            captured.push(segs[i..].join("/"));
            if self.visit(&node.rest, captured) {
                return true;
            }
            captured.pop();
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(port: usize, params: &[(&str, &str)]) -> Match {
        Match::Found {
            port,
            params: params
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn net_static_beats_param_beats_wildcard() {
        let mut t = Table::default();
        t.add("GET", "/users/*", 2).unwrap();
        t.add("GET", "/users/:id", 1).unwrap();
        t.add("GET", "/users/new", 0).unwrap();
        t.add("GET", "/users/:id/posts/:post", 3).unwrap();
        assert_eq!(t.find("GET", "/users/new"), found(0, &[]));
        assert_eq!(t.find("GET", "/users/42"), found(1, &[("id", "42")]));
        assert_eq!(
            t.find("GET", "/users/42/posts/7"),
            found(3, &[("id", "42"), ("post", "7")])
        );
        assert_eq!(t.find("GET", "/users/42/x"), found(2, &[("*", "42/x")]));
        assert_eq!(t.find("GET", "/users/"), found(2, &[("*", "")]));
        assert_eq!(t.find("GET", "/users"), Match::NotFound);
    }

    #[test]
    fn net_backtracks_to_a_route_with_the_method() {
        let mut t = Table::default();
        t.add("GET", "/users/new", 0).unwrap();
        t.add("POST", "/users/:id", 1).unwrap();
        t.add("GET", "/", 2).unwrap();
        assert_eq!(t.find("POST", "/users/new"), found(1, &[("id", "new")]));
        assert_eq!(
            t.find("DELETE", "/users/new"),
            Match::NotAllowed {
                allow: "OPTIONS, GET".into()
            }
        );
        assert_eq!(
            t.find("OPTIONS", "/users/9"),
            Match::NotAllowed {
                allow: "OPTIONS, POST".into()
            }
        );
        assert_eq!(t.find("GET", "/"), found(2, &[]));
        assert_eq!(t.find("GET", "/nope"), Match::NotFound);
    }

    #[test]
    fn net_rejects_bad_and_repeated_paths() {
        let mut t = Table::default();
        assert!(t.add("GET", "/a/:", 0).unwrap_err().contains("without a name"));
        assert!(t.add("GET", "/a/*/b", 0).unwrap_err().contains("before its last"));
        t.add("GET", "/a/:x", 0).unwrap();
        assert!(t.add("GET", "/a/:y", 1).unwrap_err().contains("repeats route 0"));
        t.add("PUT", "/a/:y", 1).unwrap();
        assert_eq!(t.find("PUT", "/a/1"), found(1, &[("y", "1")]));
        t.add("GET", "/lit/\\:x", 2).unwrap();
        assert_eq!(t.find("GET", "/lit/:x"), found(2, &[]));
    }
}
