//! Components mounted in a real browser (headless Chromium and Firefox).
#![cfg(target_arch = "wasm32")]

use endpoint_core::Health;
use leptos::prelude::*;
use metrics_panel::api::FetchError;
use metrics_panel::components::health_chart::HealthChart;
use metrics_panel::components::health_summary::HealthSummary;
use metrics_panel::components::status_line::StatusLine;
use metrics_panel::history::HealthHistory;
use metrics_panel::poll::PollState;
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

#[wasm_bindgen_test]
async fn summary_shows_dashes_then_the_counts_and_follows_updates() {
    let root = container();
    let health = RwSignal::new(None::<Health>);
    let _handle = leptos::mount::mount_to(
        root.clone(),
        move || view! { <HealthSummary health=health /> },
    );
    leptos::task::tick().await;
    assert_eq!(text(&root, "stat-in-queue"), "–");

    let mut h = Health::default();
    h.jobs.in_queue = 12;
    h.jobs.completed = 40;
    h.workers.running = 3;
    health.set(Some(h.clone()));
    leptos::task::tick().await;
    assert_eq!(text(&root, "stat-in-queue"), "12");
    assert_eq!(text(&root, "stat-completed"), "40");
    assert_eq!(text(&root, "stat-workers-running"), "3");
    assert_eq!(text(&root, "stat-workers-idle"), "0");

    h.jobs.in_queue = 0;
    health.set(Some(h));
    leptos::task::tick().await;
    assert_eq!(text(&root, "stat-in-queue"), "0");
}

#[wasm_bindgen_test]
async fn status_line_goes_live_then_stale_with_the_cause_then_recovers() {
    let root = container();
    let state = RwSignal::new(PollState::default());
    let _handle =
        leptos::mount::mount_to(root.clone(), move || view! { <StatusLine state=state /> });
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
    let history = RwSignal::new(HealthHistory::new(10));
    let _handle = leptos::mount::mount_to(
        root.clone(),
        move || view! { <HealthChart history=history /> },
    );
    history.update(|h| h.push(1.0, Health::default()));
    leptos::task::tick().await;
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
    assert!(root.query_selector("#health-chart").unwrap().is_some());
}
