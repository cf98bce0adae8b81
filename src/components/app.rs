//! The page: header and the endpoint's panel.

use leptos::prelude::*;

use crate::components::health_panel::HealthPanel;
use crate::config::PanelConfig;

/// The whole app, configured from the page URL.
#[component]
pub fn App() -> impl IntoView {
    let query = window().location().search().unwrap_or_default();
    let (config, warnings) = PanelConfig::from_query(&query);
    let source = if config.api_base.is_empty() {
        "same origin".to_string()
    } else {
        config.api_base.clone()
    };
    view! {
        <header class="topbar">
            <h1>"Endpoint Metrics"</h1>
            <span class="endpoint" data-testid="endpoint-id" title="Endpoint id">
                {config.endpoint_id.clone()}
            </span>
            <span class="source">"API: " {source}</span>
        </header>
        <main>
            {warnings
                .into_iter()
                .map(|w| view! { <p class="warning" role="alert">{w}</p> })
                .collect_view()}
            <HealthPanel config=config />
        </main>
    }
}
