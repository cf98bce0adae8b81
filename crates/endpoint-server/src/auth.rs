//! Who may do what: API keys with roles, checked on every `/v2` route.
//!
//! - `read`: the metrics feed, `/status`, `/health`, `/workers`, `/logs`, `/access`.
//! - `operate`: everything `read` may, and what changes jobs or workers: `/run`,
//!   `/runsync`, `/stream` (it hands each chunk out once, so a viewer must not take
//!   them), `/cancel`, `/retry`, `/purge-queue`, `/release`.
//! - a worker's secret opens only that worker's routes (`workers::api`), and no API
//!   key opens those.
//!
//! A key may be limited to some endpoints. A request without a key is `401`; a key the
//! server does not know is `401`; a known key lacking the role (or the endpoint) is
//! `403`, with a message naming the key, its role and the role the route needs. Keys
//! are compared in constant time (`subtle`), every configured key each time, and
//! never logged: [`ApiKey`]'s `Debug` shows its name and role only.

use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use crate::{AppError, AppState};

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Read the metrics, job states, health, workers and logs.
    Read,
    /// Also run, cancel, retry, purge, stream and release.
    Operate,
}

impl Role {
    /// The name used in the config and in answers.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Read => "read",
            Role::Operate => "operate",
        }
    }
}

/// One API key.
#[derive(Clone)]
pub struct ApiKey {
    /// A name for answers and logs (never the key itself).
    pub name: String,
    /// The key.
    pub secret: String,
    /// What it may do.
    pub role: Role,
    /// The endpoints it opens; `None`: all.
    pub endpoints: Option<Vec<String>>,
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKey")
            .field("name", &self.name)
            .field("role", &self.role)
            .field("endpoints", &self.endpoints)
            .finish_non_exhaustive()
    }
}

impl ApiKey {
    /// Whether the key opens endpoint `id`.
    pub fn opens(&self, id: &str) -> bool {
        self.endpoints
            .as_ref()
            .is_none_or(|list| list.iter().any(|e| e == id))
    }
}

/// The configured keys. None at all leaves the API open (the server then listens on
/// loopback only): every caller may operate.
#[derive(Debug, Clone, Default)]
pub struct Keys(Vec<ApiKey>);

impl Keys {
    /// These keys. Empty secrets are dropped.
    pub fn new(keys: impl IntoIterator<Item = ApiKey>) -> Self {
        Keys(keys.into_iter().filter(|k| !k.secret.is_empty()).collect())
    }

    /// One key that may operate every endpoint (`--api-key`).
    pub fn operate(secret: impl Into<String>) -> Self {
        Keys::new([ApiKey {
            name: "api-key".into(),
            secret: secret.into(),
            role: Role::Operate,
            endpoints: None,
        }])
    }

    /// True when no key is configured.
    pub fn is_open(&self) -> bool {
        self.0.is_empty()
    }

    /// How many keys there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there is no key.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The key `given` is, compared with every key in constant time.
    pub fn find(&self, given: &str) -> Option<&ApiKey> {
        let mut found = None;
        for k in &self.0 {
            if same_secret(given, &k.secret) {
                found = Some(k);
            }
        }
        found
    }
}

/// Constant-time equality of a presented secret and an expected one (the length may
/// leak; the content does not).
pub fn same_secret(given: &str, want: &str) -> bool {
    given.as_bytes().ct_eq(want.as_bytes()).into()
}

/// The key a request presents: `Authorization: Bearer <key>`, or the bare key as
/// RunPod also accepts.
pub fn presented(headers: &axum::http::HeaderMap) -> Option<&str> {
    headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .map(|v| v.strip_prefix("Bearer ").map(str::trim).unwrap_or(v))
}

/// What the caller of a request may do, once its key is checked.
#[derive(Debug, Clone, Serialize)]
pub struct Access {
    /// The key's name; `None` when the API is open (no key configured).
    pub key: Option<String>,
    /// Its role.
    pub role: Role,
}

/// The endpoint id in a `/v2/{id}/...` path.
fn endpoint_of(path: &str) -> &str {
    path.strip_prefix("/v2/")
        .and_then(|p| p.split('/').next())
        .unwrap_or("")
}

/// Checks that the request's key has `needs` on the endpoint in its path; the
/// [`Access`] goes into the request's extensions.
fn check(state: &AppState, req: &Request, needs: Role) -> Result<Access, AppError> {
    if state.keys.is_open() {
        return Ok(Access {
            key: None,
            role: Role::Operate,
        });
    }
    let given = presented(req.headers()).ok_or(AppError::Unauthorized(
        "missing Authorization header (use: Bearer <api key>)",
    ))?;
    let endpoint = endpoint_of(req.uri().path());
    let Some(key) = state.keys.find(given) else {
        if let Some(worker) = state
            .local(endpoint)
            .and_then(|e| e.worker_with_secret(given))
        {
            return Err(AppError::Forbidden(format!(
                "this is the secret of worker `{worker}`: it opens only that worker's routes; this route needs an API key with the `{}` role",
                needs.as_str()
            )));
        }
        return Err(AppError::Unauthorized("API key not accepted"));
    };
    if !key.opens(endpoint) {
        return Err(AppError::Forbidden(format!(
            "the key `{}` is not for endpoint `{endpoint}`",
            key.name
        )));
    }
    if key.role < needs {
        return Err(AppError::Forbidden(format!(
            "the key `{}` has the `{}` role; this route needs the `{}` role",
            key.name,
            key.role.as_str(),
            needs.as_str()
        )));
    }
    Ok(Access {
        key: Some(key.name.clone()),
        role: key.role,
    })
}

async fn require(
    state: AppState,
    mut req: Request,
    next: Next,
    needs: Role,
) -> Result<Response, AppError> {
    let access = check(&state, &req, needs)?;
    req.extensions_mut().insert(access);
    Ok(next.run(req).await)
}

/// Middleware of the routes that need the `read` role.
pub async fn require_read(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Result<Response, AppError> {
    require(state, req, next, Role::Read).await
}

/// Middleware of the routes that need the `operate` role.
pub async fn require_operate(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Result<Response, AppError> {
    require(state, req, next, Role::Operate).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str, secret: &str, role: Role, endpoints: Option<&[&str]>) -> ApiKey {
        ApiKey {
            name: name.into(),
            secret: secret.into(),
            role,
            endpoints: endpoints.map(|l| l.iter().map(|s| s.to_string()).collect()),
        }
    }

    #[test]
    fn keys_are_found_by_their_secret_and_never_shown() {
        let keys = Keys::new([
            key("viewers", "v-secret", Role::Read, None),
            key("ops", "o-secret", Role::Operate, Some(&["a"])),
            key("empty", "", Role::Operate, None),
        ]);
        assert_eq!(keys.len(), 2, "an empty secret is no key");
        assert_eq!(keys.find("v-secret").map(|k| k.role), Some(Role::Read));
        assert_eq!(keys.find("o-secret").map(|k| k.name.as_str()), Some("ops"));
        assert!(keys.find("o-secre").is_none());
        assert!(keys.find("").is_none());
        assert!(keys.find("o-secret").unwrap().opens("a"));
        assert!(!keys.find("o-secret").unwrap().opens("b"));
        assert!(keys.find("v-secret").unwrap().opens("b"));
        let shown = format!("{keys:?}");
        assert!(shown.contains("viewers"), "{shown}");
        assert!(
            !shown.contains("v-secret") && !shown.contains("o-secret"),
            "{shown}"
        );
        assert!(Role::Read < Role::Operate);
        assert_eq!(endpoint_of("/v2/local/run"), "local");
        assert_eq!(endpoint_of("/openapi.json"), "");
    }
}
