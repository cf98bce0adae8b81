//! Endpoints the user added, and their API keys, in the browser's storage.
//!
//! The endpoint list lives in `localStorage`. An API key lives in `sessionStorage`
//! (gone when the tab closes) unless the user ticks "remember", then in
//! `localStorage`. Keys never go in the URL or in a log line.

use crate::view::state::EndpointRef;

const ENDPOINTS: &str = "endpoint-metrics.endpoints";
const KEY_PREFIX: &str = "endpoint-metrics.key.";

fn local() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok()?
}

fn session() -> Option<web_sys::Storage> {
    web_sys::window()?.session_storage().ok()?
}

/// The endpoint list as stored: a JSON array of [`EndpointRef::key`]s.
pub fn encode_endpoints(list: &[EndpointRef]) -> String {
    let keys: Vec<String> = list.iter().map(EndpointRef::key).collect();
    serde_json::to_string(&keys).unwrap_or_else(|_| "[]".into())
}

/// Reads [`encode_endpoints`]'s form; entries that do not parse are dropped.
pub fn decode_endpoints(s: &str) -> Vec<EndpointRef> {
    let keys: Vec<String> = serde_json::from_str(s).unwrap_or_default();
    let mut out: Vec<EndpointRef> = keys
        .iter()
        .filter_map(|k| EndpointRef::from_key(k))
        .filter(|e| *e != EndpointRef::Demo)
        .collect();
    out.dedup();
    out
}

/// The endpoints the user added.
pub fn saved_endpoints() -> Vec<EndpointRef> {
    local()
        .and_then(|s| s.get_item(ENDPOINTS).ok().flatten())
        .map(|s| decode_endpoints(&s))
        .unwrap_or_default()
}

/// Replaces the saved endpoint list.
pub fn save_endpoints(list: &[EndpointRef]) {
    if let Some(s) = local() {
        let _ = s.set_item(ENDPOINTS, &encode_endpoints(list));
    }
}

fn key_name(e: &EndpointRef) -> String {
    format!("{KEY_PREFIX}{}", e.key())
}

/// The API key for `e`, if one is set (this tab's first, then remembered).
pub fn api_key(e: &EndpointRef) -> Option<String> {
    let name = key_name(e);
    [session(), local()]
        .into_iter()
        .flatten()
        .find_map(|s| s.get_item(&name).ok().flatten())
        .filter(|k| !k.is_empty())
}

/// Whether `e`'s key is remembered across sessions.
pub fn key_is_remembered(e: &EndpointRef) -> bool {
    local().is_some_and(|s| s.get_item(&key_name(e)).ok().flatten().is_some())
}

/// Sets `e`'s key for this tab, or across sessions with `remember`; an empty key
/// removes it from both.
pub fn set_api_key(e: &EndpointRef, key: &str, remember: bool) {
    let name = key_name(e);
    for s in [session(), local()].into_iter().flatten() {
        let _ = s.remove_item(&name);
    }
    if key.is_empty() {
        return;
    }
    if let Some(s) = if remember { local() } else { session() } {
        let _ = s.set_item(&name, key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_round_trips_and_ignores_junk() {
        let list = vec![
            EndpointRef::Http {
                api_base: String::new(),
                id: "local".into(),
            },
            EndpointRef::Http {
                api_base: "https://gpu.example.com".into(),
                id: "sdxl".into(),
            },
        ];
        assert_eq!(decode_endpoints(&encode_endpoints(&list)), list);
        assert_eq!(decode_endpoints("not json"), vec![]);
        assert_eq!(
            decode_endpoints(r#"["demo","|ok","|bad id!"]"#),
            vec![EndpointRef::Http {
                api_base: String::new(),
                id: "ok".into()
            }]
        );
    }
}
