//! Resolving the tenant at the edge: a tower layer plus an axum extractor.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use jsonwebtoken::{decode, DecodingKey, Validation};
use serde_json::Value;
use tower::{Layer, Service};
use tracing::Instrument;

use crate::metrics::{outcome, TierMetrics};
use crate::{Error, RateLimits, TenantId, Tier};

/// Who is calling, for which tenant, in which tier: put in request extensions by
/// [`TenantLayer`] and read by the [`Tenant`] extractor.
#[derive(Clone, Debug)]
pub struct TenantContext {
    pub tenant: TenantId,
    /// The JWT `sub` when a JWT was verified, else "anonymous".
    pub actor: String,
    pub tier: Tier,
}

/// A verified-JWT source: the tenant comes from `tenant_claim`, the tier from `plan_claim`.
pub struct JwtSource {
    pub key: DecodingKey,
    pub validation: Validation,
    pub tenant_claim: String,
    pub plan_claim: String,
}

impl JwtSource {
    /// HS256 with a shared secret; `exp` is required and checked.
    pub fn hs256(secret: &[u8]) -> Self {
        let mut validation = Validation::new(jsonwebtoken::Algorithm::HS256);
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Self { key: DecodingKey::from_secret(secret), validation, tenant_claim: "tenant".into(), plan_claim: "plan".into() }
    }
}

/// Which sources are consulted. When several are configured and present they must agree.
pub struct TenantSources {
    pub jwt: Option<JwtSource>,
    pub header: Option<String>,
    /// Base domain: `<tenant>.<base>` in the Host header.
    pub subdomain_of: Option<String>,
    /// Any single header value longer than this is refused before anything else.
    pub max_header_bytes: usize,
}

impl Default for TenantSources {
    fn default() -> Self {
        Self { jwt: None, header: None, subdomain_of: None, max_header_bytes: 4096 }
    }
}

impl TenantSources {
    /// Resolves the tenant or says precisely why not. Never touches the database.
    pub fn resolve(&self, headers: &HeaderMap, limits: Option<&RateLimits>) -> Result<TenantContext, Error> {
        if let Some((name, value)) = headers.iter().find(|(_, v)| v.len() > self.max_header_bytes) {
            return Err(Error::HeaderTooLarge(format!("{name} is {} bytes, limit {}", value.len(), self.max_header_bytes)));
        }
        let mut found: Vec<(&str, TenantId)> = Vec::new();
        let mut actor = "anonymous".to_string();
        let mut plan = None;
        if let Some(jwt) = &self.jwt {
            let claims = verify_jwt(jwt, headers)?;
            let tenant = claims.get(&jwt.tenant_claim).and_then(Value::as_str).ok_or_else(|| Error::Unauthenticated(format!("token has no {:?} claim", jwt.tenant_claim)))?;
            found.push(("jwt", TenantId::parse(tenant)?));
            actor = claims.get("sub").and_then(Value::as_str).unwrap_or("anonymous").to_string();
            plan = claims.get(&jwt.plan_claim).and_then(Value::as_str).map(str::to_string);
        }
        if let Some(name) = &self.header {
            if let Some(value) = headers.get(name.as_str()) {
                let text = value.to_str().map_err(|_| Error::InvalidTenant("<non-ascii header>".into()))?;
                found.push(("header", TenantId::parse(text)?));
            }
        }
        if let Some(base) = &self.subdomain_of {
            if let Some(label) = subdomain(headers, base) {
                found.push(("subdomain", TenantId::parse(label)?));
            }
        }
        let Some(&(_, tenant)) = found.first() else { return Err(Error::MissingTenant) };
        if let Some((source, other)) = found.iter().find(|(_, t)| *t != tenant) {
            return Err(Error::TenantMismatch(format!("{} says {tenant}, {source} says {other}", found[0].0)));
        }
        let tier = limits.map(|l| l.tier(plan.as_deref())).unwrap_or_else(|| Tier::from("default"));
        Ok(TenantContext { tenant, actor, tier })
    }
}

fn verify_jwt(jwt: &JwtSource, headers: &HeaderMap) -> Result<HashMap<String, Value>, Error> {
    let value = headers.get(header::AUTHORIZATION).ok_or_else(|| Error::Unauthenticated("missing bearer token".into()))?;
    let token = value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| Error::Unauthenticated("authorization is not a bearer token".into()))?;
    // `decode` refuses alg=none and any algorithm not in the validation's list.
    decode::<HashMap<String, Value>>(token.trim(), &jwt.key, &jwt.validation)
        .map(|data| data.claims)
        .map_err(|e| Error::Unauthenticated(e.to_string()))
}

fn subdomain<'a>(headers: &'a HeaderMap, base: &str) -> Option<&'a str> {
    let host = headers.get(header::HOST)?.to_str().ok()?;
    let host = host.split(':').next()?;
    let label = host.strip_suffix(base)?.strip_suffix('.')?;
    (!label.contains('.')).then_some(label)
}

/// Configuration shared by every request through the layer.
pub struct TenantLayerConfig {
    pub sources: TenantSources,
    pub limits: Option<RateLimits>,
    pub metrics: Arc<TierMetrics>,
}

/// Resolves the tenant, enforces the tenant's rate limit, records tier metrics and runs
/// the inner service inside a span carrying the tenant.
#[derive(Clone)]
pub struct TenantLayer {
    config: Arc<TenantLayerConfig>,
}

impl TenantLayer {
    pub fn new(config: TenantLayerConfig) -> Self {
        Self { config: Arc::new(config) }
    }
}

impl<S> Layer<S> for TenantLayer {
    type Service = TenantService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        TenantService { inner, config: self.config.clone() }
    }
}

#[derive(Clone)]
pub struct TenantService<S> {
    inner: S,
    config: Arc<TenantLayerConfig>,
}

impl<S> Service<Request> for TenantService<S>
where
    S: Service<Request, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        let config = self.config.clone();
        let resolved = config.sources.resolve(request.headers(), config.limits.as_ref()).and_then(|ctx| {
            if let Some(limits) = &config.limits {
                limits.check(&ctx.tenant, &ctx.tier).map_err(|e| (e, ctx.tier.clone())).map_err(|(e, tier)| {
                    config.metrics.record(&tier, "rate_limited");
                    e
                })?;
            }
            Ok(ctx)
        });
        let ctx = match resolved {
            Ok(ctx) => ctx,
            Err(error) => {
                if !matches!(error, Error::RateLimited { .. }) {
                    config.metrics.record("unresolved", outcome(error.status().as_u16()));
                }
                tracing::warn!(code = error.code(), reason = %error, path = %request.uri().path(), "request refused at the edge");
                return Box::pin(async move { Ok(error.into_response()) });
            }
        };
        let span = tracing::info_span!("request", tenant = %ctx.tenant, tier = %ctx.tier, method = %request.method(), path = %request.uri().path());
        let tier = ctx.tier.clone();
        request.extensions_mut().insert(ctx);
        // Call the clone that was polled ready; keep the fresh clone for next time.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(
            async move {
                let response = inner.call(request).await?;
                config.metrics.record(&tier, outcome(response.status().as_u16()));
                Ok(response)
            }
            .instrument(span),
        )
    }
}

/// The extractor handlers take. Without [`TenantLayer`] in front it refuses with 401:
/// a handler can never run without a tenant.
#[derive(Clone, Debug)]
pub struct Tenant(pub TenantContext);

impl<S: Send + Sync> FromRequestParts<S> for Tenant {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Error> {
        parts.extensions.get::<TenantContext>().cloned().map(Tenant).ok_or(Error::MissingTenant)
    }
}
