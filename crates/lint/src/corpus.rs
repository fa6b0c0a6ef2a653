//! A generator of a realistic migration history for the benchmark: a tenant table per
//! feature with its tenant index, RLS, forced RLS, policy and grants, plus PL/pgSQL
//! functions, views, column additions, composite indexes and grant batches, in the
//! proportions of a few years of a SaaS product. A few flaws are planted (a table without
//! RLS every 97 features) so the audit has something to report.

use std::fmt::Write as _;
use std::path::Path;

/// Write `files` migrations (`00001_<what>.sql` …) into `dir`; returns the number of lines written.
pub fn generate(dir: &Path, files: usize) -> std::io::Result<usize> {
    std::fs::create_dir_all(dir)?;
    let mut lines = 0;
    for i in 0..files {
        let (name, body) = file(i);
        // Reviewed migrations carry a header: ticket, author, rollback notes.
        let sql = format!("-- Migration {n}: {name}\n-- Ticket: PLAT-{t}\n-- Reviewed-by: platform-team\n-- Rollback: restore from the previous release's schema dump;\n--   data written since then is kept.\n\n{body}", n = i + 1, t = 1000 + i * 7);
        lines += sql.lines().count();
        std::fs::write(dir.join(format!("{:05}_{name}.sql", i + 1)), sql)?;
    }
    Ok(lines)
}

/// The i-th migration: (description, SQL).
pub fn file(i: usize) -> (String, String) {
    if i == 0 {
        return ("init".into(), INIT.to_string());
    }
    let table = |k: usize| format!("feature_{k}");
    let latest = (i - 1) / 4 * 4 + 1; // the table created by the latest "table" migration
    let mut s = String::new();
    match i % 4 {
        1 => {
            let t = table(i);
            let _ = writeln!(s, "-- Feature {i}: {t}\nCREATE TABLE public.{t} (\n    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,\n    tenant_id uuid NOT NULL REFERENCES public.tenants (id),");
            for c in 0..(20 + i % 15) {
                let ty = ["text", "integer", "numeric(12,2)", "timestamptz", "boolean", "jsonb", "uuid"][c % 7];
                let default = if ty == "text" && c % 3 == 0 { " NOT NULL DEFAULT ''" } else { "" };
                let _ = writeln!(s, "    col_{c} {ty}{default},");
            }
            let _ = writeln!(s, "    created_at timestamptz NOT NULL DEFAULT now(),\n    UNIQUE (tenant_id, id)\n);");
            let _ = writeln!(s, "CREATE INDEX {t}_tenant_idx ON public.{t} (tenant_id);");
            if !i.is_multiple_of(97) {
                let _ = writeln!(s, "ALTER TABLE public.{t} ENABLE ROW LEVEL SECURITY;\nALTER TABLE public.{t} FORCE ROW LEVEL SECURITY;");
                let _ = writeln!(
                    s,
                    "CREATE POLICY {t}_isolation ON public.{t}\n    USING (tenant_id = current_setting('app.current_tenant')::uuid)\n    WITH CHECK (tenant_id = current_setting('app.current_tenant')::uuid);"
                );
            }
            let _ = writeln!(s, "GRANT SELECT, INSERT, UPDATE, DELETE ON public.{t} TO app_user;\nGRANT SELECT ON public.{t} TO reporting;");
            ("create_".to_string() + &t, s)
        }
        2 => {
            let t = table(latest);
            let _ = writeln!(s, "-- Totals for {t}\nCREATE OR REPLACE FUNCTION public.{t}_total(p_since timestamptz)\nRETURNS bigint\nLANGUAGE plpgsql STABLE\nAS $$\nDECLARE\n    n bigint;\nBEGIN");
            let _ = writeln!(s, "    -- RLS scopes the count to the caller's tenant.\n    SELECT count(*) INTO n\n      FROM public.{t}\n     WHERE created_at >= p_since;\n    IF n IS NULL THEN\n        n := 0;\n    END IF;");
            for k in 0..(10 + i % 12) {
                let _ = writeln!(s, "    -- step {k}: clamp to the reporting window\n    IF n > {lim} THEN\n        RAISE NOTICE 'feature {i}: % rows over {lim}', n;\n        n := {lim};\n    END IF;", lim = 1000 * (k + 1));
            }
            let _ = writeln!(s, "    RETURN n;\nEND;\n$$;");
            let _ = writeln!(s, "GRANT EXECUTE ON FUNCTION public.{t}_total(timestamptz) TO app_user;");
            let _ = writeln!(s, "CREATE VIEW public.{t}_recent WITH (security_invoker = true) AS\n    SELECT id, tenant_id, created_at\n      FROM public.{t}\n     WHERE created_at > now() - interval '30 days';");
            let _ = writeln!(s, "GRANT SELECT ON public.{t}_recent TO app_user;");
            ("functions_".to_string() + &t, s)
        }
        3 => {
            let t = table(latest);
            for c in 0..3 {
                let _ = writeln!(s, "ALTER TABLE public.{t} ADD COLUMN extra_{i}_{c} text;");
            }
            let _ = writeln!(s, "CREATE INDEX {t}_extra_{i}_idx ON public.{t} (tenant_id, extra_{i}_0);");
            let _ = writeln!(s, "COMMENT ON COLUMN public.{t}.extra_{i}_0 IS 'added in migration {i}';");
            let _ = writeln!(s, "CREATE TABLE public.{t}_audit_{i} (\n    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,\n    tenant_id uuid NOT NULL,\n    row_id bigint NOT NULL,\n    FOREIGN KEY (tenant_id, row_id) REFERENCES public.{t} (tenant_id, id),\n    changed_at timestamptz NOT NULL DEFAULT now(),\n    payload jsonb\n);");
            let _ = writeln!(s, "CREATE INDEX {t}_audit_{i}_tenant_idx ON public.{t}_audit_{i} (tenant_id);");
            let _ = writeln!(s, "ALTER TABLE public.{t}_audit_{i} ENABLE ROW LEVEL SECURITY;\nALTER TABLE public.{t}_audit_{i} FORCE ROW LEVEL SECURITY;");
            let _ = writeln!(s, "CREATE POLICY {t}_audit_{i}_isolation ON public.{t}_audit_{i}\n    USING (tenant_id = current_setting('app.current_tenant')::uuid)\n    WITH CHECK (tenant_id = current_setting('app.current_tenant')::uuid);");
            let _ = writeln!(s, "GRANT SELECT, INSERT ON public.{t}_audit_{i} TO app_user;");
            ("alter_".to_string() + &t, s)
        }
        _ => {
            let t = table(latest);
            let _ = writeln!(s, "-- Keep {t} tidy.\nCREATE OR REPLACE FUNCTION public.{t}_touch()\nRETURNS trigger\nLANGUAGE plpgsql\nAS $$\nBEGIN\n    NEW.created_at := coalesce(NEW.created_at, now());\n    RETURN NEW;\nEND;\n$$;");
            let _ = writeln!(s, "CREATE TRIGGER {t}_touch BEFORE INSERT ON public.{t}\n    FOR EACH ROW EXECUTE FUNCTION public.{t}_touch();");
            let _ = writeln!(s, "REVOKE ALL ON public.{t} FROM PUBLIC;\nGRANT SELECT ON public.{t}_recent TO reporting;");
            let _ = writeln!(s, "CREATE INDEX {t}_created_idx ON public.{t} (tenant_id, created_at DESC);");
            ("trigger_".to_string() + &t, s)
        }
    }
}

const INIT: &str = "-- Roles, tenants and the tenant setting.
CREATE ROLE app_user NOLOGIN;
CREATE ROLE reporting NOLOGIN;
CREATE TABLE public.tenants (
    id uuid PRIMARY KEY,
    name text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
GRANT SELECT ON public.tenants TO app_user;
";
