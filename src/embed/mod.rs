//! Running inside a portal: where the panel mounts, where its config.json is, and
//! the `postMessage` bridge to the host page.
//!
//! - **Mount**: into `<div id="endpoint-metrics">` (or any `[data-endpoint-metrics]`
//!   element) when the page has one, otherwise into a new element at the end of the
//!   body (the panel's own page).
//! - **Config**: `data-config` on that element, else `config.json` beside the bundle
//!   (embed.js writes the bundle's URL into `data-bundle`), else `./config.json`.
//! - **Messages** (docs/embedding.md): the host sends
//!   `{"type": "endpoint-metrics:set", "endpoint": "id", "range": "6h", ...}`; the
//!   panel answers every change of its view or state with
//!   `{"type": "endpoint-metrics:state", ...}`, and refused messages with
//!   `{"type": "endpoint-metrics:error", "message": ...}`. Only the page's own origin
//!   and the config's `allowedOrigins` are obeyed and told.

pub mod config;
pub mod config_error;

use serde::Deserialize;
use serde_json::{Value, json};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;

use crate::embed::config::{Config, ConfigError};
use crate::view::range::Range;
use crate::view::state::{
    EndpointRef, Tab, Theme, TimeZone, ViewState, is_valid_endpoint_id, parse_interval,
};

/// Type of the messages the host sends.
pub const SET: &str = "endpoint-metrics:set";
/// Type of the state reports.
pub const STATE: &str = "endpoint-metrics:state";
/// Type of the refusals.
pub const ERROR: &str = "endpoint-metrics:error";

/// The element the panel mounts into (created at the end of the body if the page
/// has none), marked with the class the stylesheet scopes itself to.
pub fn mount_root() -> web_sys::HtmlElement {
    let doc = leptos::prelude::document();
    let found = doc
        .get_element_by_id("endpoint-metrics")
        .or_else(|| doc.query_selector("[data-endpoint-metrics]").ok().flatten());
    let el = match found {
        Some(el) => el,
        None => {
            let el = doc.create_element("div").expect("a div");
            el.set_id("endpoint-metrics");
            el.set_attribute("data-standalone", "").ok();
            if let Some(body) = doc.body() {
                let _ = body.append_child(&el);
            }
            el
        }
    };
    let _ = el.class_list().add_1("em-app");
    el.unchecked_into()
}

/// Whether the panel runs compact, without the header: `?embed=1` or `data-embed`.
pub fn is_embedded(root: &web_sys::HtmlElement) -> bool {
    let q = leptos::prelude::window()
        .location()
        .search()
        .unwrap_or_default();
    root.has_attribute("data-embed")
        || q.trim_start_matches('?')
            .split('&')
            .any(|p| p == "embed=1" || p == "embed=true")
}

/// Where config.json is read from.
pub fn config_url(root: &web_sys::HtmlElement) -> String {
    if let Some(c) = root.get_attribute("data-config") {
        return c;
    }
    match root.get_attribute("data-bundle") {
        Some(b) => format!("{}/config.json", b.trim_end_matches('/')),
        None => "./config.json".into(),
    }
}

/// Reads config.json: none (404, or an HTML page from a server that answers every
/// path with index.html) means the defaults.
pub async fn load_config(url: &str) -> Result<Config, ConfigError> {
    let failed = |m: String| ConfigError {
        field: String::new(),
        message: m,
    };
    let a = crate::feed::api::fetch(url, None, "application/json", crate::feed::api::TIMEOUT_MS)
        .await
        .map_err(|e| failed(format!("could not be loaded from {url}: {e}")))?;
    if a.status == 404 || a.content_type.starts_with("text/html") {
        return Ok(Config::default());
    }
    if !(200..300).contains(&a.status) {
        return Err(failed(format!(
            "could not be loaded from {url}: HTTP {}",
            a.status
        )));
    }
    config::parse(&a.body)
}

/// What the host may set.
#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SetMessage {
    #[serde(rename = "type")]
    kind: String,
    /// Endpoint id, or `demo`.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// API base for `endpoint` (default: the config's, or same origin).
    #[serde(default)]
    pub api_base: Option<String>,
    /// `15m`, `1h`, ... or `from..to` in ms.
    #[serde(default)]
    pub range: Option<String>,
    /// `off`, `5s`, ...
    #[serde(default)]
    pub refresh: Option<String>,
    /// `metrics`, `jobs` or `settings`.
    #[serde(default)]
    pub tab: Option<String>,
    /// `system`, `light` or `dark`.
    #[serde(default)]
    pub theme: Option<String>,
    /// `local` or `utc`.
    #[serde(default)]
    pub time_zone: Option<String>,
}

/// Applies a set message to `v`; the error names the field.
pub fn apply_set(v: &mut ViewState, m: &SetMessage, cfg: &Config) -> Result<(), String> {
    let mut next = v.clone();
    if let Some(e) = &m.endpoint {
        next.endpoint = if e == "demo" && cfg.features.demo {
            EndpointRef::Demo
        } else if !is_valid_endpoint_id(e) {
            return Err(format!("endpoint: `{e}` is not an endpoint id"));
        } else {
            let configured = cfg.endpoints.iter().find_map(|c| match &c.endpoint {
                EndpointRef::Http { api_base, id } if id == e => Some(api_base.clone()),
                _ => None,
            });
            EndpointRef::Http {
                api_base: m
                    .api_base
                    .clone()
                    .or(configured)
                    .unwrap_or_default()
                    .trim_end_matches('/')
                    .to_string(),
                id: e.clone(),
            }
        };
    }
    if let Some(r) = &m.range {
        next.range = Range::parse(r).map_err(|e| format!("range: {e}"))?;
    }
    if let Some(r) = &m.refresh {
        next.refresh = parse_interval(r).map_err(|e| format!("refresh: {e}"))?;
    }
    if let Some(t) = &m.tab {
        next.tab = match Tab::parse(t) {
            Ok(Tab::Settings) if !cfg.features.settings => {
                return Err(format!("tab: `{t}`: use metrics, jobs or workers"));
            }
            r => r.map_err(|e| format!("tab: `{t}`: {e}"))?,
        };
    }
    if let Some(t) = &m.theme {
        next.theme = Theme::parse(t).map_err(|e| format!("theme: `{t}`: {e}"))?;
    }
    if let Some(t) = &m.time_zone {
        next.tz = TimeZone::parse(t).map_err(|e| format!("timeZone: `{t}`: {e}"))?;
    }
    *v = next;
    Ok(())
}

/// Reads a message's data as a set message (`None`: not one of ours).
pub fn parse_set(data: &Value) -> Option<Result<SetMessage, String>> {
    if data.get("type").and_then(Value::as_str) != Some(SET) {
        return None;
    }
    Some(serde_json::from_value(data.clone()).map_err(|e| e.to_string()))
}

/// The state report for `v`.
pub fn state_message(
    v: &ViewState,
    status: &str,
    updated_at: Option<f64>,
    error: Option<String>,
    window: Option<(i64, i64)>,
) -> Value {
    let endpoint = match &v.endpoint {
        EndpointRef::Demo => "demo".to_string(),
        EndpointRef::Http { id, .. } => id.clone(),
    };
    json!({
        "type": STATE,
        "endpoint": endpoint,
        "range": v.range.to_param(),
        "refresh": crate::view::state::format_interval(v.refresh),
        "tab": v.tab.as_str(),
        "theme": v.theme.as_str(),
        "timeZone": v.tz.as_str(),
        "query": v.to_query(),
        "status": status,
        "updatedAt": updated_at,
        "error": error,
        "window": window.map(|(from, to)| json!({"from": from, "to": to})),
    })
}

/// The origins messages are accepted from and sent to: the page's own and the
/// config's.
pub fn origins(cfg: &Config) -> Vec<String> {
    let own = leptos::prelude::window()
        .location()
        .origin()
        .unwrap_or_default();
    let mut o = vec![own];
    o.extend(cfg.allowed_origins.iter().cloned());
    o
}

/// Sends `msg` to the host: the parent window when framed, else this window (a host
/// page that mounted the panel listens there), once per allowed origin.
pub fn post(msg: &Value, origins: &[String]) {
    let w = leptos::prelude::window();
    let Ok(js) = js_sys::JSON::parse(&msg.to_string()) else {
        return;
    };
    let target = match w.parent() {
        Ok(Some(p)) if p != w => p,
        _ => w,
    };
    for o in origins {
        let _ = target.post_message(&js, o);
    }
}

/// Calls `f` with every message from an allowed origin, as JSON.
pub fn listen(origins: Vec<String>, f: impl Fn(Value, String) + 'static) {
    let cb = Closure::<dyn Fn(web_sys::MessageEvent)>::new(move |ev: web_sys::MessageEvent| {
        let origin = ev.origin();
        if !origins.contains(&origin) {
            return;
        }
        let Some(text) = js_sys::JSON::stringify(&ev.data())
            .ok()
            .and_then(|s| s.as_string())
        else {
            return;
        };
        if let Ok(v) = serde_json::from_str::<Value>(&text) {
            f(v, origin);
        }
    });
    let _ = leptos::prelude::window()
        .add_event_listener_with_callback("message", cb.as_ref().unchecked_ref());
    // Lives as long as the page.
    cb.forget();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_messages_change_the_view_or_name_the_bad_field() {
        let cfg =
            crate::embed::config::parse(br#"{"endpoints": [{"id": "a", "apiBase": "/api"}]}"#)
                .unwrap();
        let mut v = cfg.defaults.clone();
        let m = parse_set(
            &json!({"type": SET, "endpoint": "a", "range": "6h", "tab": "jobs", "refresh": "off"}),
        )
        .unwrap()
        .unwrap();
        apply_set(&mut v, &m, &cfg).unwrap();
        assert_eq!(
            v.endpoint,
            EndpointRef::Http {
                api_base: "/api".into(),
                id: "a".into()
            }
        );
        assert_eq!(
            (v.range.to_param().as_str(), v.tab, v.refresh),
            ("6h", Tab::Jobs, None)
        );
        let before = v.clone();
        let bad = parse_set(&json!({"type": SET, "range": "9d", "tab": "metrics"}))
            .unwrap()
            .unwrap();
        assert!(
            apply_set(&mut v, &bad, &cfg)
                .unwrap_err()
                .starts_with("range:")
        );
        assert_eq!(v, before, "all or nothing");
        assert!(
            parse_set(&json!({"type": SET, "rnage": "1h"}))
                .unwrap()
                .is_err()
        );
        assert!(
            parse_set(&json!({"type": STATE})).is_none(),
            "our own reports are ignored"
        );
        let s = state_message(&v, "live", Some(5.0), None, Some((1, 2)));
        assert_eq!(s["type"], STATE);
        assert_eq!(s["range"], "6h");
        assert_eq!(s["tab"], "jobs");
        assert_eq!(s["window"]["to"], 2);
    }
}
