//! The toolbar: endpoint, time range, buckets, refresh, time zone, theme.

use leptos::prelude::*;

use crate::view::range::{self, BUCKET_WIDTHS, PRESETS, Range};
use crate::view::state::{
    EndpointRef, REFRESH_CHOICES, Theme, TimeZone, ViewState, format_interval,
};
use crate::view::time::{from_input, to_input};

/// Every control of a view; each writes the view state (and so the URL).
#[component]
pub fn Controls(
    /// The view.
    view: RwSignal<ViewState>,
    /// Endpoints to pick from (the Demo first).
    #[prop(into)]
    endpoints: Signal<Vec<(EndpointRef, String)>>,
    /// The bucket width on screen (the automatic one is chosen from the data).
    #[prop(into)]
    width: Signal<Option<i64>>,
) -> impl IntoView {
    let set = move |f: Box<dyn FnOnce(&mut ViewState)>| view.update(f);
    let custom_open = RwSignal::new(view.with_untracked(|v| !v.range.is_live()));
    let custom_error = RwSignal::new(None::<String>);
    let from_text = RwSignal::new(String::new());
    let to_text = RwSignal::new(String::new());
    let fill_custom = move || {
        let v = view.get_untracked();
        let now = crate::view::time::now_ms() as i64;
        let (from, to) = match v.range {
            Range::Custom { from, to } => (from, to),
            Range::Last(ms) => (now - ms, now),
        };
        from_text.set(to_input(from, v.tz));
        to_text.set(to_input(to, v.tz));
    };
    fill_custom();
    let apply_custom = move |_| {
        let tz = view.with_untracked(|v| v.tz);
        let parsed = (
            from_input(&from_text.get_untracked(), tz),
            from_input(&to_text.get_untracked(), tz),
        );
        let (Some(from), Some(to)) = parsed else {
            custom_error.set(Some("Enter both times as date and time.".into()));
            return;
        };
        match Range::parse(&format!("{from}..{to}")) {
            Ok(r) => {
                custom_error.set(None);
                view.update(|v| v.range = r);
            }
            Err(e) => custom_error.set(Some(format!("Not a valid range: {e}."))),
        }
    };
    let range_value = move || {
        view.with(|v| match v.range {
            Range::Last(ms) => PRESETS
                .iter()
                .find(|p| p.2 == ms)
                .map_or_else(|| range::format_duration(ms), |p| p.0.to_string()),
            Range::Custom { .. } => "custom".into(),
        })
    };
    let on_range = move |ev: leptos::ev::Event| {
        let value = event_target_value(&ev);
        if value == "custom" {
            fill_custom();
            custom_open.set(true);
        } else if let Ok(r) = Range::parse(&value) {
            custom_open.set(false);
            set(Box::new(move |v| v.range = r));
        }
    };
    let span = move || view.with(|v| v.range.span());
    let bucket_options = move || {
        let span = span();
        // What "auto" chose is known once the data is: until then, and while a
        // width is set by hand, it says only "auto".
        let auto = view
            .with(|v| v.bucket.is_none())
            .then(|| width.get())
            .flatten();
        let mut opts = vec![(
            "auto".to_string(),
            auto.map_or_else(
                || "auto".to_string(),
                |w| format!("auto ({})", range::label_duration(w)),
            ),
        )];
        for w in BUCKET_WIDTHS {
            let n = span / w;
            if (2..=2_000).contains(&n) {
                opts.push((range::format_duration(w), range::label_duration(w)));
            }
        }
        opts.into_iter()
            .map(|(value, label)| view! { <option value=value>{label}</option> })
            .collect_view()
    };
    let bucket_value = move || {
        view.with(|v| {
            v.bucket
                .map_or_else(|| "auto".into(), range::format_duration)
        })
    };
    let endpoint_options = move || {
        endpoints
            .get()
            .into_iter()
            .map(|(e, label)| view! { <option value=e.key()>{label}</option> })
            .collect_view()
    };
    view! {
        <div class="controls" role="toolbar" aria-label="View controls">
            <label class="control">
                <span>"Endpoint"</span>
                <select
                    data-testid="endpoint-picker"
                    prop:value=move || view.with(|v| v.endpoint.key())
                    on:change=move |ev| {
                        if let Some(e) = EndpointRef::from_key(&event_target_value(&ev)) {
                            set(Box::new(move |v| v.endpoint = e));
                        }
                    }
                >
                    {endpoint_options}
                </select>
            </label>
            <label class="control">
                <span>"Range"</span>
                <select data-testid="range-picker" prop:value=range_value on:change=on_range>
                    {PRESETS
                        .iter()
                        .map(|(value, label, _)| view! { <option value=*value>{"last "}{*label}</option> })
                        .collect_view()}
                    <option value="custom">"custom…"</option>
                </select>
            </label>
            <Show when=move || custom_open.get()>
                <div class="control custom-range" role="group" aria-label="Custom range">
                    <label>
                        <span>"From"</span>
                        <input
                            type="datetime-local"
                            data-testid="range-from"
                            prop:value=move || from_text.get()
                            on:input=move |ev| from_text.set(event_target_value(&ev))
                        />
                    </label>
                    <label>
                        <span>"To"</span>
                        <input
                            type="datetime-local"
                            data-testid="range-to"
                            prop:value=move || to_text.get()
                            on:input=move |ev| to_text.set(event_target_value(&ev))
                        />
                    </label>
                    <button type="button" data-testid="range-apply" on:click=apply_custom>
                        "Apply"
                    </button>
                    {move || custom_error.get().map(|e| view! { <span class="control-error" role="alert">{e}</span> })}
                </div>
            </Show>
            <label class="control">
                <span>"Buckets"</span>
                <select
                    data-testid="bucket-picker"
                    prop:value=bucket_value
                    on:change=move |ev| {
                        let value = event_target_value(&ev);
                        let b = range::parse_duration(&value).ok();
                        set(Box::new(move |v| v.bucket = b));
                    }
                >
                    {bucket_options}
                </select>
            </label>
            <label class="control">
                <span>"Refresh"</span>
                <select
                    data-testid="refresh-picker"
                    prop:value=move || view.with(|v| format_interval(v.refresh))
                    on:change=move |ev| {
                        let value = event_target_value(&ev);
                        if let Ok(r) = crate::view::state::parse_interval(&value) {
                            set(Box::new(move |v| v.refresh = r));
                        }
                    }
                >
                    {REFRESH_CHOICES
                        .iter()
                        .map(|r| {
                            let value = format_interval(*r);
                            let label = r.map_or_else(|| "off".to_string(), |ms| range::label_duration(i64::from(ms)));
                            view! { <option value=value>{label}</option> }
                        })
                        .collect_view()}
                </select>
            </label>
            <label class="control">
                <span>"Time"</span>
                <select
                    data-testid="tz-picker"
                    prop:value=move || view.with(|v| v.tz.as_str())
                    on:change=move |ev| {
                        let tz = TimeZone::parse(&event_target_value(&ev)).unwrap_or_default();
                        set(Box::new(move |v| v.tz = tz));
                    }
                >
                    <option value="local">"local"</option>
                    <option value="utc">"UTC"</option>
                </select>
            </label>
            <label class="control">
                <span>"Theme"</span>
                <select
                    data-testid="theme-picker"
                    prop:value=move || view.with(|v| v.theme.as_str())
                    on:change=move |ev| {
                        let t = Theme::parse(&event_target_value(&ev)).unwrap_or_default();
                        set(Box::new(move |v| v.theme = t));
                    }
                >
                    <option value="system">"system"</option>
                    <option value="light">"light"</option>
                    <option value="dark">"dark"</option>
                </select>
            </label>
        </div>
    }
}
