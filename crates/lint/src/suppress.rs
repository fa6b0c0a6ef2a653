//! `-- tenantguard-ignore <rule-id>[, <rule-id>…]: <reason>` silences those rules on the
//! next statement (migrations) or the next line (application code). A reason is required,
//! and an ignore that silences nothing is itself reported, so exceptions cannot go stale.

pub const MARKER: &str = "tenantguard-ignore";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ignore {
    pub rules: Vec<String>,
    pub reason: String,
}

/// Parse the text after a comment opener. `None`: not a suppression at all;
/// `Some(Err)`: a suppression written wrongly (the message says how).
pub fn parse(comment: &str) -> Option<Result<Ignore, String>> {
    let at = comment.find(MARKER)?;
    let rest = &comment[at + MARKER.len()..];
    // `tenantguard-ignored` or `tenantguard-ignore-file` are other words.
    if rest.chars().next().is_some_and(|c| c.is_alphanumeric() || c == '-' || c == '_') {
        return None;
    }
    let rest = rest.trim_end_matches(['*', '/']).trim_end();
    let Some((ids, reason)) = rest.split_once(':') else {
        return Some(Err(format!("`{MARKER}` needs a rule id and a reason: `-- {MARKER} <rule-id>: <why this is safe>`")));
    };
    let rules: Vec<String> = ids.split([',', ' ', '\t']).map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect();
    let reason = reason.trim().to_string();
    if rules.is_empty() {
        return Some(Err(format!("`{MARKER}` names no rule; write `-- {MARKER} <rule-id>: <reason>`")));
    }
    if let Some(bad) = rules.iter().find(|r| !crate::extra_rules::is_known(r)) {
        return Some(Err(format!("`{MARKER}` names an unknown rule `{bad}` (see `tenantguard rules`)")));
    }
    if reason.is_empty() {
        return Some(Err(format!("`{MARKER} {}` gives no reason; a reason is required", rules.join(", "))));
    }
    Some(Ok(Ignore { rules, reason }))
}

/// Line comments (`--`, `//`, `#`) and block comments on one line of source, with their byte offsets in `text`.
pub fn comments_in(text: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        if let Some(i) = line.find(MARKER) {
            // The marker must sit in a comment: look back for an opener on the same line.
            let before = &line[..i];
            if before.contains("--") || before.contains("//") || before.contains('#') || before.contains("/*") {
                out.push((offset + i, line[i..].trim_end()));
            }
        }
        offset += line.len();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_forms() {
        assert_eq!(parse("-- tenantguard-ignore rls-disabled: lookup table").unwrap().unwrap().rules, vec!["rls-disabled"]);
        let two = parse("tenantguard-ignore rls-disabled, tenant-index-missing: tiny */").unwrap().unwrap();
        assert_eq!(two.rules.len(), 2);
        assert_eq!(two.reason, "tiny");
        assert!(parse("tenantguard-ignore rls-disabled").unwrap().is_err());
        assert!(parse("tenantguard-ignore rls-disabled:   ").unwrap().is_err());
        assert!(parse("tenantguard-ignore no-such-rule: x").unwrap().is_err());
        assert!(parse("tenantguard-ignored").is_none());
        assert!(parse("nothing here").is_none());
    }
}
