//! Runtime configuration: `config.json` beside the bundle, read once at start, so a
//! portal sets endpoints, defaults and features without rebuilding the panel.
//!
//! ```json
//! {
//!   "apiBase": "/tools/endpoint-metrics/api",
//!   "endpoints": [{"id": "sdxl-prod", "label": "SDXL (prod)"}],
//!   "defaultEndpoint": "sdxl-prod",
//!   "range": "6h", "refresh": "10s", "theme": "dark", "timeZone": "utc",
//!   "features": {"cancel": false, "retry": false, "purge": false, "demo": false},
//!   "allowedOrigins": ["https://portal.example.com"]
//! }
//! ```
//!
//! Every field is optional; a missing file means the defaults. An invalid file stops
//! the panel with an error screen naming the field ([`ConfigError`]), rather than
//! running with a half-understood configuration.

use serde::Deserialize;

use crate::view::range::Range;
use crate::view::state::{
    EndpointRef, Theme, TimeZone, ViewState, is_valid_endpoint_id, parse_interval,
};

/// The file as written (unknown fields refused).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawConfig {
    #[serde(default)]
    api_base: Option<String>,
    #[serde(default)]
    endpoints: Vec<RawEndpoint>,
    #[serde(default)]
    default_endpoint: Option<String>,
    #[serde(default)]
    range: Option<String>,
    #[serde(default)]
    refresh: Option<String>,
    #[serde(default)]
    theme: Option<String>,
    #[serde(default)]
    time_zone: Option<String>,
    #[serde(default)]
    features: Features,
    #[serde(default)]
    allowed_origins: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawEndpoint {
    id: String,
    #[serde(default)]
    label: Option<String>,
    #[serde(default)]
    api_base: Option<String>,
}

/// Which parts of the panel are shown (all by default).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct Features {
    /// Cancel buttons (rows, detail, bulk).
    pub cancel: bool,
    /// Retry buttons.
    pub retry: bool,
    /// Purge queue.
    pub purge: bool,
    /// CSV / JSON export.
    pub export: bool,
    /// The Settings tab (adding endpoints and keys in the browser).
    pub settings: bool,
    /// The Demo endpoint in the picker.
    pub demo: bool,
}

impl Default for Features {
    fn default() -> Self {
        Features {
            cancel: true,
            retry: true,
            purge: true,
            export: true,
            settings: true,
            demo: true,
        }
    }
}

/// An endpoint the portal offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigEndpoint {
    /// The endpoint.
    pub endpoint: EndpointRef,
    /// Its name in the picker.
    pub label: Option<String>,
}

/// The checked configuration.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Config {
    /// The endpoints offered (besides those the user adds, if Settings is shown).
    pub endpoints: Vec<ConfigEndpoint>,
    /// The view when the URL says nothing.
    pub defaults: ViewState,
    /// What is shown.
    pub features: Features,
    /// Origins whose `postMessage` the panel obeys and reports to (besides its own).
    pub allowed_origins: Vec<String>,
}

/// Why `config.json` was refused: the field and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The path of the field, e.g. `endpoints[1].id` (empty for the whole file).
    pub field: String,
    /// What is wrong and what is expected.
    pub message: String,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.field.is_empty() {
            write!(f, "config.json: {}", self.message)
        } else {
            write!(f, "config.json, field `{}`: {}", self.field, self.message)
        }
    }
}

fn err(field: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError {
        field: field.into(),
        message: message.into(),
    }
}

/// `""` (same origin), a path (`/api`) or an http(s) URL, without a trailing slash.
fn api_base(field: &str, s: &str) -> Result<String, ConfigError> {
    let s = s.trim().trim_end_matches('/');
    if s.is_empty() || s.starts_with('/') || s.starts_with("https://") || s.starts_with("http://") {
        Ok(s.to_string())
    } else {
        Err(err(
            field,
            format!("`{s}` is not a path (/api) or an http(s) URL"),
        ))
    }
}

/// Reads and checks `config.json`.
pub fn parse(bytes: &[u8]) -> Result<Config, ConfigError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    let raw: RawConfig = serde_path_to_error::deserialize(de).map_err(|e| {
        let field = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() || field == "?" || field == "." {
            err("", format!("not valid JSON: {inner}"))
        } else {
            err(field, inner.to_string())
        }
    })?;
    let base = match &raw.api_base {
        Some(b) => api_base("apiBase", b)?,
        None => String::new(),
    };
    let mut endpoints = Vec::new();
    for (i, e) in raw.endpoints.iter().enumerate() {
        if !is_valid_endpoint_id(&e.id) {
            return Err(err(
                format!("endpoints[{i}].id"),
                format!(
                    "`{}` is not an endpoint id (letters, digits, - and _, at most 64)",
                    e.id
                ),
            ));
        }
        let b = match &e.api_base {
            Some(b) => api_base(&format!("endpoints[{i}].apiBase"), b)?,
            None => base.clone(),
        };
        endpoints.push(ConfigEndpoint {
            endpoint: EndpointRef::Http {
                api_base: b,
                id: e.id.clone(),
            },
            label: e.label.clone(),
        });
    }
    let mut d = ViewState::default();
    match raw.default_endpoint.as_deref() {
        None => {
            if let Some(first) = endpoints.first() {
                d.endpoint = first.endpoint.clone();
            } else if !raw.features.demo {
                return Err(err(
                    "endpoints",
                    "with the Demo hidden (features.demo false), name at least one endpoint",
                ));
            }
        }
        Some("demo") if raw.features.demo => d.endpoint = EndpointRef::Demo,
        Some(id) => {
            d.endpoint = endpoints
                .iter()
                .find(|e| matches!(&e.endpoint, EndpointRef::Http { id: x, .. } if x == id))
                .map(|e| e.endpoint.clone())
                .ok_or_else(|| {
                    err(
                        "defaultEndpoint",
                        format!("`{id}` is not one of `endpoints`"),
                    )
                })?;
        }
    }
    if let Some(r) = &raw.range {
        d.range = Range::parse(r).map_err(|e| err("range", e))?;
    }
    if let Some(r) = &raw.refresh {
        d.refresh = parse_interval(r).map_err(|e| err("refresh", e))?;
    }
    if let Some(t) = &raw.theme {
        d.theme = Theme::parse(t).map_err(|e| err("theme", format!("`{t}`: {e}")))?;
    }
    if let Some(t) = &raw.time_zone {
        d.tz = TimeZone::parse(t).map_err(|e| err("timeZone", format!("`{t}`: {e}")))?;
    }
    let mut allowed_origins = Vec::new();
    for (i, o) in raw.allowed_origins.iter().enumerate() {
        let ok = (o.starts_with("https://") || o.starts_with("http://"))
            && !o
                .trim_end_matches('/')
                .split_once("://")
                .is_some_and(|(_, h)| h.contains('/'));
        if !ok {
            return Err(err(
                format!("allowedOrigins[{i}]"),
                format!("`{o}` is not an origin like https://portal.example.com"),
            ));
        }
        allowed_origins.push(o.trim_end_matches('/').to_string());
    }
    Ok(Config {
        endpoints,
        defaults: d,
        features: raw.features,
        allowed_origins,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hostile config files: every truncation and every byte replaced names a cause
    /// (a field, or "not valid JSON"), never a panic; nesting 100,000 deep and an
    /// oversized file are refused too.
    #[test]
    fn hostile_config_files_are_refused_clearly() {
        let good = br#"{"apiBase": "/api", "endpoints": [{"id": "a", "label": "A"}], "range": "1h", "features": {"cancel": false}}"#;
        assert!(parse(good).is_ok());
        for cut in 0..good.len() {
            let e = parse(&good[..cut]).unwrap_err().to_string();
            assert!(e.contains("not valid JSON"), "cut at {cut}: {e}");
        }
        for at in 0..good.len() {
            for v in [b'"', b'{', b'}', b'1', 0xff, b'\\'] {
                let mut bad = good.to_vec();
                bad[at] = v;
                if let Err(e) = parse(&bad) {
                    assert!(!e.to_string().is_empty());
                }
            }
        }
        let deep = format!(r#"{{"endpoints": {}"#, "[".repeat(100_000));
        let e = parse(deep.as_bytes()).unwrap_err().to_string();
        assert!(e.contains("endpoints[0]"), "the field is named: {e}");
        let mut huge = br#"{"range": ""#.to_vec();
        huge.extend(std::iter::repeat_n(b'1', 8 << 20));
        huge.extend(br#""}"#);
        assert!(parse(&huge).is_err(), "an 8 MB range");
    }

    #[test]
    fn a_full_config_sets_endpoints_defaults_and_features() {
        let c = parse(
            br#"{"apiBase": "/tools/em/api/", "endpoints": [{"id": "a"}, {"id": "b", "label": "B", "apiBase": "https://x.example"}],
                "defaultEndpoint": "b", "range": "6h", "refresh": "10s", "theme": "dark", "timeZone": "utc",
                "features": {"cancel": false, "demo": false}, "allowedOrigins": ["https://portal.example.com/"]}"#,
        )
        .unwrap();
        assert_eq!(
            c.endpoints[0].endpoint,
            EndpointRef::Http {
                api_base: "/tools/em/api".into(),
                id: "a".into()
            }
        );
        assert_eq!(
            c.defaults.endpoint,
            EndpointRef::Http {
                api_base: "https://x.example".into(),
                id: "b".into()
            }
        );
        assert_eq!(c.defaults.range.to_param(), "6h");
        assert_eq!(c.defaults.refresh, Some(10_000));
        assert_eq!(
            (c.defaults.theme, c.defaults.tz),
            (Theme::Dark, TimeZone::Utc)
        );
        assert!(!c.features.cancel && !c.features.demo && c.features.retry && c.features.export);
        assert_eq!(c.allowed_origins, ["https://portal.example.com"]);
        assert_eq!(parse(b"{}").unwrap(), Config::default());
    }

    #[test]
    fn errors_name_the_field() {
        let e = |json: &str| parse(json.as_bytes()).unwrap_err().to_string();
        assert!(
            e(r#"{"rnage": "1h"}"#)
                .starts_with("config.json, field `rnage`: unknown field `rnage`, expected one of")
        );
        assert!(e(r#"{"refresh": 5}"#).starts_with(
            "config.json, field `refresh`: invalid type: integer `5`, expected a string"
        ));
        assert!(
            e(r#"{"features": {"cancel": "no"}}"#)
                .starts_with("config.json, field `features.cancel`: invalid type")
        );
        assert!(
            e(r#"{"features": {"delete": false}}"#)
                .starts_with("config.json, field `features.delete`: unknown field `delete`")
        );
        assert!(e(r#"{"range": "9d"}"#).starts_with("config.json, field `range`:"));
        assert!(e(r#"{"refresh": "soon"}"#).starts_with("config.json, field `refresh`:"));
        assert_eq!(
            e(r#"{"theme": "pink"}"#),
            "config.json, field `theme`: `pink`: use system, light or dark"
        );
        assert!(
            e(r#"{"endpoints": [{"id": "ok"}, {"id": "a b"}]}"#)
                .starts_with("config.json, field `endpoints[1].id`:")
        );
        assert!(
            e(r#"{"endpoints": [{"id": "ok"}], "defaultEndpoint": "nope"}"#)
                .starts_with("config.json, field `defaultEndpoint`:")
        );
        assert!(e(r#"{"apiBase": "ftp://x"}"#).starts_with("config.json, field `apiBase`:"));
        assert!(
            e(r#"{"allowedOrigins": ["https://p.example/path"]}"#)
                .starts_with("config.json, field `allowedOrigins[0]`:")
        );
        assert!(
            e(r#"{"features": {"demo": false}}"#).starts_with("config.json, field `endpoints`:")
        );
        assert!(
            e("{\"range\": \"1h\",").starts_with("config.json: not valid JSON: EOF while parsing")
        );
    }
}
