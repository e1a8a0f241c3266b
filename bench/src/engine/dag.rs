//! Random task DAGs with durations, their makespan lower bound, and list
//! scheduling on them simulated without any overhead: the yardsticks the
//! measured makespan is set against.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// xorshift64* (Vigna), written out rather than taken from `rand`: `rand`
/// does not promise that a seeded generator gives the same numbers in its
/// next release, and a seed must name the same DAG in every build for
/// figures from different days to be comparable.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        // The state must never be zero; spreading the seed's bits also
        // keeps seeds 1, 2, 3 from starting out alike.
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `lo..=hi`; the modulo bias is nil at these ranges.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
}

/// How a random DAG is drawn: each task depends on up to `max_deps` tasks
/// among the `window` before it in plan order.
pub struct Shape {
    pub name: &'static str,
    pub max_deps: u64,
    pub window: usize,
}

/// From nearly independent tasks, where the work bound dominates, through
/// a DAG whose critical path about equals the work bound at 200 tasks and 8
/// workers (where the order matters most), to short dependency windows
/// whose long chains make the critical path dominate.
pub const SHAPES: [Shape; 3] = [
    Shape { name: "wide", max_deps: 1, window: usize::MAX },
    Shape { name: "balanced", max_deps: 2, window: 8 },
    Shape { name: "deep", max_deps: 3, window: 15 },
];

/// Tasks in plan order; every dependency comes earlier, so plan order is
/// a topological order.
pub struct Dag {
    /// Milliseconds of work per task.
    pub durations: Vec<u64>,
    pub deps: Vec<Vec<usize>>,
}

/// The order ready tasks go out in.
#[derive(Clone, Copy)]
pub enum Order {
    /// Plan order.
    Fifo,
    /// The store's order: longest tail of dependents first (with task
    /// durations as weights, or every task weighing 1 as when a plan gives
    /// no `estimated_hours`), ties in plan order.
    CriticalPath { weighted: bool },
}

impl Dag {
    /// A DAG of `tasks` tasks of `min_ms..=max_ms` each.
    pub fn random(tasks: usize, shape: &Shape, (min_ms, max_ms): (u64, u64), rng: &mut Rng) -> Dag {
        let mut durations = Vec::with_capacity(tasks);
        let mut deps = Vec::with_capacity(tasks);
        for i in 0..tasks {
            durations.push(rng.range(min_ms, max_ms));
            let first = i.saturating_sub(shape.window);
            let want = (rng.range(0, shape.max_deps) as usize).min(i - first);
            let mut picked: Vec<usize> = Vec::with_capacity(want);
            while picked.len() < want {
                let dep = first + rng.range(0, (i - first - 1) as u64) as usize;
                if !picked.contains(&dep) {
                    picked.push(dep);
                }
            }
            picked.sort_unstable();
            deps.push(picked);
        }
        Dag { durations, deps }
    }

    /// The same DAG with every task `ms` longer.
    pub fn lengthened(&self, ms: u64) -> Dag {
        Dag { durations: self.durations.iter().map(|d| d + ms).collect(), deps: self.deps.clone() }
    }

    pub fn len(&self) -> usize {
        self.durations.len()
    }

    pub fn total_work(&self) -> u64 {
        self.durations.iter().sum()
    }

    pub fn mean_deps(&self) -> f64 {
        self.deps.iter().map(Vec::len).sum::<usize>() as f64 / self.len().max(1) as f64
    }

    /// The longest chain of dependent tasks, in milliseconds of work.
    pub fn critical_path(&self) -> u64 {
        let mut finish = vec![0; self.len()];
        for i in 0..self.len() {
            let start = self.deps[i].iter().map(|&d| finish[d]).max().unwrap_or(0);
            finish[i] = start + self.durations[i];
        }
        finish.into_iter().max().unwrap_or(0)
    }

    /// How many tasks the critical path chains together.
    pub fn critical_chain(&self) -> usize {
        let mut finish = vec![(0, 0); self.len()];
        for i in 0..self.len() {
            let (start, before) = self.deps[i].iter().map(|&d| finish[d]).max().unwrap_or((0, 0));
            finish[i] = (start + self.durations[i], before + 1);
        }
        finish.into_iter().max().map_or(0, |(_, tasks)| tasks)
    }

    /// No schedule on `workers` workers finishes sooner than this.
    pub fn lower_bound(&self, workers: usize) -> f64 {
        (self.critical_path() as f64).max(self.total_work() as f64 / workers as f64)
    }

    fn dependents(&self) -> Vec<Vec<usize>> {
        let mut out = vec![Vec::new(); self.len()];
        for (i, deps) in self.deps.iter().enumerate() {
            for &d in deps {
                out[d].push(i);
            }
        }
        out
    }

    /// Each task's place in `order`: lower goes first.
    fn ranks(&self, order: Order) -> Vec<usize> {
        let weighted = match order {
            Order::Fifo => return (0..self.len()).collect(),
            Order::CriticalPath { weighted } => weighted,
        };
        // A task's weight plus its heaviest chain of dependents, as
        // colony-core's `Dag::critical_path` computes the store's
        // `path_weight`. Dependents come later in plan order, so a pass
        // from the end sees them first.
        let dependents = self.dependents();
        let mut tail = vec![0.0; self.len()];
        for i in (0..self.len()).rev() {
            let own = if weighted { self.durations[i] as f64 } else { 1.0 };
            tail[i] = own + dependents[i].iter().map(|&j| tail[j]).fold(0.0, f64::max);
        }
        let mut by_priority: Vec<usize> = (0..self.len()).collect();
        by_priority.sort_by(|&a, &b| tail[b].total_cmp(&tail[a]).then(a.cmp(&b)));
        let mut ranks = vec![0; self.len()];
        for (rank, task) in by_priority.into_iter().enumerate() {
            ranks[task] = rank;
        }
        ranks
    }

    /// The makespan of greedy list scheduling on `workers` workers with no
    /// overhead at all: whenever a worker is free and a task is ready, the
    /// first ready task in `order` starts.
    pub fn simulate(&self, workers: usize, order: Order) -> u64 {
        let ranks = self.ranks(order);
        let dependents = self.dependents();
        let mut waiting_on: Vec<usize> = self.deps.iter().map(Vec::len).collect();
        let mut ready: BinaryHeap<Reverse<(usize, usize)>> =
            (0..self.len()).filter(|&i| waiting_on[i] == 0).map(|i| Reverse((ranks[i], i))).collect();
        let mut running: BinaryHeap<Reverse<(u64, usize)>> = BinaryHeap::new();
        let mut now = 0;
        loop {
            while running.len() < workers.max(1) {
                let Some(Reverse((_, task))) = ready.pop() else { break };
                running.push(Reverse((now + self.durations[task], task)));
            }
            let Some(Reverse((at, _))) = running.peek().copied() else { return now };
            now = at;
            // Everything that ends now, before any worker picks again.
            while let Some(&Reverse((end, task))) = running.peek()
                && end == now
            {
                running.pop();
                for &j in &dependents[task] {
                    waiting_on[j] -= 1;
                    if waiting_on[j] == 0 {
                        ready.push(Reverse((ranks[j], j)));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dag(durations: &[u64], deps: &[&[usize]]) -> Dag {
        Dag { durations: durations.to_vec(), deps: deps.iter().map(|d| d.to_vec()).collect() }
    }

    #[test]
    fn a_chain_takes_its_sum_and_independent_tasks_share_workers() {
        let chain = dag(&[10, 20, 30], &[&[], &[0], &[1]]);
        assert_eq!(chain.critical_path(), 60);
        assert_eq!(chain.critical_chain(), 3);
        assert_eq!(chain.simulate(4, Order::Fifo), 60);
        let flat = dag(&[10, 10, 10, 10], &[&[], &[], &[], &[]]);
        assert_eq!(flat.lower_bound(2), 20.0);
        assert_eq!(flat.simulate(2, Order::Fifo), 20);
        assert_eq!(flat.simulate(3, Order::Fifo), 20);
    }

    #[test]
    fn critical_path_first_starts_the_long_chain_early() {
        // Two short independent tasks listed first, then a chain of two:
        // FIFO gives both workers the short ones and starts the chain late.
        let d = dag(&[10, 10, 50, 50], &[&[], &[], &[], &[2]]);
        assert_eq!(d.simulate(2, Order::Fifo), 110);
        assert_eq!(d.simulate(2, Order::CriticalPath { weighted: true }), 100);
        assert_eq!(d.lower_bound(2), 100.0);
    }

    #[test]
    fn unweighted_ranks_count_tasks_not_durations() {
        // Task 0 has a dependent, task 1 none but a long duration.
        let d = dag(&[1, 100, 1], &[&[], &[], &[0]]);
        assert_eq!(d.ranks(Order::CriticalPath { weighted: false }), [0, 1, 2]);
        assert_eq!(d.ranks(Order::CriticalPath { weighted: true }), [1, 0, 2]);
    }

    #[test]
    fn random_dags_depend_only_on_earlier_tasks_within_the_window() {
        let mut rng = Rng::new(7);
        for shape in &SHAPES {
            let d = Dag::random(200, shape, (50, 400), &mut rng);
            for (i, deps) in d.deps.iter().enumerate() {
                assert!(deps.len() as u64 <= shape.max_deps);
                assert!(deps.iter().all(|&dep| dep < i && i - dep <= shape.window), "task {i}: {deps:?}");
                assert!(deps.windows(2).all(|w| w[0] < w[1]), "sorted and distinct: {deps:?}");
            }
            assert!(d.durations.iter().all(|&ms| (50..=400).contains(&ms)));
        }
    }

    #[test]
    fn a_seed_names_one_dag() {
        let draw = |seed| Dag::random(50, &SHAPES[1], (50, 400), &mut Rng::new(seed));
        let (a, b, c) = (draw(3), draw(3), draw(4));
        assert_eq!((&a.durations, &a.deps), (&b.durations, &b.deps));
        assert_ne!(a.durations, c.durations);
    }
}
