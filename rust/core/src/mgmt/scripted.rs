//! A [`Management`] port for unit tests: each call takes the next answer given for its method
//! (the last one repeats), and the calls are counted. It plays no Sentry: tests say what each
//! call answers, so that the core's waits can run on tokio's paused time.

use std::collections::HashMap;
use std::sync::Mutex;

use futures_util::future::BoxFuture;

use super::models::{KeyDsn, Project, ProjectKey};
use super::{Management, MgmtError};
use crate::slug::Slug;

#[derive(Debug, Clone)]
pub enum Reply {
    Keys(Vec<ProjectKey>),
    Projects(Vec<Project>),
    Team(Option<Slug>),
    Done,
    Failed(MgmtError),
}

#[derive(Debug, Default)]
pub struct Scripted {
    replies: Mutex<HashMap<&'static str, Vec<Reply>>>,
    calls: Mutex<HashMap<&'static str, usize>>,
    /// Every `create_project` call: (slug, platform).
    created: Mutex<Vec<(String, String)>>,
}

impl Scripted {
    /// Answers the calls of `method`, in order; the last answer repeats.
    pub fn answer(self, method: &'static str, replies: Vec<Reply>) -> Scripted {
        self.replies.lock().unwrap().insert(method, replies);
        self
    }

    pub fn calls(&self, method: &str) -> usize {
        self.calls.lock().unwrap().get(method).copied().unwrap_or(0)
    }

    /// The (slug, platform) of every `create_project` call, in order.
    pub fn created(&self) -> Vec<(String, String)> {
        self.created.lock().unwrap().clone()
    }

    fn next(&self, method: &'static str) -> Reply {
        *self.calls.lock().unwrap().entry(method).or_default() += 1;
        let mut replies = self.replies.lock().unwrap();
        let queue = replies.entry(method).or_default();
        match queue.len() {
            0 => Reply::Failed(MgmtError::Transport(format!("no answer for {method}"))),
            1 => queue[0].clone(),
            _ => queue.remove(0),
        }
    }

    fn reply<T>(&self, method: &'static str, pick: fn(Reply) -> Option<T>) -> Result<T, MgmtError> {
        match self.next(method) {
            Reply::Failed(e) => Err(e),
            reply => pick(reply).ok_or_else(|| MgmtError::BadBody(method.into())),
        }
    }
}

impl Management for Scripted {
    fn project_keys<'a>(
        &'a self,
        _slug: &'a Slug,
    ) -> BoxFuture<'a, Result<Vec<ProjectKey>, MgmtError>> {
        let keys = |r| match r {
            Reply::Keys(k) => Some(k),
            _ => None,
        };
        let result = self.reply("project_keys", keys);
        Box::pin(async move { result })
    }

    fn organization(&self) -> BoxFuture<'_, Result<(), MgmtError>> {
        let result = self.reply("organization", |r| matches!(r, Reply::Done).then_some(()));
        Box::pin(async move { result })
    }

    fn projects(&self) -> BoxFuture<'_, Result<Vec<Project>, MgmtError>> {
        let projects = |r| match r {
            Reply::Projects(p) => Some(p),
            _ => None,
        };
        let result = self.reply("projects", projects);
        Box::pin(async move { result })
    }

    fn org_project_keys(&self) -> BoxFuture<'_, Result<Vec<ProjectKey>, MgmtError>> {
        let keys = |r| match r {
            Reply::Keys(k) => Some(k),
            _ => None,
        };
        let result = self.reply("org_project_keys", keys);
        Box::pin(async move { result })
    }

    fn first_team(&self) -> BoxFuture<'_, Result<Option<Slug>, MgmtError>> {
        let team = |r| match r {
            Reply::Team(t) => Some(t),
            _ => None,
        };
        let result = self.reply("first_team", team);
        Box::pin(async move { result })
    }

    fn create_project<'a>(
        &'a self,
        _team: &'a Slug,
        slug: &'a Slug,
        platform: &'a str,
    ) -> BoxFuture<'a, Result<(), MgmtError>> {
        let call = (slug.as_str().to_owned(), platform.to_owned());
        self.created.lock().unwrap().push(call);
        let result = self.reply("create_project", |r| matches!(r, Reply::Done).then_some(()));
        Box::pin(async move { result })
    }
}

/// The one active key of project `id`, as the management API lists it.
pub fn keys(id: u64) -> Vec<ProjectKey> {
    vec![ProjectKey {
        public: Some(format!("{id:032x}")),
        project_id: Some(id),
        is_active: true,
        dsn: KeyDsn {
            public: format!("http://k@127.0.0.1:1/{id}"),
            otlp_traces: None,
            otlp_logs: None,
        },
    }]
}
