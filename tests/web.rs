//! Components mounted in a real browser (headless Chromium and Firefox).
#![cfg(target_arch = "wasm32")]

use std::sync::Arc;

use endpoint_core::{Aggregation, Aggregator, JobRecord, JobStatus, JobStore, Window};
use endpoint_sim::demo::{Demo, DemoConfig};
use leptos::prelude::*;
use metrics_panel::charts::now_strip::NowStrip;
use metrics_panel::charts::options::{Ctx, Palette};
use metrics_panel::charts::percentile_chart::{Metric, PercentileChart};
use metrics_panel::charts::requests_chart::RequestsChart;
use metrics_panel::feed::api::FetchError;
use metrics_panel::feed::data::{MetricsData, NowCounts, QUANTILES};
use metrics_panel::feed::engine::Engine;
use metrics_panel::feed::poll::PollState;
use metrics_panel::view::state::EndpointRef;
use metrics_panel::view::state::TimeZone;
use metrics_panel::view::status_line::StatusLine;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

/// A fresh container in the page for one test.
fn container() -> web_sys::HtmlElement {
    let doc = document();
    let el: web_sys::HtmlElement = doc.create_element("div").unwrap().unchecked_into();
    doc.body().unwrap().append_child(&el).unwrap();
    el
}

fn text(root: &web_sys::HtmlElement, testid: &str) -> String {
    root.query_selector(&format!("[data-testid=\"{testid}\"]"))
        .unwrap()
        .unwrap_or_else(|| panic!("no element with data-testid={testid}"))
        .text_content()
        .unwrap_or_default()
}

fn aggregation() -> Aggregation {
    // Three jobs in a 5-minute window: executions of 100, 300 and 5,000 ms.
    let t0 = 1_795_958_400_000;
    let w = Window::new(t0, t0 + 300_000, 60_000).unwrap();
    let mut store = JobStore::default();
    for (id, end, exec) in [
        ("a", 10_000, 100.0),
        ("b", 20_000, 300.0),
        ("c", 130_000, 5_000.0),
    ] {
        let mut r = JobRecord::queued(id, t0 + end - 6_000);
        r.status = JobStatus::Completed;
        r.started_at = Some(t0 + end - exec as i64);
        r.delay_time = Some((6_000 - exec as i64) as f64);
        r.execution_time = Some(exec);
        r.completed_at = Some(t0 + end);
        store.upsert(&r).unwrap();
    }
    Aggregator::from_store(w, &QUANTILES, &store)
        .unwrap()
        .result()
}

fn ctx() -> Ctx {
    Ctx {
        tz: TimeZone::Utc,
        now: 1_795_958_400_000 + 150_000,
        palette: Palette::default(),
    }
}

fn value(root: &web_sys::HtmlElement, testid: &str) -> String {
    root.query_selector(&format!("[data-testid=\"{testid}\"]"))
        .unwrap()
        .unwrap_or_else(|| panic!("no element with data-testid={testid}"))
        .get_attribute("data-value")
        .unwrap_or_default()
}

#[wasm_bindgen_test]
async fn percentile_summary_shows_the_window_numbers_as_text() {
    let root = container();
    let data = RwSignal::new(None::<Arc<Aggregation>>);
    let ctx = Signal::derive(ctx);
    let _handle = leptos::mount::mount_to(root.clone(), move || {
        view! { <PercentileChart metric=Metric::Execution data=data ctx=ctx /> }
    });
    leptos::task::tick().await;
    assert_eq!(text(&root, "execution-p70"), "–");
    assert_eq!(value(&root, "execution-p70"), "");

    data.set(Some(Arc::new(aggregation())));
    leptos::task::tick().await;
    // numpy: np.percentile([100, 300, 5000], [70, 90, 98]) = [2180, 4060, 4812]
    let num = |id: &str| value(&root, id).parse::<f64>().unwrap();
    // Same definition as numpy, to rounding (docs/metrics.md: within 1e-12 relative).
    assert!((num("execution-p70") - 2180.0).abs() < 1e-9);
    assert!((num("execution-p90") - 4060.0).abs() < 1e-9);
    assert!((num("execution-p98") - 4812.0).abs() < 1e-9);
    assert_eq!(text(&root, "execution-p70"), "2.18 s");
    assert_eq!(text(&root, "execution-count"), "3");
}

#[wasm_bindgen_test]
async fn requests_totals_and_now_counts_follow_updates() {
    let root = container();
    let data = RwSignal::new(Some(Arc::new(aggregation())));
    let now = RwSignal::new(None::<NowCounts>);
    let ctx = Signal::derive(ctx);
    let _handle = leptos::mount::mount_to(root.clone(), move || {
        view! {
            <NowStrip now=now />
            <RequestsChart data=data ctx=ctx />
        }
    });
    leptos::task::tick().await;
    assert_eq!(text(&root, "total-received"), "3");
    assert_eq!(text(&root, "total-completed"), "3");
    assert_eq!(text(&root, "total-failed"), "0");
    assert_eq!(text(&root, "stat-in-queue"), "–");
    now.set(Some(NowCounts {
        in_queue: 1_234,
        in_progress: 2,
        workers: [3, 1, 0, 0, 0, 0],
    }));
    leptos::task::tick().await;
    assert_eq!(text(&root, "stat-in-queue"), "1,234");
    assert_eq!(text(&root, "stat-workers-running"), "3");
    assert_eq!(text(&root, "stat-workers-idle"), "1");
}

#[wasm_bindgen_test]
fn the_demo_endpoint_runs_in_the_browser_and_merges_like_a_snapshot() {
    let now = 1_800_000_000_000;
    let mut demo = Demo::new(
        1,
        now,
        DemoConfig {
            history_ms: 2 * 3_600_000,
            ..DemoConfig::default()
        },
    );
    let w = Window::new(now - 3_600_000, now + 600_000, 60_000).unwrap();
    let mut d = MetricsData::from_snapshot(demo.snapshot(w.from, w.to), w, now);
    demo.advance(now + 300_000);
    d.merge(&demo.changes_since(d.cursor(), 100_000).unwrap())
        .unwrap();
    let fresh = MetricsData::from_snapshot(demo.snapshot(w.from, w.to), w, now + 300_000).result();
    let got = d.result();
    assert!(got.total.requests.received > 1_000);
    assert_eq!(got, fresh);
}

#[wasm_bindgen_test]
async fn status_line_goes_live_then_stale_with_the_cause_then_recovers() {
    let root = container();
    let state = RwSignal::new(PollState::default());
    let paused = RwSignal::new(false);
    let _handle = leptos::mount::mount_to(
        root.clone(),
        move || view! { <StatusLine state=state paused=paused /> },
    );
    leptos::task::tick().await;
    assert_eq!(text(&root, "poll-state"), "Loading…");

    state.update(|s| s.record_ok(js_sys::Date::now()));
    leptos::task::tick().await;
    assert_eq!(text(&root, "poll-state"), "Live");
    assert!(text(&root, "poll-status").contains("updated "));

    state.update(|s| {
        s.record_err(
            js_sys::Date::now(),
            FetchError::Http {
                status: 503,
                message: "draining".into(),
                retry_after_s: None,
            },
        )
    });
    leptos::task::tick().await;
    assert_eq!(text(&root, "poll-state"), "Stale");
    let err = text(&root, "poll-error");
    assert!(err.contains("HTTP 503: server error: draining"), "{err}");
    assert!(err.contains("last good data"), "{err}");

    state.update(|s| s.record_ok(js_sys::Date::now()));
    leptos::task::tick().await;
    assert_eq!(text(&root, "poll-state"), "Live");
    // With auto-refresh off the numbers are not live.
    paused.set(true);
    leptos::task::tick().await;
    assert_eq!(text(&root, "poll-state"), "Paused");
    paused.set(false);
    leptos::task::tick().await;
    assert!(
        root.query_selector("[data-testid=\"poll-error\"]")
            .unwrap()
            .is_none()
    );
}

#[wasm_bindgen_test]
async fn chart_without_echarts_says_so_instead_of_crashing() {
    // The test page does not load echarts.min.js: the chart must degrade to a message.
    let root = container();
    let data = RwSignal::new(None::<Arc<Aggregation>>);
    let ctx = Signal::derive(ctx);
    let _handle = leptos::mount::mount_to(root.clone(), move || {
        view! { <RequestsChart data=data ctx=ctx /> }
    });
    data.set(Some(Arc::new(aggregation())));
    // A chart's first drawing runs in a task of its own.
    settle().await;
    let alert = root
        .query_selector("[role=alert]")
        .unwrap()
        .expect("an alert about the missing chart library");
    assert!(
        alert
            .text_content()
            .unwrap()
            .contains("ECharts did not load")
    );
    assert_eq!(text(&root, "total-received"), "3", "the numbers stay");
}

/// A Demo endpoint's day in MetricsData, as the panel holds it.
fn demo_data() -> MetricsData {
    let now = 1_795_958_400_000;
    let demo = Demo::new(7, now, DemoConfig::default());
    let w = Window::new(now - 3_600_000, now + 15_000, 15_000).unwrap();
    MetricsData::from_snapshot(demo.snapshot(w.from, w.to), w, now)
}

#[wasm_bindgen_test]
fn job_list_logic_filters_sorts_and_counts_in_wasm() {
    use endpoint_core::query::{Column, Sort, StatusSet};
    use metrics_panel::jobs::view::JobsView;
    let d = demo_data();
    let all = d.list(&JobsView::default());
    assert!(
        all.rows.len() > 500,
        "an hour of Demo traffic: {}",
        all.rows.len()
    );
    assert_eq!(all.counts.iter().sum::<u64>() as usize, all.rows.len());
    // Newest first by default.
    let s = d.store();
    assert!(
        all.rows
            .windows(2)
            .all(|w| s.row(w[0]).submitted_at >= s.row(w[1]).submitted_at)
    );
    // Failed only, longest execution first: the chip's count, every row failed.
    let failed = d.list(&JobsView {
        statuses: StatusSet::only(JobStatus::Failed),
        sort: Sort {
            column: Column::Execution,
            descending: true,
        },
        ..JobsView::default()
    });
    assert_eq!(failed.rows.len() as u64, all.counts[3]);
    assert!(
        failed
            .rows
            .iter()
            .all(|&r| s.row(r).status == JobStatus::Failed)
    );
    let ex: Vec<u32> = failed
        .rows
        .iter()
        .filter_map(|&r| s.row(r).execution)
        .collect();
    assert!(
        ex.windows(2).all(|w| w[0] >= w[1]),
        "sorted by execution, descending"
    );
    // An id prefix finds the job.
    let id = s.id(all.rows[17]);
    let found = d.list(&JobsView {
        search: id[..13].to_uppercase(),
        ..JobsView::default()
    });
    assert!(found.rows.contains(&all.rows[17]));
    assert!(found.rows.iter().all(|&r| s.id(r).starts_with(&id[..13])));
}

#[wasm_bindgen_test]
async fn jobs_tab_lists_counts_sorts_and_opens_a_job() {
    use metrics_panel::feed::live::Feed;
    use metrics_panel::jobs::jobs_tab::JobsTab;
    use metrics_panel::view::state::{Tab, ViewState};
    let root = container();
    // The panel's stylesheet bounds the scroller; the test page has none.
    root.set_inner_html("<style>.job-scroll{height:400px;overflow-y:auto}</style>");
    let data = demo_data();
    let total = data.list(&Default::default()).rows.len();
    let failed = data.list(&Default::default()).counts[3];
    let newest = data.store().id(data.list(&Default::default()).rows[0]);
    let feed_slot = std::rc::Rc::new(std::cell::RefCell::new(None::<(Feed, RwSignal<ViewState>)>));
    let slot = feed_slot.clone();
    let _handle = leptos::mount::mount_to(root.clone(), move || {
        let feed = Feed::with_engine(Engine::with_records(EndpointRef::Demo, demo_data()));
        feed.version.set(1);
        let view = RwSignal::new(ViewState {
            tab: Tab::Jobs,
            ..ViewState::default()
        });
        *slot.borrow_mut() = Some((feed, view));
        view! { <JobsTab view=view feed=feed /> }
    });
    settle().await;
    let count = |root: &web_sys::HtmlElement| {
        root.query_selector("[data-testid=\"job-count\"]")
            .unwrap()
            .unwrap()
            .get_attribute("data-value")
            .unwrap()
    };
    assert_eq!(count(&root), total.to_string());
    let rows = root
        .query_selector_all("[data-testid=\"job-row\"]")
        .unwrap();
    assert!(
        rows.length() > 0 && (rows.length() as usize) < total,
        "virtualised: {} of {total}",
        rows.length()
    );
    let first: web_sys::Element = rows.get(0).unwrap().unchecked_into();
    assert_eq!(first.get_attribute("data-id").unwrap(), newest);
    assert_eq!(
        text(&root, "chip-FAILED"),
        format!("FAILED {}", metrics_panel::view::time::fmt_count(failed))
    );
    // Turn every chip but FAILED off through the URL state: the list follows.
    let (_, view) = (*feed_slot.borrow()).unwrap();
    view.update(|v| v.jobs.statuses = endpoint_core::query::StatusSet::only(JobStatus::Failed));
    settle().await;
    assert_eq!(count(&root), failed.to_string());
    // Open the first job: the detail and its timeline appear.
    let open: web_sys::HtmlElement = root
        .query_selector("[data-testid=\"job-open\"]")
        .unwrap()
        .unwrap()
        .unchecked_into();
    open.click();
    settle().await;
    let steps = root.query_selector_all("[data-testid=\"step\"]").unwrap();
    assert!(
        steps.length() >= 3,
        "queued, running, failed: {}",
        steps.length()
    );
    assert_eq!(text(&root, "detail-status"), "FAILED");
}

/// Lets the engine answer the page's questions (asynchronous, even on the page)
/// and the page draw the answers.
async fn settle() {
    for _ in 0..6 {
        leptos::task::tick().await;
        gloo_timers::future::TimeoutFuture::new(0).await;
    }
}

/// Waits (a few seconds at most) until `testid` is in `root`.
async fn wait_for(root: &web_sys::HtmlElement, selector: &str) -> web_sys::Element {
    for _ in 0..200 {
        settle().await;
        if let Some(el) = root.query_selector(selector).unwrap() {
            return el;
        }
        gloo_timers::future::TimeoutFuture::new(25).await;
    }
    panic!("nothing matches {selector}");
}

#[wasm_bindgen_test]
async fn workers_tab_draws_lanes_and_a_job_block_opens_its_job() {
    use metrics_panel::feed::live::Feed;
    use metrics_panel::view::state::{Tab, ViewState};
    use metrics_panel::workers::workers_tab::WorkersTab;
    let root = container();
    let slot = std::rc::Rc::new(std::cell::RefCell::new(None::<RwSignal<ViewState>>));
    let s = slot.clone();
    let _handle = leptos::mount::mount_to(root.clone(), move || {
        let feed = Feed::with_engine(Engine::with_records(EndpointRef::Demo, demo_data()));
        feed.at.set(1_795_958_400_000);
        feed.version.set(1);
        let view = RwSignal::new(ViewState {
            tab: Tab::Workers,
            ..ViewState::default()
        });
        *s.borrow_mut() = Some(view);
        view! { <WorkersTab view=view feed=feed /> }
    });
    settle().await;
    let view = slot.borrow().unwrap();
    let lanes = root
        .query_selector_all("[data-testid=\"worker-lane\"]")
        .unwrap();
    assert!(lanes.length() > 1, "lanes: {}", lanes.length());
    assert!(lanes.length() <= 80, "capped: {}", lanes.length());
    let count = root
        .query_selector("[data-testid=\"worker-count\"]")
        .unwrap()
        .unwrap();
    assert_eq!(
        count.get_attribute("data-value").unwrap(),
        lanes.length().to_string()
    );
    // Every lane has state segments, drawn with a state class and CSSOM positions.
    let names = [
        "initializing",
        "idle",
        "running",
        "throttled",
        "outdated",
        "unhealthy",
    ];
    for i in 0..lanes.length() {
        let lane: web_sys::Element = lanes.get(i).unwrap().unchecked_into();
        let segs = lane
            .query_selector_all("[data-testid=\"worker-segment\"]")
            .unwrap();
        assert!(segs.length() > 0, "lane {i} has no state segment");
        let seg: web_sys::HtmlElement = segs.get(0).unwrap().unchecked_into();
        assert!(names.contains(&seg.get_attribute("data-state").unwrap().as_str()));
        assert!(
            seg.style()
                .get_property_value("width")
                .unwrap()
                .ends_with('%')
        );
        assert!(
            seg.get_attribute("style").is_some(),
            "set through the CSSOM"
        );
    }
    let seen: std::collections::HashSet<String> = (0..lanes.length())
        .flat_map(|i| {
            let lane: web_sys::Element = lanes.get(i).unwrap().unchecked_into();
            let segs = lane
                .query_selector_all("[data-testid=\"worker-segment\"]")
                .unwrap();
            (0..segs.length())
                .map(|j| {
                    let e: web_sys::Element = segs.get(j).unwrap().unchecked_into();
                    e.get_attribute("data-state").unwrap()
                })
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(
        seen.contains("idle") && seen.contains("running"),
        "{seen:?}"
    );
    // A job block opens its job in the job list.
    let block: web_sys::HtmlElement = root
        .query_selector("[data-testid=\"worker-job\"]")
        .unwrap()
        .expect("job blocks on the lanes")
        .unchecked_into();
    let id = block.get_attribute("data-job").unwrap();
    block.click();
    settle().await;
    view.with_untracked(|v| {
        assert_eq!(v.jobs.job.as_deref(), Some(id.as_str()));
        assert_eq!(v.tab, Tab::Jobs);
    });
}

#[wasm_bindgen_test]
async fn a_demo_worker_shows_derived_facts_and_simulated_lines() {
    use metrics_panel::feed::live::Feed;
    use metrics_panel::feed::source::Source;
    use metrics_panel::view::state::{Tab, ViewState};
    use metrics_panel::workers::workers_tab::WorkersTab;
    let now = 1_795_958_400_000;
    let demo = Demo::new(
        3,
        now,
        DemoConfig {
            history_ms: 3_600_000,
            ..DemoConfig::default()
        },
    );
    let w = Window::new(now - 3_600_000, now + 15_000, 15_000).unwrap();
    let data = MetricsData::from_snapshot(demo.snapshot(w.from, w.to), w, now);
    let demo = metrics_panel::feed::engine::demo_here(
        metrics_panel::feed::demo::DemoHost::from_demo(demo),
    );
    let root = container();
    let slot = std::rc::Rc::new(std::cell::RefCell::new(None::<RwSignal<ViewState>>));
    let s = slot.clone();
    let _handle = leptos::mount::mount_to(root.clone(), move || {
        let feed = Feed::with_engine(Engine::with_records(EndpointRef::Demo, data));
        *feed.source.get_value().borrow_mut() = Some(Source::Demo(demo));
        // What the poll loop sets after a refresh.
        feed.window.set(Some(w));
        feed.at.set(now);
        feed.version.set(1);
        let view = RwSignal::new(ViewState {
            tab: Tab::Workers,
            ..ViewState::default()
        });
        *s.borrow_mut() = Some(view);
        view! { <WorkersTab view=view feed=feed /> }
    });
    settle().await;
    let view = slot.borrow().unwrap();
    // The busiest lane: the one with the most job blocks.
    let lanes = root
        .query_selector_all("[data-testid=\"worker-lane\"]")
        .unwrap();
    let busiest: web_sys::Element = (0..lanes.length())
        .map(|i| -> web_sys::Element { lanes.get(i).unwrap().unchecked_into() })
        .max_by_key(|l| {
            l.query_selector_all("[data-testid=\"worker-job\"]")
                .unwrap()
                .length()
        })
        .unwrap();
    let worker = busiest.get_attribute("data-worker").unwrap();
    let name: web_sys::HtmlElement = busiest
        .query_selector("[data-testid=\"worker-name\"]")
        .unwrap()
        .unwrap()
        .unchecked_into();
    name.click();
    settle().await;
    assert_eq!(
        view.with_untracked(|v| v.worker.clone()),
        Some(worker.clone())
    );
    assert_eq!(text(&root, "worker-id"), worker);
    // Facts derived from the Demo's records, labelled as simulated.
    wait_for(&root, "[data-testid=\"worker-state\"]").await;
    let facts = text(&root, "worker-facts");
    assert!(facts.contains("Jobs done"), "{facts}");
    assert!(text(&root, "facts-note").contains("the Demo has no processes"));
    // Its made-up lines, labelled too; a job id in them opens the job.
    wait_for(&root, "[data-testid=\"log-line\"]").await;
    assert!(text(&root, "simulated-lines").starts_with("Simulated lines"));
    let logs = text(&root, "worker-log-lines");
    assert!(logs.contains("| Started."), "{logs}");
    let job: web_sys::HtmlElement = root
        .query_selector("[data-testid=\"log-job\"]")
        .unwrap()
        .expect("a job id in the lines")
        .unchecked_into();
    job.click();
    settle().await;
    view.with_untracked(|v| {
        assert!(v.jobs.job.is_some());
        assert_eq!(v.tab, Tab::Jobs);
    });
}
