//! Settings: the endpoints to pick from, and their API keys.

use leptos::prelude::*;

use crate::settings::store;
use crate::view::state::{EndpointRef, is_valid_endpoint_id};

/// Add and remove endpoints; set, replace or forget API keys. A key is kept for this
/// browser tab only unless "remember" is ticked; it is never shown back.
#[component]
pub fn SettingsView(
    /// The saved endpoints (this view edits them).
    saved: RwSignal<Vec<EndpointRef>>,
    /// Bumped whenever a key changes, so the feed picks it up.
    key_version: RwSignal<u32>,
    /// Called with an endpoint the user wants to open.
    #[prop(into)]
    on_open: Callback<EndpointRef>,
) -> impl IntoView {
    let base = RwSignal::new(String::new());
    let id = RwSignal::new(String::new());
    let key = RwSignal::new(String::new());
    let remember = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let add = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let api_base = base
            .get_untracked()
            .trim()
            .trim_end_matches('/')
            .to_string();
        let endpoint_id = id.get_untracked().trim().to_string();
        if !is_valid_endpoint_id(&endpoint_id) {
            error.set(Some(
                "Endpoint id: use letters, digits, `-` and `_` (1 to 64 characters).".into(),
            ));
            return;
        }
        if !(api_base.is_empty()
            || api_base.starts_with("http://")
            || api_base.starts_with("https://"))
        {
            error.set(Some(
                "API base URL: start with http:// or https://, or leave it empty for this site."
                    .into(),
            ));
            return;
        }
        let e = EndpointRef::Http {
            api_base,
            id: endpoint_id,
        };
        store::set_api_key(&e, &key.get_untracked(), remember.get_untracked());
        saved.update(|list| {
            if !list.contains(&e) {
                list.push(e.clone());
            }
        });
        store::save_endpoints(&saved.get_untracked());
        key_version.update(|v| *v += 1);
        error.set(None);
        id.set(String::new());
        key.set(String::new());
        on_open.run(e);
    };
    let rows = move || {
        saved
            .get()
            .into_iter()
            .map(|e| {
                let new_key = RwSignal::new(String::new());
                let keep = RwSignal::new(store::key_is_remembered(&e));
                let key_state = {
                    let e = e.clone();
                    move || {
                        key_version.get();
                        match (store::api_key(&e).is_some(), store::key_is_remembered(&e)) {
                            (false, _) => "no key",
                            (true, true) => "key remembered on this browser",
                            (true, false) => "key set for this tab",
                        }
                    }
                };
                let (e1, e2, e3, e4) = (e.clone(), e.clone(), e.clone(), e.clone());
                view! {
                    <li class="endpoint-row" data-testid="settings-endpoint">
                        <div class="endpoint-name">
                            <strong>{e.label()}</strong>
                            <span class="muted">{key_state}</span>
                        </div>
                        <form
                            class="key-form"
                            on:submit=move |ev| {
                                ev.prevent_default();
                                store::set_api_key(&e1, &new_key.get_untracked(), keep.get_untracked());
                                new_key.set(String::new());
                                key_version.update(|v| *v += 1);
                            }
                        >
                            <label>
                                <span class="sr-only">"New API key for " {e.label()}</span>
                                <input
                                    type="password"
                                    autocomplete="off"
                                    placeholder="new API key (empty: forget)"
                                    prop:value=move || new_key.get()
                                    on:input=move |ev| new_key.set(event_target_value(&ev))
                                />
                            </label>
                            <label class="check">
                                <input
                                    type="checkbox"
                                    prop:checked=move || keep.get()
                                    on:change=move |ev| keep.set(event_target_checked(&ev))
                                />
                                "remember"
                            </label>
                            <button type="submit">"Set key"</button>
                        </form>
                        <button type="button" on:click=move |_| on_open.run(e2.clone())>"Open"</button>
                        <button
                            type="button"
                            class="danger"
                            on:click=move |_| {
                                store::set_api_key(&e3, "", false);
                                saved.update(|l| l.retain(|x| *x != e4));
                                store::save_endpoints(&saved.get_untracked());
                                key_version.update(|v| *v += 1);
                            }
                        >
                            "Remove"
                        </button>
                    </li>
                }
            })
            .collect_view()
    };
    view! {
        <section class="settings card" aria-label="Settings" data-testid="settings">
            <h2>"Endpoints"</h2>
            <p class="muted">
                "The Demo endpoint is always available: it is simulated in this browser. "
                "Add the endpoints of your endpoint server below; API keys stay in this tab "
                "(sessionStorage) unless you tick remember (localStorage), and never go in a URL."
            </p>
            <ul class="endpoint-list">{rows}</ul>
            <form class="add-endpoint" on:submit=add data-testid="add-endpoint">
                <h3>"Add an endpoint"</h3>
                <label>
                    <span>"API base URL"</span>
                    <input
                        type="url"
                        placeholder="https://host:8000 (empty: this site)"
                        prop:value=move || base.get()
                        on:input=move |ev| base.set(event_target_value(&ev))
                    />
                </label>
                <label>
                    <span>"Endpoint id"</span>
                    <input
                        type="text"
                        required
                        placeholder="local"
                        data-testid="add-endpoint-id"
                        prop:value=move || id.get()
                        on:input=move |ev| id.set(event_target_value(&ev))
                    />
                </label>
                <label>
                    <span>"API key"</span>
                    <input
                        type="password"
                        autocomplete="off"
                        placeholder="optional"
                        data-testid="add-endpoint-key"
                        prop:value=move || key.get()
                        on:input=move |ev| key.set(event_target_value(&ev))
                    />
                </label>
                <label class="check">
                    <input
                        type="checkbox"
                        prop:checked=move || remember.get()
                        on:change=move |ev| remember.set(event_target_checked(&ev))
                    />
                    "remember the key on this browser"
                </label>
                <button type="submit" data-testid="add-endpoint-submit">"Add and open"</button>
                {move || error.get().map(|e| view! { <p class="control-error" role="alert">{e}</p> })}
            </form>
        </section>
    }
}
