//! Signed per-tenant heads, kept outside the database: a superuser who rewrites and
//! recomputes a chain cannot also rewrite a file they never had and cannot re-sign.

use std::io::Write;
use std::path::Path;

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::db::UseError;
use crate::encoding::{enc, ANCHOR_TAG};
use crate::verify::{Head, TrustedHeads};

pub const FORMAT: &str = "tenantguard-audit-anchor/v1";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AnchorFile {
    pub format: String,
    pub schema: String,
    pub created_at: String,
    pub heads: Vec<AnchorHead>,
    pub public_key: String,
    pub signature: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AnchorHead {
    pub tenant: String,
    pub seq: i64,
    pub hash: String,
}

/// The signed message: sha256('tgal1/anchor' || enc(schema) || enc(created_at)
/// || for each head in tenant order: enc(tenant) || int8(seq) || enc(hash hex)).
pub fn message(schema: &str, created_at: &str, heads: &[AnchorHead]) -> [u8; 32] {
    let mut sorted: Vec<&AnchorHead> = heads.iter().collect();
    sorted.sort_by(|a, b| a.tenant.cmp(&b.tenant));
    let mut out = ANCHOR_TAG.to_vec();
    enc(&mut out, Some(schema.as_bytes()));
    enc(&mut out, Some(created_at.as_bytes()));
    for h in sorted {
        enc(&mut out, Some(h.tenant.as_bytes()));
        out.extend_from_slice(&h.seq.to_be_bytes());
        enc(&mut out, Some(h.hash.as_bytes()));
    }
    Sha256::digest(out).into()
}

pub fn sign(key: &SigningKey, schema: &str, heads: &[Head]) -> AnchorFile {
    let heads: Vec<AnchorHead> =
        heads.iter().map(|h| AnchorHead { tenant: h.tenant.clone(), seq: h.seq, hash: h.hash.clone() }).collect();
    let created_at = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string();
    let signature = key.sign(&message(schema, &created_at, &heads));
    AnchorFile {
        format: FORMAT.into(),
        schema: schema.into(),
        created_at,
        heads,
        public_key: hex::encode(key.verifying_key().as_bytes()),
        signature: hex::encode(signature.to_bytes()),
    }
}

/// Check the signature (against `trusted` if given, else the embedded key) and return the heads.
pub fn check(file: &AnchorFile, trusted: Option<&VerifyingKey>) -> Result<TrustedHeads, String> {
    if file.format != FORMAT {
        return Err(format!("unknown anchor format `{}` (expected {FORMAT})", file.format));
    }
    let embedded = parse_public_key(&file.public_key)?;
    if let Some(t) = trusted {
        if t != &embedded {
            return Err("the anchor was signed by a different key than the trusted one".into());
        }
    }
    let sig_bytes: [u8; 64] = hex::decode(&file.signature)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or("the anchor signature is not 64 hex-encoded bytes")?;
    embedded
        .verify(&message(&file.schema, &file.created_at, &file.heads), &Signature::from_bytes(&sig_bytes))
        .map_err(|_| "the anchor signature does not match its contents: the file was altered".to_string())?;
    let mut heads = TrustedHeads::new();
    for h in &file.heads {
        let hash = hex::decode(&h.hash).map_err(|_| format!("bad hash for tenant {}", h.tenant))?;
        heads.insert(h.tenant.clone(), (h.seq, hash));
    }
    Ok(heads)
}

pub fn parse_public_key(text: &str) -> Result<VerifyingKey, String> {
    let bytes: [u8; 32] = hex::decode(text.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or("a public key must be 32 hex-encoded bytes")?;
    VerifyingKey::from_bytes(&bytes).map_err(|e| format!("invalid public key: {e}"))
}

/// Read a signing key (32 hex-encoded bytes); with `generate`, create it (mode 0600) if missing.
pub fn load_key(path: &Path, generate: bool) -> Result<SigningKey, UseError> {
    if !path.exists() && generate {
        let key = SigningKey::generate(&mut rand_core::OsRng);
        write_private(path, hex::encode(key.to_bytes()).as_bytes())
            .map_err(|e| UseError::Other(format!("cannot create the key file {}: {e}", path.display())))?;
        return Ok(key);
    }
    let text = std::fs::read_to_string(path).map_err(|e| {
        UseError::Other(format!("cannot read the key file {} ({e}); pass --generate-key to create one", path.display()))
    })?;
    let bytes: [u8; 32] = hex::decode(text.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| UseError::Other(format!("{} is not a key: expected 32 hex-encoded bytes", path.display())))?;
    Ok(SigningKey::from_bytes(&bytes))
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    f.write_all(bytes)
}

/// Write the anchor read-only and never over an existing file: an anchor is evidence.
pub fn write(path: &Path, file: &AnchorFile) -> Result<(), UseError> {
    use std::os::unix::fs::OpenOptionsExt;
    let text = serde_json::to_string_pretty(file).map_err(|e| UseError::Other(e.to_string()))?;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o444)
        .open(path)
        .map_err(|e| UseError::Other(format!("cannot create the anchor file {} ({e}); anchors are never overwritten, choose a new name", path.display())))?;
    f.write_all(text.as_bytes()).map_err(|e| UseError::Other(format!("writing {}: {e}", path.display())))
}

pub fn read(path: &Path) -> Result<AnchorFile, UseError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| UseError::Other(format!("cannot read the anchor file {} ({e})", path.display())))?;
    serde_json::from_str(&text).map_err(|e| UseError::Other(format!("{} is not an anchor file: {e}", path.display())))
}
