//! Where the panel gets its data and how often, read from the page URL.
//!
//! `?endpoint=local&api=https://host&refresh=2s`: every parameter is optional. The
//! API key never goes in the URL (it would end up in logs and shared links).

/// The panel's settings for this page load.
#[derive(Debug, Clone, PartialEq)]
pub struct PanelConfig {
    /// API base URL without a trailing slash; empty means same origin.
    pub api_base: String,
    /// Endpoint id in `/v2/{endpoint_id}/...`.
    pub endpoint_id: String,
    /// Poll interval in ms; `None` means auto-refresh is off.
    pub refresh_ms: Option<u32>,
}

impl Default for PanelConfig {
    fn default() -> Self {
        PanelConfig {
            api_base: String::new(),
            endpoint_id: "local".into(),
            refresh_ms: Some(2_000),
        }
    }
}

/// Refresh intervals below this would hammer the server; they are raised to it.
pub const MIN_REFRESH_MS: u32 = 250;

impl PanelConfig {
    /// Reads a query string (with or without the leading `?`). Unknown or invalid
    /// values keep their defaults; the returned warnings say which and why.
    pub fn from_query(query: &str) -> (Self, Vec<String>) {
        let mut cfg = PanelConfig::default();
        let mut warnings = Vec::new();
        for pair in query
            .trim_start_matches('?')
            .split('&')
            .filter(|p| !p.is_empty())
        {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = percent_decode(value);
            match key {
                "endpoint" if is_valid_endpoint_id(&value) => cfg.endpoint_id = value,
                "endpoint" => warnings.push(format!(
                    "ignored endpoint `{value}`: use letters, digits, `-` and `_` only"
                )),
                "api" => cfg.api_base = value.trim_end_matches('/').to_string(),
                "refresh" => match parse_interval(&value) {
                    Ok(ms) => cfg.refresh_ms = ms,
                    Err(e) => warnings.push(format!("ignored refresh `{value}`: {e}")),
                },
                _ => {}
            }
        }
        (cfg, warnings)
    }

    /// URL of the endpoint's `/health`.
    pub fn health_url(&self) -> String {
        format!("{}/v2/{}/health", self.api_base, self.endpoint_id)
    }
}

fn is_valid_endpoint_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Parses `off`, `500ms`, `2s`, `1m` or a bare number of ms.
pub fn parse_interval(s: &str) -> Result<Option<u32>, String> {
    let s = s.trim();
    if s.eq_ignore_ascii_case("off") || s == "0" {
        return Ok(None);
    }
    let (num, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => s.split_at(i),
        None => (s, "ms"),
    };
    let n: u32 = num
        .parse()
        .map_err(|_| "expected a number followed by ms, s or m, or `off`".to_string())?;
    let ms = match unit {
        "ms" => Some(n),
        "s" => n.checked_mul(1_000),
        "m" => n.checked_mul(60_000),
        other => return Err(format!("unknown unit `{other}` (use ms, s or m)")),
    }
    .ok_or_else(|| "interval is too long".to_string())?;
    Ok(Some(ms.max(MIN_REFRESH_MS)))
}

/// Decodes `%XX` escapes and `+` (as in form-encoded query strings).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_when_query_is_empty() {
        let (cfg, w) = PanelConfig::from_query("");
        assert_eq!(cfg, PanelConfig::default());
        assert!(w.is_empty());
        assert_eq!(cfg.health_url(), "/v2/local/health");
    }

    #[test]
    fn reads_endpoint_api_and_refresh() {
        let (cfg, w) =
            PanelConfig::from_query("?endpoint=gpu-1&api=http%3A%2F%2Fh%3A9%2F&refresh=5s");
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(cfg.endpoint_id, "gpu-1");
        assert_eq!(cfg.refresh_ms, Some(5_000));
        assert_eq!(cfg.health_url(), "http://h:9/v2/gpu-1/health");
    }

    #[test]
    fn invalid_values_keep_defaults_and_warn() {
        let (cfg, w) = PanelConfig::from_query("endpoint=../x&refresh=fast");
        assert_eq!(cfg.endpoint_id, "local");
        assert_eq!(cfg.refresh_ms, Some(2_000));
        assert_eq!(w.len(), 2);
        assert!(w[0].contains("../x") && w[1].contains("fast"), "{w:?}");
    }

    #[test]
    fn intervals() {
        assert_eq!(parse_interval("off"), Ok(None));
        assert_eq!(parse_interval("1500"), Ok(Some(1_500)));
        assert_eq!(parse_interval("2s"), Ok(Some(2_000)));
        assert_eq!(parse_interval("1m"), Ok(Some(60_000)));
        assert_eq!(parse_interval("10ms"), Ok(Some(MIN_REFRESH_MS)));
        assert!(parse_interval("2h").unwrap_err().contains("unknown unit"));
        assert!(parse_interval("99999999m").is_err());
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%20b+c"), "a b c");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
        assert_eq!(percent_decode("%e2%9c%93é%"), "✓é%");
    }
}
