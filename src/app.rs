//! The page: header, controls, the tabs (Metrics, Requests, Workers, Settings); the
//! view lives in the URL.

use leptos::prelude::*;

use crate::charts::chart_card::PickTarget;
use crate::charts::metrics_tab::MetricsTab;
use crate::charts::options::{Ctx, Palette};
use crate::embed::config::Config;
use crate::feed::live::{Feed, follow};
use crate::jobs::jobs_tab::JobsTab;
use crate::jobs::view::Pick;
use crate::settings::settings_view::SettingsView;
use crate::settings::store;
use crate::view::controls::Controls;
use crate::view::state::{EndpointRef, Tab, Theme, ViewState};
use crate::view::status_line::StatusLine;
use crate::workers::workers_tab::WorkersTab;

/// The view the app in `root` starts with, configured by `config`: on its own page
/// (and in an iframe) read from the page URL over the configured defaults; mounted
/// into a portal's element, the defaults (the portal drives it by messages). With
/// the URL's warnings (parameters ignored, and why).
pub fn initial_view(config: &Config, root: &web_sys::HtmlElement) -> (ViewState, Vec<String>) {
    let query = if root.has_attribute("data-standalone") {
        window().location().search().unwrap_or_default()
    } else {
        String::new()
    };
    ViewState::from_query_over(config.defaults.clone(), &query)
}

/// The whole app in `root`, configured by `config`. On its own page (and in an
/// iframe) the view is read from, and written back to, the page URL; mounted into a
/// portal's element it leaves the portal's URL alone and is driven by messages.
#[component]
pub fn App(
    /// config.json, checked.
    config: Config,
    /// The element the panel lives in (theme attribute, colours).
    root: web_sys::HtmlElement,
) -> impl IntoView {
    let owns_url = root.has_attribute("data-standalone");
    let embedded = crate::embed::is_embedded(&root);
    let defaults = config.defaults.clone();
    let (initial, warnings) = initial_view(&config, &root);
    let view = RwSignal::new(initial);
    let features = config.features;
    provide_context(features);
    let saved = RwSignal::new(if features.settings {
        store::saved_endpoints()
    } else {
        Vec::new()
    });
    let key_version = RwSignal::new(0u32);
    let scheme_version = RwSignal::new(0u32);

    // URL <- view (replaceState: the back button is not flooded with every click).
    if owns_url {
        Effect::new(move |_| {
            let q = view.with(|v| v.to_query_over(&defaults));
            let loc = window().location();
            let url = format!("{}{}", loc.pathname().unwrap_or_default(), q);
            if loc.search().unwrap_or_default() != q
                && let Ok(h) = window().history()
            {
                let _ = h.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&url));
            }
        });
    }
    // Theme -> the panel's element's data-theme; "system" leaves it to
    // prefers-color-scheme. (Never the portal's <html>.)
    let theme_root = send_wrapper::SendWrapper::new(root.clone());
    Effect::new(move |_| {
        let theme = view.with(|v| v.theme);
        let _ = match theme {
            Theme::System => theme_root.remove_attribute("data-theme"),
            t => theme_root.set_attribute("data-theme", t.as_str()),
        };
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
    bridge(view, feed, &config);

    // getComputedStyle only when the theme or the system scheme changes, not on
    // every refresh.
    let palette_root = send_wrapper::SendWrapper::new(root);
    let palette = Memo::new(move |_| {
        scheme_version.get();
        read_palette(&palette_root)
    });
    let ctx = Signal::derive(move || Ctx {
        tz: view.with(|v| v.tz),
        now: feed.at.get(),
        palette: palette.get(),
    });
    let configured = config.endpoints.clone();
    let endpoints = Signal::derive(move || {
        let mut list: Vec<(EndpointRef, String)> = Vec::new();
        if features.demo {
            list.push((EndpointRef::Demo, EndpointRef::Demo.label()));
        }
        for c in &configured {
            let label = c.label.clone().unwrap_or_else(|| c.endpoint.label());
            list.push((c.endpoint.clone(), label));
        }
        for e in saved.get() {
            if !list.iter().any(|(x, _)| *x == e) {
                let label = e.label();
                list.push((e, label));
            }
        }
        let current = view.with(|v| v.endpoint.clone());
        if !list.iter().any(|(x, _)| *x == current) {
            let label = current.label();
            list.push((current, label));
        }
        list
    });
    let is_demo = move || view.with(|v| v.endpoint == EndpointRef::Demo);
    // Where the engine runs (its worker, or this page and why), as of the last answer.
    let demo_where = move || {
        feed.version.track();
        feed.poll.track();
        feed.engine().runs_where()
    };
    let tab = move || view.with(|v| v.tab);
    let open = Callback::new(move |e: EndpointRef| {
        view.update(|v| {
            v.endpoint = e;
            v.tab = Tab::Metrics;
        })
    });
    let tab_list: Vec<(Tab, &str, &str)> = [
        (Tab::Metrics, "Metrics", "tab-metrics"),
        (Tab::Jobs, "Requests", "tab-jobs"),
        (Tab::Workers, "Workers", "tab-workers"),
        (Tab::Settings, "Settings", "tab-settings"),
    ]
    .into_iter()
    .filter(|(t, _, _)| *t != Tab::Settings || features.settings)
    .collect();
    view! {
        <header class="topbar" class:compact=embedded>
            <h1 hidden=embedded>"Endpoint Metrics"</h1>
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
                {tab_list
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
        <Controls
            view=view
            endpoints=endpoints
            width=Signal::derive(move || feed.agg.with(|a| a.as_ref().map(|a| a.window.bucket)))
        />
        <main>
            {warnings
                .into_iter()
                .map(|w| view! { <p class="warning" role="alert">{w}</p> })
                .collect_view()}
            <StatusLine
                state=feed.poll
                tz=Signal::derive(move || view.with(|v| v.tz))
                paused=Signal::derive(move || view.with(|v| v.refresh.is_none()))
                engine=Signal::derive(move || {
                    feed.version.track();
                    feed.poll.track();
                    let e = feed.engine();
                    (e.runs_in(), e.gave_up())
                })
            />
            <Show when=is_demo>
                <p class="demo-note" data-testid="demo-note">
                    <strong>"Demo endpoint"</strong>
                    " — simulated in this browser (a day of history, then live traffic), "
                    <span data-testid="demo-where">{demo_where}</span>
                    "."
                    {features.settings.then(|| view! {
                        " Add your endpoint server in "
                        <a href="?tab=settings" on:click=move |ev| {
                            ev.prevent_default();
                            view.update(|v| v.tab = Tab::Settings);
                        }>"Settings"</a>
                        "."
                    })}
                </p>
            </Show>
            <div hidden=move || tab() != Tab::Metrics>
                <MetricsTab feed=feed ctx=ctx />
            </div>
            <Show when=move || tab() == Tab::Jobs>
                <JobsTab view=view feed=feed />
            </Show>
            <Show when=move || tab() == Tab::Workers>
                <WorkersTab view=view feed=feed />
            </Show>
            <Show when=move || tab() == Tab::Settings && features.settings>
                <SettingsView saved=saved key_version=key_version on_open=open />
            </Show>
        </main>
    }
}

/// The postMessage bridge: the host sets the view, the panel reports its state.
fn bridge(view: RwSignal<ViewState>, feed: Feed, config: &Config) {
    use crate::embed;
    let origins = embed::origins(config);
    let cfg = config.clone();
    let reply_to = origins.clone();
    embed::listen(origins.clone(), move |data, _origin| {
        let Some(parsed) = embed::parse_set(&data) else {
            return;
        };
        let result = parsed.and_then(|m| {
            let mut v = view.get_untracked();
            embed::apply_set(&mut v, &m, &cfg).map(|_| v)
        });
        match result {
            Ok(v) => view.set(v),
            Err(e) => embed::post(
                &serde_json::json!({"type": embed::ERROR, "message": e}),
                &reply_to,
            ),
        }
    });
    Effect::new(move |_| {
        let v = view.get();
        let (status, updated, error) = feed.poll.with(|p| {
            let status = if p.error.is_some() {
                "stale"
            } else if p.last_ok_ms.is_some() {
                "live"
            } else {
                "loading"
            };
            (
                status,
                p.last_ok_ms,
                p.error.as_ref().map(|(_, e)| e.to_string()),
            )
        });
        let window = feed
            .agg
            .with(|a| a.as_ref().map(|a| (a.window.from, a.window.to)));
        embed::post(
            &embed::state_message(&v, status, updated, error, window),
            &origins,
        );
    });
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
fn read_palette(root: &web_sys::HtmlElement) -> Palette {
    let d = Palette::default();
    let Some(style) = window().get_computed_style(root).ok().flatten() else {
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
