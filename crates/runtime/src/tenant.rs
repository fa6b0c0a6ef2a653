use std::fmt;
use std::str::FromStr;

use uuid::Uuid;

use crate::Error;

/// A validated tenant identifier (a non-nil UUID).
///
/// Constructed only by parsing, so a value of this type is always a well-formed id. It is
/// bound as a query parameter, never formatted into SQL text.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TenantId(Uuid);

impl TenantId {
    /// Parses the canonical hyphenated form only: no braces, URNs or simple hex, so one
    /// tenant has exactly one spelling in headers, claims, logs and rate-limit keys.
    pub fn parse(input: &str) -> Result<Self, Error> {
        let bad = || Error::InvalidTenant(truncate(input));
        if input.len() != 36 {
            return Err(bad());
        }
        let uuid = Uuid::try_parse(input).map_err(|_| bad())?;
        Self::from_uuid(uuid).ok_or_else(bad)
    }

    /// Wraps a UUID read from the database; the nil UUID is "no tenant" and is refused.
    pub fn from_uuid(uuid: Uuid) -> Option<Self> {
        (!uuid.is_nil()).then_some(Self(uuid))
    }

    pub fn as_uuid(&self) -> Uuid {
        self.0
    }
}

/// Error messages echo at most a short prefix of what the client sent.
fn truncate(input: &str) -> String {
    input.chars().take(40).collect()
}

impl FromStr for TenantId {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Self::parse(s)
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

impl fmt::Debug for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TenantId({})", self.0.hyphenated())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_canonical_uuid_only() {
        let id = "7b0c2a5e-3f1d-4c8e-9a7b-1d2e3f4a5b6c";
        assert_eq!(TenantId::parse(id).unwrap().to_string(), id);
        for bad in [
            "",
            "1",
            "acme",
            "7b0c2a5e3f1d4c8e9a7b1d2e3f4a5b6c",
            "{7b0c2a5e-3f1d-4c8e-9a7b-1d2e3f4a5b6c}",
            "00000000-0000-0000-0000-000000000000",
            "7b0c2a5e-3f1d-4c8e-9a7b-1d2e3f4a5b6c'; drop table x; --",
            "7b0c2a5e-3f1d-4c8e-9a7b-1d2e3f4a5b6g",
        ] {
            assert!(TenantId::parse(bad).is_err(), "{bad} should be rejected");
        }
    }
}
