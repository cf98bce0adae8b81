//! What the job list's parts share: the view, the feed, the selection, the actions
//! in flight and the question on screen.

use std::collections::{HashMap, HashSet};

use endpoint_core::JobStatus;
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::embed::config::Features;
use crate::feed::live::Feed;
use crate::feed::source::Source;
use crate::jobs::actions::{self, BulkProgress, RowAction};
use crate::view::state::ViewState;

/// A question waiting for the user's yes.
#[derive(Clone)]
pub struct Confirm {
    /// The question.
    pub text: String,
    /// The button that says yes, e.g. "Cancel 50 jobs".
    pub yes: String,
    /// What yes does.
    pub action: Callback<()>,
}

/// What the job list's parts share.
#[derive(Clone, Copy)]
pub struct JobsCtx {
    /// The page's view (filters, sort, open job live in it).
    pub view: RwSignal<ViewState>,
    /// The feed (records, source).
    pub feed: Feed,
    /// Selected job ids.
    pub selected: RwSignal<HashSet<String>>,
    /// Each job's action state.
    pub actions: RwSignal<HashMap<String, RowAction>>,
    /// The question on screen.
    pub confirm: RwSignal<Option<Confirm>>,
    /// The last message about an action.
    pub notice: RwSignal<Option<String>>,
    /// A bulk cancel's progress.
    pub bulk: RwSignal<Option<BulkProgress>>,
    /// Which actions are shown (config.json `features`).
    pub features: Features,
}

impl JobsCtx {
    /// Cancels job `id` (after the confirmation); a second call while the first is in
    /// flight sends nothing.
    pub fn cancel(self, id: String) {
        self.act(id, RowAction::Cancelling, |src, id| async move {
            actions::cancel_outcome(&id, &src.cancel(&id).await)
        });
    }

    /// Retries job `id` (FAILED or TIMED_OUT), likewise.
    pub fn retry(self, id: String) {
        self.act(id, RowAction::Retrying, |src, id| async move {
            actions::retry_outcome(&id, &src.retry(&id).await)
        });
    }

    /// One action on job `id`: the row shows `pending` until `send` gives the
    /// outcome, which the row and the notice then show; the feed refreshes at once.
    fn act<F, Fut>(self, id: String, pending: RowAction, send: F)
    where
        F: FnOnce(Source, String) -> Fut + 'static,
        Fut: std::future::Future<Output = RowAction> + 'static,
    {
        if self
            .actions
            .with_untracked(|a| a.get(&id).is_some_and(RowAction::pending))
        {
            return;
        }
        let Some(src) = self.feed.current_source() else {
            return;
        };
        self.actions.update(|a| drop(a.insert(id.clone(), pending)));
        spawn_local(async move {
            let outcome = send(src, id.clone()).await;
            self.notice.set(Some(match &outcome {
                RowAction::Done { message, .. } => format!("Job {id} {message}."),
                RowAction::Failed(m) => m.clone(),
                _ => String::new(),
            }));
            self.actions.update(|a| drop(a.insert(id, outcome)));
            self.feed.refresh_now();
        });
    }

    /// Whether a job in `status` gets a Cancel button (queued or running, the portal
    /// allows it, and the key may act). Reactive: it follows the key's role.
    pub fn can_cancel(&self, status: JobStatus) -> bool {
        self.features.cancel && !status.is_terminal() && self.feed.may_operate()
    }

    /// Whether a job in `status` gets a Retry button.
    pub fn can_retry(&self, status: JobStatus) -> bool {
        self.features.retry && status.is_retryable() && self.feed.may_operate()
    }

    /// Whether the bulk cancel is offered.
    pub fn can_bulk_cancel(&self) -> bool {
        self.features.cancel && self.feed.may_operate()
    }

    /// Whether Purge queue is offered.
    pub fn can_purge(&self) -> bool {
        self.features.purge && self.feed.may_operate()
    }

    /// True when the key is known to be read-only (the list says why it shows no
    /// actions).
    pub fn read_only(&self) -> bool {
        self.feed.role.get() == Some(crate::feed::api::KeyRole::Read)
    }

    /// Asks, then cancels job `id`.
    pub fn ask_cancel(self, id: String, status: JobStatus) {
        let what = if status == JobStatus::InProgress {
            "It stops on its worker."
        } else {
            "It leaves the queue."
        };
        self.confirm.set(Some(Confirm {
            text: format!("Cancel job {id}? {what}"),
            yes: "Cancel job".into(),
            action: Callback::new(move |_| self.cancel(id.clone())),
        }));
    }

    /// Asks, then retries job `id`.
    pub fn ask_retry(self, id: String) {
        self.confirm.set(Some(Confirm {
            text: format!("Retry job {id}? It is queued again with the same input."),
            yes: "Retry job".into(),
            action: Callback::new(move |_| self.retry(id.clone())),
        }));
    }
}
