//! The worker seam: the scheduler claims, leases, heartbeats, records and recovers jobs;
//! a [`Worker`] does the work of one kind of job. The resolve-and-download worker and the
//! pipeline stage worker implement it; a new kind of job is a new worker, never a branch on
//! a kind string.

use super::retry::RetryPolicy;
use super::verdict::Verdict;
use baton_core::model::Claimed;
use baton_core::store::{Offer, QueueTx};
use std::future::Future;

/// A change a worker wants recorded in the same transaction as its job's outcome (e.g. the
/// manifest row of a download), or on its own at upkeep (e.g. quota use).
pub type Change = Box<dyn FnOnce(&mut dyn QueueTx) -> anyhow::Result<()> + Send>;

/// A verdict and the change to record with it.
pub struct Worked {
    /// How the attempt went.
    pub verdict: Verdict,
    /// Recorded in the same transaction as the outcome (only if the outcome is applied).
    pub record: Option<Change>,
}

impl Worked {
    /// A verdict with nothing else to record.
    pub fn verdict(verdict: Verdict) -> Worked {
        Worked {
            verdict,
            record: None,
        }
    }
}

/// What works one kind of job. The scheduler calls `admit` inside the claim transaction
/// (keep it fast, never block), `work` on a worker task, `finished` once the outcome is
/// recorded (or its job released), and `upkeep` on every heartbeat.
pub trait Worker: Send + Sync + 'static {
    /// Works one claimed job. Never panics: what it could not do is a verdict.
    fn work(&self, job: &Claimed) -> impl Future<Output = Worked> + Send;

    /// Whether to take an offered ready job now, against the worker's own caps (e.g. jobs
    /// per resolver). An admitted job holds what it took until [`Worker::finished`].
    /// Default: any job.
    fn admit(&self, offer: &Offer<'_>) -> bool {
        let _ = offer;
        true
    }

    /// A job admitted earlier is over (its outcome recorded, or its lease released).
    fn finished(&self, job: &Claimed) {
        let _ = job;
    }

    /// Periodic upkeep (every heartbeat and once at the end): a change to record, e.g. the
    /// limiter's quota use. Default: none.
    fn upkeep(&self) -> Option<Change> {
        None
    }

    /// Who decides retries for `job` (a worker of several kinds may answer per kind).
    fn retry_policy(&self, job: &Claimed) -> &RetryPolicy;
}
