//! One whole-window number, as text with its exact value in `data-value`.

use leptos::prelude::*;

/// A labelled number. The text is formatted for people; `data-value` holds the exact
/// value (what tests compare), empty when there is none.
#[component]
pub fn SummaryValue(
    /// Label.
    label: &'static str,
    /// `data-testid`.
    testid: &'static str,
    /// The value (`None`: no data).
    #[prop(into)]
    value: Signal<Option<f64>>,
    /// How to write it.
    format: fn(f64) -> String,
) -> impl IntoView {
    view! {
        <div class="sv">
            <span class="sv-label">{label}</span>
            <span
                class="sv-value"
                data-testid=testid
                data-value=move || value.get().map(|v| v.to_string()).unwrap_or_default()
            >
                {move || value.get().map_or_else(|| "–".to_string(), format)}
            </span>
        </div>
    }
}

/// Writes a count: `1,234`.
pub fn count(v: f64) -> String {
    crate::view::time::fmt_count(v.max(0.0) as u64)
}

/// Writes a duration: `1.23 s`.
pub fn duration(v: f64) -> String {
    crate::view::time::fmt_ms(v)
}

/// Writes an average number of workers: `2.4`.
pub fn workers(v: f64) -> String {
    format!("{v:.1}")
}
