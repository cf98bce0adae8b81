//! The screen shown instead of the panel when config.json is refused.

use leptos::prelude::*;

use crate::embed::config::ConfigError;

/// Names the file, the field and what is wrong, and how to fix it.
#[component]
pub fn ConfigErrorScreen(
    /// What was refused.
    error: ConfigError,
    /// Where the file was read from.
    url: String,
) -> impl IntoView {
    let field = (!error.field.is_empty()).then(|| error.field.clone());
    view! {
        <main class="config-error" role="alert" data-testid="config-error">
            <h1>"Endpoint Metrics cannot start: its configuration is invalid"</h1>
            <p data-testid="config-error-message">{error.to_string()}</p>
            {field.map(|f| view! {
                <p>"Field: " <code data-testid="config-error-field">{f}</code></p>
            })}
            <p class="muted">
                "Fix " <code>{url}</code>
                " (see docs/embedding.md for every field) and reload the page. Nothing was loaded from the endpoint meanwhile."
            </p>
        </main>
    }
}
