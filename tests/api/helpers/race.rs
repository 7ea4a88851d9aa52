//! Racing N requests: every job runs in a task of its own, and all of them wait at one barrier
//! so that they really start together. Jobs may differ (an accept racing an order), hence
//! [`Job`]; the results come back in the order the jobs were given.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use tokio::sync::Barrier;
use tokio::task::JoinHandle;

/// One racing job.
pub type Job<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// Boxes a future as a [`Job`].
pub fn job<T>(future: impl Future<Output = T> + Send + 'static) -> Job<T> {
    Box::pin(future)
}

/// Jobs started together, still running.
pub struct Race<T> {
    tasks: Vec<JoinHandle<T>>,
}

impl<T: Send + 'static> Race<T> {
    /// Starts every job at once; await [`Race::finish`] for their results.
    pub fn start<F>(jobs: impl IntoIterator<Item = F>) -> Self
    where
        F: Future<Output = T> + Send + 'static,
    {
        let jobs: Vec<F> = jobs.into_iter().collect();
        let barrier = Arc::new(Barrier::new(jobs.len()));
        let tasks = jobs
            .into_iter()
            .map(|job| {
                let barrier = barrier.clone();
                tokio::spawn(async move {
                    barrier.wait().await;
                    job.await
                })
            })
            .collect();
        Self { tasks }
    }

    /// Every job's result, in the order the jobs were given; a job's panic is this one's.
    pub async fn finish(self) -> Vec<T> {
        let mut results = Vec::with_capacity(self.tasks.len());
        for task in self.tasks {
            match task.await {
                Ok(result) => results.push(result),
                Err(error) => std::panic::resume_unwind(error.into_panic()),
            }
        }
        results
    }
}

/// Runs the jobs at once and returns their results in order.
pub async fn race<T, F>(jobs: impl IntoIterator<Item = F>) -> Vec<T>
where
    T: Send + 'static,
    F: Future<Output = T> + Send + 'static,
{
    Race::start(jobs).finish().await
}
