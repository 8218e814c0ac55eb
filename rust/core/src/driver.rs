//! Runs any [`Payload`]: the jobs of its plan (each a pure state machine, [`crate::job`]) are
//! done against the ports (the resolver for endpoints, the creator of projects, the payload's
//! transport), a panic kept to its job, and their outcomes handed back to the payload to
//! settle. It decides nothing: the jobs and the payloads' settle rules do.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures_util::future::BoxFuture;
use futures_util::stream::{self, StreamExt};
use futures_util::FutureExt;

use crate::autocreate::{Admission, AutoCreator};
use crate::clock::Clock;
use crate::deadline::Deadline;
use crate::ingest::{Answer, Piece, Transport};
use crate::job::{Action, Event, Job, Resolved};
use crate::log::{panic_message, Level, Logger};
use crate::outcome::{Counted, Outcome};
use crate::payload::{Panicked, Part, Payload, Planned, Ran};
use crate::ratelimit::RateLimits;
use crate::resolve::EndpointSource;
use crate::signal::Signal;
use crate::slug::Slug;

/// Projects of one batch (or of one round of retries) run at the same time.
pub const MAX_CONCURRENT_PROJECTS: usize = 16;

/// The ports every job is run against.
pub struct Driver {
    pub resolver: EndpointSource,
    /// `None` in `dsn` mode.
    pub autocreate: Option<Arc<AutoCreator>>,
    pub limits: Arc<RateLimits>,
    pub clock: Arc<dyn Clock>,
    pub logger: Logger,
}

impl Driver {
    /// `payload`'s plan for `slug` run, its jobs `concurrency` at a time, and settled.
    pub async fn run<P: Payload>(
        &self,
        payload: &P,
        slug: &Slug,
        planned: Planned<P>,
        deadline: &Deadline,
    ) -> Vec<Counted> {
        let Planned {
            jobs,
            concurrency,
            plan,
        } = planned;
        let transport = payload.transport();
        let ran: Vec<Ran<P::Piece>> = stream::iter(jobs)
            .map(|job| self.contained(slug, job, transport, deadline))
            .buffered(concurrency.max(1))
            .collect()
            .await;
        payload.settle(plan, ran, self.clock.now())
    }

    /// [`Driver::run_job`], with a panic kept to this job: logged, and handed to the payload.
    async fn contained<P: Piece>(
        &self,
        slug: &Slug,
        job: Job<P>,
        transport: &dyn Transport<P>,
        deadline: &Deadline,
    ) -> Ran<P> {
        let work = self.run_job(slug, job, transport, deadline);
        AssertUnwindSafe(work)
            .catch_unwind()
            .await
            .map_err(|payload| {
                let reason = panic_message(&*payload).to_owned();
                let problem = format!("project {slug}: the exporter panicked: {reason}");
                self.logger.log(Level::Error, problem);
                Panicked(reason)
            })
    }

    /// Does what `job` asks until it is done: lookups, creations and sends, each within
    /// `deadline`.
    pub async fn run_job<P: Piece>(
        &self,
        slug: &Slug,
        mut job: Job<P>,
        transport: &dyn Transport<P>,
        deadline: &Deadline,
    ) -> Vec<Outcome<P>> {
        let mut event = Event::Start;
        loop {
            event = match job.step(event, self.clock.now(), &self.limits) {
                Action::LookUp => Event::LookedUp(self.resolve(slug, deadline).await),
                Action::LookUpAgain { stale } => {
                    self.resolver.evict(slug, &stale).await;
                    Event::LookedUp(self.resolve(slug, deadline).await)
                }
                Action::RequestCreation { platform } => Event::Admitted(match &self.autocreate {
                    Some(creator) => creator.request(slug, platform, self.clock.now()),
                    None => Admission::Off,
                }),
                Action::Send { endpoint, piece } => {
                    #[cfg(feature = "fault-injection")]
                    injected_panic(slug);
                    let send = transport.send(endpoint, piece);
                    Event::Answered(deadline.within(send).await.unwrap_or_else(|_| {
                        // Cut off, the request may have reached Sentry: as no answer in time.
                        let reason = "export timeout reached while sending".into();
                        Answer::TimedOut { reason }
                    }))
                }
                Action::Done(outcomes) => return outcomes,
            }
        }
    }

    async fn resolve(&self, slug: &Slug, deadline: &Deadline) -> Resolved {
        let found = deadline.within(self.resolver.resolve(slug)).await;
        found.unwrap_or(Resolved::DeadlineReached)
    }
}

/// Any payload, as the exporter holds it: the same driving for every kind.
pub trait Exports: Send + Sync {
    /// Whether it makes pieces of batches of `signal`.
    fn takes(&self, signal: Signal) -> bool;

    /// `part` planned, run and settled.
    fn export<'a>(
        &'a self,
        driver: &'a Driver,
        part: &'a Part<'a>,
        deadline: &'a Deadline,
    ) -> BoxFuture<'a, Vec<Counted>>;

    /// What it keeps to send again itself, due now, run and settled.
    fn retry_due<'a>(
        &'a self,
        driver: &'a Driver,
        deadline: &'a Deadline,
    ) -> BoxFuture<'a, Vec<(Slug, Counted)>>;

    /// The exporter stops: what it still keeps, dropped.
    fn abandon(&self) -> Vec<(Slug, Counted)>;
}

impl<P: Payload> Exports for P {
    fn takes(&self, signal: Signal) -> bool {
        Payload::takes(self, signal)
    }

    fn export<'a>(
        &'a self,
        driver: &'a Driver,
        part: &'a Part<'a>,
        deadline: &'a Deadline,
    ) -> BoxFuture<'a, Vec<Counted>> {
        Box::pin(async move {
            let (now, wall) = (driver.clock.now(), driver.clock.wall());
            let planned = self.plan(part, now, wall).await;
            driver.run(self, part.slug, planned, deadline).await
        })
    }

    fn retry_due<'a>(
        &'a self,
        driver: &'a Driver,
        deadline: &'a Deadline,
    ) -> BoxFuture<'a, Vec<(Slug, Counted)>> {
        Box::pin(async move {
            let due = self.due(driver.clock.now());
            let ran: Vec<_> = stream::iter(due)
                .map(|(slug, planned)| async move {
                    let counted = driver.run(self, &slug, planned, deadline).await;
                    counted.into_iter().map(move |c| (slug.clone(), c))
                })
                .buffer_unordered(MAX_CONCURRENT_PROJECTS)
                .collect()
                .await;
            ran.into_iter().flatten().collect()
        })
    }

    fn abandon(&self) -> Vec<(Slug, Counted)> {
        Payload::abandon(self)
    }
}

/// Test-only hook (feature `fault-injection`, absent from release builds): a panic deep inside
/// an export, after a lookup, while the batch's other projects are in flight.
#[cfg(feature = "fault-injection")]
fn injected_panic(slug: &Slug) {
    if slug.as_str() == "fault-injection-panic" {
        panic!("injected panic (fault-injection) in the export of project {slug}");
    }
}
