//! Running a future to completion from synchronous code.

use std::future::Future;

/// Runs `fut` on a current-thread runtime in a thread of its own. A runtime
/// may not be started inside another one's worker thread, and the fixtures
/// are called both from plain `#[test]`s and from inside `#[tokio::test]`s;
/// a separate thread serves both.
pub(crate) fn block_on<F>(fut: F) -> F::Output
where
    F: Future + Send,
    F::Output: Send,
{
    std::thread::scope(|scope| {
        let worker = scope.spawn(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a current-thread tokio runtime can be built")
                .block_on(fut)
        });
        worker.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}
