//! SQL text helpers and the attack helper every attempt (and the emitted pgTAP suite) runs through.

use tenantguard_catalog::quote_ident;

/// A string literal. The probe's sessions set `standard_conforming_strings = on`, so only
/// quotes need doubling; backslashes go through `E''` to stay correct on any server setting.
pub fn lit(s: &str) -> String {
    if s.contains('\\') {
        format!("E'{}'", s.replace('\\', "\\\\").replace('\'', "''"))
    } else {
        format!("'{}'", s.replace('\'', "''"))
    }
}

/// Always-quoted identifier: the quoting is then right for every spelling (mixed case, spaces, quotes, unicode).
pub fn ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// `schema.name`, always quoted.
pub fn qualified(schema: &str, name: &str) -> String {
    format!("{}.{}", ident(schema), ident(name))
}

/// `schema.name` as people read it (quoted only where PostgreSQL needs it).
pub fn display(schema: &str, name: &str) -> String {
    format!("{}.{}", quote_ident(schema), quote_ident(name))
}

/// Statement and lock timeouts for every probe transaction: an attack must never hang on,
/// or hold up, the application's own locks.
pub const TIMEOUTS: &str = "SET LOCAL statement_timeout = '30s'; SET LOCAL lock_timeout = '2s'; SET LOCAL idle_in_transaction_session_timeout = '60s'";

/// The attack helper, created in `pg_temp` inside each (rolled-back) transaction.
///
/// One call runs one attempt entirely inside a subtransaction that it always aborts, so
/// every row written, lock taken, role switched and setting changed is undone:
/// 1. `prepare`, as the probing login: picks B's rows or builds the row to write (json text in `$1`);
/// 2. switches to the app role and sets the tenant context (`set_config(..., true)`);
/// 3. `attack`: reads (`reads`: its text result is kept in `$2`, a count or json of row keys) or writes;
/// 4. back to the login (RESET ROLE), `verify` counts what really happened to tenant B;
///    with `delta` it runs before and after and reports the difference.
///
/// Returns `n:<count>` (rows of B seen or changed), `skip:<why>`, or `<stage>:<sqlstate>:<message>`.
pub const HELPER: &str = r#"CREATE FUNCTION pg_temp.tg_attack(app text, ctx json, prepare text, attack text, reads boolean, verify text, delta boolean)
RETURNS text LANGUAGE plpgsql AS $tg$
DECLARE
  p text; a text; n bigint; before bigint; stage text := 'prepare';
BEGIN
  BEGIN
    IF prepare IS NOT NULL THEN
      EXECUTE prepare INTO p;
      IF p IS NULL THEN RAISE EXCEPTION USING ERRCODE = 'TGSKP', MESSAGE = 'no rows to attack with'; END IF;
    END IF;
    IF delta THEN EXECUTE verify INTO before USING p, a; END IF;
    stage := 'attack';
    PERFORM set_config('role', app, true);
    PERFORM set_config(c.k, c.v, true) FROM json_each_text(ctx) AS c(k, v);
    IF reads THEN
      EXECUTE attack INTO a USING p;
      n := CASE WHEN a ~ '^[0-9]+$' THEN a::bigint ELSE 0 END;
    ELSE
      EXECUTE attack USING p;
      GET DIAGNOSTICS n = ROW_COUNT;
    END IF;
    stage := 'verify';
    PERFORM set_config('role', 'none', true);
    IF delta THEN
      EXECUTE verify INTO n USING p, a;
      n := n - before;
    ELSIF verify IS NOT NULL THEN
      EXECUTE verify INTO n USING p, a;
    END IF;
    RAISE EXCEPTION USING ERRCODE = 'TGRES', MESSAGE = coalesce(n, 0)::text;
  EXCEPTION WHEN others THEN
    IF SQLSTATE = 'TGRES' THEN RETURN 'n:' || SQLERRM; END IF;
    IF SQLSTATE = 'TGSKP' THEN RETURN 'skip:' || SQLERRM; END IF;
    RETURN stage || ':' || SQLSTATE || ':' || SQLERRM;
  END;
END
$tg$"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_and_identifiers_survive_hostile_text() {
        assert_eq!(lit("it's"), "'it''s'");
        assert_eq!(lit(r"a\b'"), r"E'a\\b'''");
        assert_eq!(ident(r#"We"ird Náme"#), r#""We""ird Náme""#);
        assert_eq!(display("public", "Mixed Case"), r#"public."Mixed Case""#);
    }
}
