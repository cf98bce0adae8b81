//! Log lines as a list: time, stream, job (a button that opens it), text; system
//! lines set apart. Keyed by the line's cursor, so following a log only adds the new
//! lines to the page.

use leptos::prelude::*;

use crate::view::state::TimeZone;
use crate::view::time::fmt_clock_ms;
use crate::workers::facts::{LogLine, LogStream};

/// A list of log lines, oldest first.
#[component]
pub fn LogLines(
    /// The lines.
    #[prop(into)]
    lines: Signal<Vec<LogLine>>,
    /// Time zone of the times.
    tz: Signal<TimeZone>,
    /// Opens a job (its id is clicked); `None` hides the job column.
    #[prop(optional)]
    on_job: Option<Callback<String>>,
    /// `data-testid` of the list.
    testid: &'static str,
) -> impl IntoView {
    view! {
        <ol class="log-lines mono" data-testid=testid data-count=move || lines.with(Vec::len).to_string()>
            // Times are plain text; a change of time zone redraws the lines (it is
            // part of the key), which keeps a reactive node per line off the page.
            <For
                each=move || {
                    let utc = tz.get() == TimeZone::Utc;
                    lines.get().into_iter().map(move |l| (utc, l))
                }
                key=|(utc, l): &(bool, LogLine)| (l.seq, l.worker_id.clone(), *utc)
                children=move |(utc, l): (bool, LogLine)| {
                    line(l, if utc { TimeZone::Utc } else { TimeZone::Local }, on_job)
                }
            />
        </ol>
    }
}

fn line(l: LogLine, tz: TimeZone, on_job: Option<Callback<String>>) -> impl IntoView {
    let stream = l.stream.as_str();
    let at = fmt_clock_ms(l.at, tz);
    let job = on_job.map(|open| {
        l.job_id.clone().map(|id| {
            let shown = short_id(&id);
            let title = format!("Open job {id}");
            view! {
                <button type="button" class="link log-job" title=title data-testid="log-job"
                    on:click=move |_| open.run(id.clone())>
                    {shown}
                </button>
            }
        })
    });
    view! {
        <li
            class="log-line"
            class:log-system=l.stream == LogStream::System
            class:log-stderr=l.stream == LogStream::Stderr
            data-testid="log-line"
            data-seq=l.seq.to_string()
        >
            <time class="log-at">{at}</time>
            <span class="log-stream">{stream}</span>
            {on_job.is_some().then(|| view! { <span class="log-job-cell">{job}</span> })}
            <span class="log-text">{l.text}</span>
        </li>
    }
}

/// The start of a long (UUID) job id, enough to tell jobs apart on screen.
fn short_id(id: &str) -> String {
    if id.len() > 13 && id.is_char_boundary(8) {
        format!("{}…", &id[..8])
    } else {
        id.to_string()
    }
}
