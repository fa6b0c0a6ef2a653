use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// Everything the runtime can refuse or fail with. Each variant maps to one HTTP status and
/// a stable machine-readable `error` code in the JSON body.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("tenant id is not a valid id: {0:?}")]
    InvalidTenant(String),
    #[error("no tenant in the request")]
    MissingTenant,
    #[error("token rejected: {0}")]
    Unauthenticated(String),
    #[error("tenant sources disagree: {0}")]
    TenantMismatch(String),
    #[error("request header too large: {0}")]
    HeaderTooLarge(String),
    #[error("rate limit exceeded for tenant tier {tier}")]
    RateLimited { tier: String, retry_after_secs: u64 },
    #[error("too many concurrent transactions for this tenant")]
    TooManyTransactions { retry_after_secs: u64 },
    #[error("the database reported tenant {got:?} after setting {want}")]
    ContextMismatch { want: String, got: String },
    #[error("configuration: {0}")]
    Config(String),
    #[error("job rejected: {0}")]
    JobRejected(String),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

impl Error {
    pub fn status(&self) -> StatusCode {
        match self {
            Error::InvalidTenant(_) | Error::TenantMismatch(_) | Error::HeaderTooLarge(_) => {
                StatusCode::BAD_REQUEST
            }
            Error::MissingTenant | Error::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            Error::RateLimited { .. } | Error::TooManyTransactions { .. } => {
                StatusCode::TOO_MANY_REQUESTS
            }
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Error::InvalidTenant(_) => "invalid_tenant",
            Error::MissingTenant => "missing_tenant",
            Error::Unauthenticated(_) => "unauthenticated",
            Error::TenantMismatch(_) => "tenant_mismatch",
            Error::HeaderTooLarge(_) => "header_too_large",
            Error::RateLimited { .. } => "rate_limited",
            Error::TooManyTransactions { .. } => "too_many_transactions",
            Error::ContextMismatch { .. } => "tenant_context_mismatch",
            Error::Config(_) => "configuration",
            Error::JobRejected(_) => "job_rejected",
            Error::Database(_) => "database",
        }
    }

    fn retry_after(&self) -> Option<u64> {
        match self {
            Error::RateLimited { retry_after_secs, .. }
            | Error::TooManyTransactions { retry_after_secs } => Some(*retry_after_secs),
            _ => None,
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = self.status();
        // Server-side failures are logged in full but not echoed: they can carry SQL details.
        let message = if status.is_server_error() {
            tracing::error!(error = %self, code = self.code(), "request failed");
            "internal error".to_string()
        } else {
            self.to_string()
        };
        let body = json!({ "error": self.code(), "message": message });
        let mut response = (status, axum::Json(body)).into_response();
        if let Some(secs) = self.retry_after() {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
        }
        response
    }
}
