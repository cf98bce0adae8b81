//! Everything a view is, held in the page URL so that a reload or a shared link
//! restores it: `?endpoint=local&api=https://host&range=1h&bucket=auto&refresh=5s&tab=metrics&tz=utc&theme=dark`.
//!
//! Every parameter is optional; unknown or invalid values keep their defaults and
//! produce a warning. The API key never goes in the URL (it would end up in logs,
//! history and shared links).

use crate::jobs::view::JobsView;
use crate::view::range::{self, Range};
pub use crate::view::time::TimeZone;
use crate::view::url::{percent_decode, percent_encode};

/// Which endpoint the panel shows.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum EndpointRef {
    /// The Demo endpoint simulated in this browser.
    Demo,
    /// An endpoint server's endpoint.
    Http {
        /// API base URL without a trailing slash; empty means same origin.
        api_base: String,
        /// Endpoint id in `/v2/{id}/...`.
        id: String,
    },
}

impl EndpointRef {
    /// A short name for pickers and headers.
    pub fn label(&self) -> String {
        match self {
            EndpointRef::Demo => "Demo (simulated in this browser)".into(),
            EndpointRef::Http { api_base, id } if api_base.is_empty() => id.clone(),
            EndpointRef::Http { api_base, id } => format!("{id} @ {api_base}"),
        }
    }

    /// A stable key (settings, API keys, the picker's values).
    pub fn key(&self) -> String {
        match self {
            EndpointRef::Demo => "demo".into(),
            EndpointRef::Http { api_base, id } => format!("{api_base}|{id}"),
        }
    }

    /// Reads [`EndpointRef::key`]'s form.
    pub fn from_key(k: &str) -> Option<EndpointRef> {
        if k == "demo" {
            return Some(EndpointRef::Demo);
        }
        let (api_base, id) = k.rsplit_once('|')?;
        is_valid_endpoint_id(id).then(|| EndpointRef::Http {
            api_base: api_base.to_string(),
            id: id.to_string(),
        })
    }
}

/// The panel's tabs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Tab {
    /// The charts.
    #[default]
    Metrics,
    /// The job list (RunPod's "Requests" view).
    Jobs,
    /// One lane per worker, with the selected worker's facts and logs.
    Workers,
    /// Endpoints and keys.
    Settings,
}

impl Tab {
    /// URL name.
    pub fn as_str(self) -> &'static str {
        match self {
            Tab::Metrics => "metrics",
            Tab::Jobs => "jobs",
            Tab::Workers => "workers",
            Tab::Settings => "settings",
        }
    }

    /// Reads [`Tab::as_str`]'s names.
    pub fn parse(s: &str) -> Result<Tab, String> {
        match s {
            "metrics" => Ok(Tab::Metrics),
            "jobs" => Ok(Tab::Jobs),
            "workers" => Ok(Tab::Workers),
            "settings" => Ok(Tab::Settings),
            _ => Err("use metrics, jobs, workers or settings".into()),
        }
    }
}

/// Colour theme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Theme {
    /// Follow the system (`prefers-color-scheme`).
    #[default]
    System,
    /// Light.
    Light,
    /// Dark.
    Dark,
}

impl Theme {
    /// URL and `data-theme` name.
    pub fn as_str(self) -> &'static str {
        match self {
            Theme::System => "system",
            Theme::Light => "light",
            Theme::Dark => "dark",
        }
    }

    /// Reads [`Theme::as_str`]'s names.
    pub fn parse(s: &str) -> Result<Theme, String> {
        match s {
            "system" => Ok(Theme::System),
            "light" => Ok(Theme::Light),
            "dark" => Ok(Theme::Dark),
            _ => Err("use system, light or dark".into()),
        }
    }
}

/// Auto-refresh choices, ms (`None`: off).
pub const REFRESH_CHOICES: [Option<u32>; 6] = [
    None,
    Some(2_000),
    Some(5_000),
    Some(10_000),
    Some(30_000),
    Some(60_000),
];

/// The state of a view.
#[derive(Debug, Clone, PartialEq)]
pub struct ViewState {
    /// The endpoint shown.
    pub endpoint: EndpointRef,
    /// The time range.
    pub range: Range,
    /// Bucket width override, ms (`None`: automatic).
    pub bucket: Option<i64>,
    /// Auto-refresh interval, ms (`None`: off).
    pub refresh: Option<u32>,
    /// The tab shown.
    pub tab: Tab,
    /// Time zone of labels.
    pub tz: TimeZone,
    /// Colour theme.
    pub theme: Theme,
    /// The job list's filters, sort and open job.
    pub jobs: JobsView,
    /// The worker selected in the Workers tab (its facts and logs show).
    pub worker: Option<String>,
}

impl Default for ViewState {
    fn default() -> Self {
        ViewState {
            endpoint: EndpointRef::Demo,
            range: Range::default(),
            bucket: None,
            refresh: Some(5_000),
            tab: Tab::Metrics,
            tz: TimeZone::Local,
            theme: Theme::System,
            jobs: JobsView::default(),
            worker: None,
        }
    }
}

impl ViewState {
    /// Reads a query string (with or without the leading `?`). Unknown or invalid
    /// values keep their defaults; the warnings say which and why.
    pub fn from_query(query: &str) -> (Self, Vec<String>) {
        Self::from_query_over(ViewState::default(), query)
    }

    /// Like [`ViewState::from_query`], starting from `base` (the portal's defaults
    /// from config.json) instead of the built-in defaults.
    pub fn from_query_over(base: ViewState, query: &str) -> (Self, Vec<String>) {
        let mut v = base;
        let mut warnings = Vec::new();
        let mut api_base = String::new();
        // Not given / the Demo / an endpoint id.
        let mut endpoint_id: Option<Option<String>> = None;
        for pair in query
            .trim_start_matches('?')
            .split('&')
            .filter(|p| !p.is_empty())
        {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = percent_decode(value);
            let mut warn = |e: String| warnings.push(format!("ignored {key} `{value}`: {e}"));
            match key {
                "endpoint" if value == "demo" => endpoint_id = Some(None),
                "endpoint" if is_valid_endpoint_id(&value) => {
                    endpoint_id = Some(Some(value.clone()))
                }
                "endpoint" => warn("use letters, digits, `-` and `_` only".into()),
                "api" => api_base = value.trim_end_matches('/').to_string(),
                "range" => match Range::parse(&value) {
                    Ok(r) => v.range = r,
                    Err(e) => warn(e),
                },
                "bucket" if value == "auto" => v.bucket = None,
                "bucket" => match range::parse_duration(&value) {
                    Ok(ms) if ms >= 1_000 => v.bucket = Some(ms),
                    Ok(_) => warn("buckets are at least 1 s".into()),
                    Err(e) => warn(e),
                },
                "refresh" => match parse_interval(&value) {
                    Ok(ms) => v.refresh = ms,
                    Err(e) => warn(e),
                },
                "tab" => match Tab::parse(&value) {
                    Ok(t) => v.tab = t,
                    Err(e) => warn(e),
                },
                "tz" => match TimeZone::parse(&value) {
                    Ok(t) => v.tz = t,
                    Err(e) => warn(e),
                },
                "theme" => match Theme::parse(&value) {
                    Ok(t) => v.theme = t,
                    Err(e) => warn(e),
                },
                "worker" if !value.is_empty() => v.worker = Some(value.clone()),
                _ => {
                    if let Some(Err(e)) = v.jobs.read_param(key, &value) {
                        warn(e);
                    }
                }
            }
        }
        match endpoint_id {
            Some(Some(id)) => v.endpoint = EndpointRef::Http { api_base, id },
            Some(None) => v.endpoint = EndpointRef::Demo,
            None => {}
        }
        (v, warnings)
    }

    /// The query string (with `?`) that [`ViewState::from_query`] reads back; default
    /// values are left out so links stay short.
    pub fn to_query(&self) -> String {
        self.to_query_over(&ViewState::default())
    }

    /// The query string that [`ViewState::from_query_over`] with the same `d` reads
    /// back, leaving out what equals `d`.
    pub fn to_query_over(&self, d: &ViewState) -> String {
        let mut parts: Vec<String> = Vec::new();
        match &self.endpoint {
            EndpointRef::Demo if d.endpoint == EndpointRef::Demo => {}
            EndpointRef::Demo => parts.push("endpoint=demo".into()),
            EndpointRef::Http { api_base, id } => {
                parts.push(format!("endpoint={}", percent_encode(id)));
                if !api_base.is_empty() {
                    parts.push(format!("api={}", percent_encode(api_base)));
                }
            }
        }
        if self.range != d.range {
            parts.push(format!("range={}", self.range.to_param()));
        }
        if let Some(b) = self.bucket {
            parts.push(format!("bucket={}", range::format_duration(b)));
        }
        if self.refresh != d.refresh {
            parts.push(format!("refresh={}", format_interval(self.refresh)));
        }
        if self.tab != Tab::Metrics {
            parts.push(format!("tab={}", self.tab.as_str()));
        }
        if self.tz != d.tz {
            parts.push(format!("tz={}", self.tz.as_str()));
        }
        if self.theme != d.theme {
            parts.push(format!("theme={}", self.theme.as_str()));
        }
        parts.extend(self.jobs.params());
        if let Some(w) = &self.worker {
            parts.push(format!("worker={}", percent_encode(w)));
        }
        if parts.is_empty() {
            String::new()
        } else {
            format!("?{}", parts.join("&"))
        }
    }
}

/// Endpoint ids are path segments: letters, digits, `-` and `_`.
pub fn is_valid_endpoint_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Refresh intervals below this would hammer the server; they are raised to it.
pub const MIN_REFRESH_MS: u32 = 1_000;

/// Parses `off`, `2s`, `1m` (or a bare number of ms).
pub fn parse_interval(s: &str) -> Result<Option<u32>, String> {
    let s = s.trim();
    if s.eq_ignore_ascii_case("off") || s == "0" {
        return Ok(None);
    }
    let ms = if s.chars().all(|c| c.is_ascii_digit()) {
        s.parse::<i64>().map_err(|_| "not a number".to_string())?
    } else {
        range::parse_duration(s)?
    };
    let ms = u32::try_from(ms).map_err(|_| "interval is too long".to_string())?;
    Ok(Some(ms.max(MIN_REFRESH_MS)))
}

/// `off`, `5s`, `1m`.
pub fn format_interval(ms: Option<u32>) -> String {
    ms.map_or_else(|| "off".into(), |ms| range::format_duration(i64::from(ms)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_the_demo_and_an_empty_query() {
        let (v, w) = ViewState::from_query("");
        assert_eq!(v, ViewState::default());
        assert_eq!(v.endpoint, EndpointRef::Demo);
        assert!(w.is_empty());
        assert_eq!(v.to_query(), "");
    }

    #[test]
    fn every_field_round_trips() {
        let v = ViewState {
            endpoint: EndpointRef::Http {
                api_base: "https://gpu.example.com:8443/api".into(),
                id: "sdxl-prod".into(),
            },
            range: Range::Custom {
                from: 1_700_000_000_000,
                to: 1_700_003_600_000,
            },
            bucket: Some(60_000),
            refresh: None,
            tab: Tab::Jobs,
            tz: TimeZone::Utc,
            theme: Theme::Dark,
            jobs: crate::jobs::view::JobsView {
                search: "6f1c".into(),
                job: Some("6f1c1f3e-3b0a-4c5e-9a57-8f0a2f9c1d20".into()),
                ..Default::default()
            },
            worker: Some("worker-3-r1".into()),
        };
        let q = v.to_query();
        assert_eq!(ViewState::from_query(&q), (v, vec![]));
        assert!(q.contains("api=https://gpu.example.com:8443/api"), "{q}");
        assert!(q.ends_with("&worker=worker-3-r1"), "{q}");
    }

    #[test]
    fn every_tab_round_trips() {
        for tab in [Tab::Metrics, Tab::Jobs, Tab::Workers, Tab::Settings] {
            let v = ViewState {
                tab,
                ..ViewState::default()
            };
            let q = v.to_query();
            assert_eq!(ViewState::from_query(&q), (v, vec![]), "{q}");
            assert_eq!(Tab::parse(tab.as_str()), Ok(tab));
        }
        let v = ViewState {
            tab: Tab::Workers,
            worker: Some("w 1/é".into()),
            ..ViewState::default()
        };
        assert_eq!(v.to_query(), "?tab=workers&worker=w%201/%C3%A9");
        assert_eq!(ViewState::from_query(&v.to_query()).0, v);
        let (_, w) = ViewState::from_query("?tab=lanes");
        assert_eq!(
            w,
            ["ignored tab `lanes`: use metrics, jobs, workers or settings"]
        );
    }

    #[test]
    fn a_portals_defaults_are_the_base_and_stay_out_of_the_url() {
        let d = ViewState {
            endpoint: EndpointRef::Http {
                api_base: "/api".into(),
                id: "prod".into(),
            },
            refresh: Some(10_000),
            theme: Theme::Dark,
            tz: TimeZone::Utc,
            ..ViewState::default()
        };
        let (v, w) = ViewState::from_query_over(d.clone(), "?range=6h");
        assert!(w.is_empty());
        assert_eq!(
            (v.endpoint.clone(), v.refresh, v.theme),
            (d.endpoint.clone(), Some(10_000), Theme::Dark)
        );
        assert_eq!(v.to_query_over(&d), "?endpoint=prod&api=/api&range=6h");
        // Back to the built-in values: they must now be written, or the portal's
        // defaults would come back on reload.
        let mut demo = v.clone();
        demo.endpoint = EndpointRef::Demo;
        demo.theme = Theme::System;
        demo.tz = TimeZone::Local;
        let q = demo.to_query_over(&d);
        assert_eq!(q, "?endpoint=demo&range=6h&tz=local&theme=system");
        assert_eq!(ViewState::from_query_over(d.clone(), &q).0, demo);
    }

    #[test]
    fn invalid_values_keep_defaults_and_warn() {
        let (v, w) = ViewState::from_query(
            "?endpoint=../etc&refresh=3x&range=9d&tz=mars&bucket=1ms&sort=size",
        );
        assert_eq!(v, ViewState::default());
        assert_eq!(w.len(), 6, "{w:?}");
        assert!(w[5].starts_with("ignored sort `size`"), "{w:?}");
        assert!(w[0].starts_with("ignored endpoint `../etc`"));
        assert!(w[2].contains("7 days"));
    }

    #[test]
    fn intervals_and_endpoint_keys() {
        assert_eq!(parse_interval("off"), Ok(None));
        assert_eq!(parse_interval("2s"), Ok(Some(2_000)));
        assert_eq!(parse_interval("1m"), Ok(Some(60_000)));
        assert_eq!(parse_interval("10"), Ok(Some(MIN_REFRESH_MS)));
        assert_eq!(format_interval(Some(30_000)), "30s");
        let e = EndpointRef::Http {
            api_base: "http://h:1".into(),
            id: "x".into(),
        };
        assert_eq!(EndpointRef::from_key(&e.key()), Some(e));
        assert_eq!(EndpointRef::from_key("demo"), Some(EndpointRef::Demo));
    }
}
