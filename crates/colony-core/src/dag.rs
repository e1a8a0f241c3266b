//! The dependency graph of a plan: cycles, order, and critical path.
//!
//! Nodes are indices into the plan's task list, so the graph works on any
//! slice of tasks without cloning ids. Edges run from a task to each of its
//! dependencies.

use std::collections::HashMap;

use crate::spec::TaskSpec;

/// A plan's tasks as a graph. Build it only after every dep is known to exist.
pub struct Dag<'a> {
    tasks: &'a [TaskSpec],
    deps: Vec<Vec<usize>>,
    dependents: Vec<Vec<usize>>,
}

impl<'a> Dag<'a> {
    /// Builds the graph. Deps that name no task are left out; validation
    /// reports them before a graph is needed.
    pub fn new(tasks: &'a [TaskSpec]) -> Self {
        let index: HashMap<&str, usize> = tasks.iter().enumerate().map(|(i, t)| (t.id.as_str(), i)).collect();
        let mut deps = vec![Vec::new(); tasks.len()];
        let mut dependents = vec![Vec::new(); tasks.len()];
        for (i, t) in tasks.iter().enumerate() {
            for d in &t.deps {
                if let Some(&j) = index.get(d.as_str()) {
                    deps[i].push(j);
                    dependents[j].push(i);
                }
            }
        }
        Dag { tasks, deps, dependents }
    }

    /// A cycle as the ids along it, first id repeated at the end
    /// (`a -> b -> a` is `[a, b, a]`), or `None` when the graph is acyclic.
    /// Iterative, so a 100,000-task chain does not overflow the stack.
    pub fn find_cycle(&self) -> Option<Vec<&'a str>> {
        #[derive(Clone, Copy, PartialEq)]
        enum Mark {
            New,
            OnPath,
            Finished,
        }
        let mut mark = vec![Mark::New; self.tasks.len()];
        for start in 0..self.tasks.len() {
            if mark[start] != Mark::New {
                continue;
            }
            // Each frame is a node and the next dep of it to look at.
            let mut path: Vec<(usize, usize)> = vec![(start, 0)];
            mark[start] = Mark::OnPath;
            while let Some(&mut (node, ref mut next)) = path.last_mut() {
                if let Some(&dep) = self.deps[node].get(*next) {
                    *next += 1;
                    match mark[dep] {
                        Mark::New => {
                            mark[dep] = Mark::OnPath;
                            path.push((dep, 0));
                        }
                        Mark::OnPath => {
                            let from = path.iter().position(|&(n, _)| n == dep).expect("on path");
                            let mut cycle: Vec<&str> =
                                path[from..].iter().map(|&(n, _)| self.tasks[n].id.as_str()).collect();
                            cycle.push(self.tasks[dep].id.as_str());
                            return Some(cycle);
                        }
                        Mark::Finished => {}
                    }
                } else {
                    mark[node] = Mark::Finished;
                    path.pop();
                }
            }
        }
        None
    }

    /// Indices in an order where every task comes after its dependencies
    /// (plan order among equals). `None` if there is a cycle.
    pub fn topo_order(&self) -> Option<Vec<usize>> {
        let mut missing: Vec<usize> = self.deps.iter().map(Vec::len).collect();
        let mut ready: std::collections::BTreeSet<usize> = (0..self.tasks.len()).filter(|&i| missing[i] == 0).collect();
        let mut order = Vec::with_capacity(self.tasks.len());
        while let Some(i) = ready.pop_first() {
            order.push(i);
            for &j in &self.dependents[i] {
                missing[j] -= 1;
                if missing[j] == 0 {
                    ready.insert(j);
                }
            }
        }
        (order.len() == self.tasks.len()).then_some(order)
    }

    /// For each task, the weight of the longest path that starts with it and
    /// follows its dependents to the end of the plan: the work that cannot
    /// begin until it is done. Weights are `estimated_hours`, else 1.
    /// `None` if there is a cycle.
    pub fn critical_path(&self) -> Option<Vec<f64>> {
        let order = self.topo_order()?;
        let mut rank = vec![0.0; self.tasks.len()];
        for &i in order.iter().rev() {
            let tail = self.dependents[i].iter().map(|&j| rank[j]).fold(0.0, f64::max);
            rank[i] = self.tasks[i].weight() + tail;
        }
        Some(rank)
    }
}

/// What a plan's graph says of how it will run: how long its longest
/// chain is, how many tasks can run at once, and which `files` globs the
/// most tasks share (which serialises them at the merge).
#[derive(Debug, Clone, PartialEq)]
pub struct Shape<'a> {
    /// Tasks on the longest chain of dependencies.
    pub depth: usize,
    /// The heaviest chain (by `estimated_hours`, else one per task), in
    /// the order it runs.
    pub critical_path: Vec<&'a str>,
    /// The most tasks at one level (a task's level: the longest chain of
    /// dependencies below it), that is how many can run at once.
    pub width: usize,
    /// Globs named by more than one task, the most shared first, with how
    /// many name them; at most five.
    pub contended: Vec<(&'a str, usize)>,
}

impl<'a> Dag<'a> {
    /// The plan's [`Shape`]; `None` if there is a cycle.
    pub fn shape(&self) -> Option<Shape<'a>> {
        let order = self.topo_order()?;
        let mut level = vec![0usize; self.tasks.len()];
        for &i in &order {
            level[i] = self.deps[i].iter().map(|&d| level[d] + 1).max().unwrap_or(0);
        }
        let depth = level.iter().max().map_or(0, |l| l + 1);
        let mut per_level = vec![0usize; depth];
        for &l in &level {
            per_level[l] += 1;
        }
        let rank = self.critical_path()?;
        let mut critical_path = Vec::new();
        let heaviest = |among: &mut dyn Iterator<Item = usize>| {
            among.fold(None, |best: Option<usize>, i| match best {
                Some(b) if rank[b] >= rank[i] => Some(b),
                _ => Some(i),
            })
        };
        let mut next = heaviest(&mut (0..self.tasks.len()).filter(|&i| self.deps[i].is_empty()));
        while let Some(i) = next {
            critical_path.push(self.tasks[i].id.as_str());
            next = heaviest(&mut self.dependents[i].iter().copied());
        }
        let mut shared: HashMap<&str, usize> = HashMap::new();
        for t in self.tasks {
            for glob in t.files.iter().collect::<std::collections::BTreeSet<_>>() {
                *shared.entry(glob.as_str()).or_default() += 1;
            }
        }
        let mut contended: Vec<(&str, usize)> = shared.into_iter().filter(|&(_, n)| n > 1).collect();
        contended.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        contended.truncate(5);
        Some(Shape { depth, critical_path, width: per_level.into_iter().max().unwrap_or(0), contended })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::TaskId;

    fn tasks(edges: &[(&str, &[&str])]) -> Vec<TaskSpec> {
        edges
            .iter()
            .map(|(id, deps)| {
                let mut t = TaskSpec::new(TaskId::new(*id).unwrap(), "t", "p");
                t.deps = deps.iter().map(|d| TaskId::new(*d).unwrap()).collect();
                t
            })
            .collect()
    }

    #[test]
    fn finds_a_cycle_and_prints_it_closed() {
        let ts = tasks(&[("x", &[]), ("a", &["c"]), ("b", &["a"]), ("c", &["b"])]);
        let cycle = Dag::new(&ts).find_cycle().unwrap();
        assert_eq!(cycle.first(), cycle.last());
        assert_eq!(cycle.len(), 4);
        assert!(Dag::new(&ts).topo_order().is_none());
    }

    #[test]
    fn self_loop_is_a_cycle() {
        let ts = tasks(&[("a", &["a"])]);
        assert_eq!(Dag::new(&ts).find_cycle(), Some(vec!["a", "a"]));
    }

    #[test]
    fn critical_path_weights_the_longest_tail() {
        // a -> b -> d, a -> c; c is heavy.
        let mut ts = tasks(&[("a", &[]), ("b", &["a"]), ("c", &["a"]), ("d", &["b"])]);
        ts[2].estimated_hours = Some(5.0);
        let rank = Dag::new(&ts).critical_path().unwrap();
        assert_eq!(rank, vec![6.0, 2.0, 5.0, 1.0]);
    }

    #[test]
    fn long_chains_do_not_overflow() {
        let ts: Vec<TaskSpec> = (0..100_000)
            .map(|i| {
                let mut t = TaskSpec::new(TaskId::new(format!("t{i}")).unwrap(), "t", "p");
                if i > 0 {
                    t.deps = vec![TaskId::new(format!("t{}", i - 1)).unwrap()];
                }
                t
            })
            .collect();
        let dag = Dag::new(&ts);
        assert!(dag.find_cycle().is_none());
        assert_eq!(dag.critical_path().unwrap()[0], 100_000.0);
    }

    #[test]
    fn a_plans_shape_names_its_longest_chain_its_width_and_shared_files() {
        let mut ts = tasks(&[("a", &[]), ("b", &["a"]), ("c", &["a"]), ("d", &["b", "c"]), ("e", &[]), ("f", &["e"])]);
        for (t, files) in ts.iter_mut().zip([
            &["src/db/**"][..],
            &["src/api/**", "src/db/**"],
            &["src/db/**"],
            &["docs/**"],
            &[],
            &["docs/**"],
        ]) {
            t.files = files.iter().map(|f| f.to_string()).collect();
        }
        let shape = Dag::new(&ts).shape().unwrap();
        assert_eq!((shape.depth, shape.width), (3, 3), "b, c and f at once");
        assert_eq!(shape.critical_path, ["a", "b", "d"]);
        assert_eq!(shape.contended, [("src/db/**", 3), ("docs/**", 2)]);
        assert!(Dag::new(&tasks(&[("a", &["b"]), ("b", &["a"])])).shape().is_none());
        let empty = Dag::new(&[]).shape().unwrap();
        assert_eq!((empty.depth, empty.width, empty.critical_path.len()), (0, 0, 0));
    }
}
