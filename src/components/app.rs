//! The page: header, controls, the Metrics tab and Settings; the view lives in the URL.

use leptos::prelude::*;

use crate::chart_options::{Ctx, Palette};
use crate::components::chart_card::PickTarget;
use crate::components::controls::Controls;
use crate::components::jobs_tab::JobsTab;
use crate::components::metrics_tab::{Feed, MetricsTab, follow};
use crate::components::settings_view::SettingsView;
use crate::components::status_line::StatusLine;
use crate::job_view::Pick;
use crate::settings;
use crate::view_state::{EndpointRef, Tab, Theme, ViewState};

/// The whole app, its view read from (and written back to) the page URL.
#[component]
pub fn App() -> impl IntoView {
    let query = window().location().search().unwrap_or_default();
    let (initial, warnings) = ViewState::from_query(&query);
    let view = RwSignal::new(initial);
    let saved = RwSignal::new(settings::saved_endpoints());
    let key_version = RwSignal::new(0u32);
    let scheme_version = RwSignal::new(0u32);

    // URL <- view (replaceState: the back button is not flooded with every click).
    Effect::new(move |_| {
        let q = view.with(ViewState::to_query);
        let loc = window().location();
        let url = format!("{}{}", loc.pathname().unwrap_or_default(), q);
        if loc.search().unwrap_or_default() != q
            && let Ok(h) = window().history()
        {
            let _ = h.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&url));
        }
    });
    // Theme -> <html data-theme>; "system" leaves it to prefers-color-scheme.
    Effect::new(move |_| {
        let theme = view.with(|v| v.theme);
        if let Some(root) = document().document_element() {
            let _ = match theme {
                Theme::System => root.remove_attribute("data-theme"),
                t => root.set_attribute("data-theme", t.as_str()),
            };
        }
        scheme_version.update(|v| *v += 1);
    });
    watch_system_scheme(scheme_version);

    // A click on a chart point opens the job list on the jobs behind it.
    provide_context(PickTarget(Callback::new(move |p: Pick| {
        view.update(|v| {
            v.jobs.focus = Some(p.focus);
            v.jobs.statuses = p.statuses;
            v.jobs.search.clear();
            v.jobs.job = None;
            v.tab = Tab::Jobs;
        })
    })));
    let feed = Feed::new();
    follow(view, key_version.into(), feed);

    // getComputedStyle only when the theme or the system scheme changes, not on
    // every refresh.
    let palette = Memo::new(move |_| {
        scheme_version.get();
        read_palette()
    });
    let ctx = Signal::derive(move || Ctx {
        tz: view.with(|v| v.tz),
        now: feed.at.get(),
        palette: palette.get(),
    });
    let endpoints = Signal::derive(move || {
        let mut list = vec![EndpointRef::Demo];
        list.extend(saved.get());
        let current = view.with(|v| v.endpoint.clone());
        if !list.contains(&current) {
            list.push(current);
        }
        list
    });
    let is_demo = move || view.with(|v| v.endpoint == EndpointRef::Demo);
    let tab = move || view.with(|v| v.tab);
    let open = Callback::new(move |e: EndpointRef| {
        view.update(|v| {
            v.endpoint = e;
            v.tab = Tab::Metrics;
        })
    });
    view! {
        <header class="topbar">
            <h1>"Endpoint Metrics"</h1>
            <span class="endpoint" data-testid="endpoint-id" title="Endpoint">
                {move || view.with(|v| match &v.endpoint {
                    EndpointRef::Demo => "demo".to_string(),
                    EndpointRef::Http { id, .. } => id.clone(),
                })}
            </span>
            <Show when=is_demo>
                <span class="demo-badge" data-testid="demo-badge" title="Simulated in this browser by endpoint-sim">
                    "Demo"
                </span>
            </Show>
            <nav class="tabs" aria-label="Views">
                {[(Tab::Metrics, "Metrics", "tab-metrics"), (Tab::Jobs, "Requests", "tab-jobs"), (Tab::Settings, "Settings", "tab-settings")]
                    .into_iter()
                    .map(|(t, label, testid)| {
                        view! {
                            <button
                                type="button"
                                class="tab"
                                aria-pressed=move || (tab() == t).to_string()
                                data-testid=testid
                                on:click=move |_| view.update(|v| v.tab = t)
                            >
                                {label}
                            </button>
                        }
                    })
                    .collect_view()}
            </nav>
        </header>
        <Controls view=view endpoints=endpoints />
        <main>
            {warnings
                .into_iter()
                .map(|w| view! { <p class="warning" role="alert">{w}</p> })
                .collect_view()}
            <StatusLine state=feed.poll tz=Signal::derive(move || view.with(|v| v.tz)) />
            <Show when=is_demo>
                <p class="demo-note" data-testid="demo-note">
                    <strong>"Demo endpoint"</strong>
                    " — simulated in this browser (a day of history, then live traffic). "
                    "Add your endpoint server in "
                    <a href="?tab=settings" on:click=move |ev| {
                        ev.prevent_default();
                        view.update(|v| v.tab = Tab::Settings);
                    }>"Settings"</a>
                    "."
                </p>
            </Show>
            <div hidden=move || tab() != Tab::Metrics>
                <MetricsTab feed=feed ctx=ctx />
            </div>
            <Show when=move || tab() == Tab::Jobs>
                <JobsTab view=view feed=feed />
            </Show>
            <Show when=move || tab() == Tab::Settings>
                <SettingsView saved=saved key_version=key_version on_open=open />
            </Show>
        </main>
    }
}

/// Re-reads the palette when the system switches between light and dark.
fn watch_system_scheme(version: RwSignal<u32>) {
    use wasm_bindgen::JsCast;
    use wasm_bindgen::prelude::Closure;
    let Ok(Some(mq)) = window().match_media("(prefers-color-scheme: dark)") else {
        return;
    };
    let cb = Closure::<dyn Fn()>::new(move || version.update(|v| *v += 1));
    let _ = mq.add_event_listener_with_callback("change", cb.as_ref().unchecked_ref());
    // The listener lives as long as the page.
    cb.forget();
}

/// The chart colours from the page's CSS custom properties (`--em-*`), so a theme or
/// a portal's stylesheet reaches the charts.
fn read_palette() -> Palette {
    let d = Palette::default();
    let Some(style) = document()
        .document_element()
        .and_then(|root| window().get_computed_style(&root).ok().flatten())
    else {
        return d;
    };
    let var = |name: &str, fallback: &str| {
        style
            .get_property_value(name)
            .ok()
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| fallback.to_string())
    };
    Palette {
        text: var("--em-text", &d.text),
        muted: var("--em-muted", &d.muted),
        grid: var("--em-grid", &d.grid),
        surface: var("--em-surface", &d.surface),
        font: var("--em-font", &d.font),
        series: (1..=6)
            .map(|i| var(&format!("--em-chart-{i}"), d.color(i - 1)))
            .collect(),
    }
}
