-- DDL guard: after any DDL command, refuse the result if a guard or capture trigger is
-- missing or no longer ENABLE ALWAYS. Event triggers need a superuser to create and
-- cannot watch ALTER/DROP EVENT TRIGGER itself; verify reports that hole.
-- SECURITY DEFINER (as the owner): any role's DDL fires this, and the log schema is
-- not visible to them.
CREATE OR REPLACE FUNCTION @schema@.ddl_guard() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $f$
DECLARE problems text;
BEGIN
    SELECT string_agg(format('%s on %s', w.tgname, w.rel), ', ') INTO problems
      FROM (VALUES @expected_triggers@) AS w(rel, tgname)
     WHERE NOT EXISTS (SELECT 1 FROM pg_trigger t
                        WHERE t.tgrelid = to_regclass(w.rel) AND t.tgname = w.tgname AND t.tgenabled = 'A');
    IF problems IS NULL THEN
        SELECT string_agg(format('%s on %s', t.tgname, t.tgrelid::regclass), ', ') INTO problems
          FROM pg_trigger t JOIN pg_inherits i ON i.inhrelid = t.tgrelid
         WHERE i.inhparent = to_regclass('@schema@.log') AND t.tgname LIKE 'audit\_guard\_%' AND t.tgenabled <> 'A'
           AND NOT (t.tgname = 'audit_guard_truncate' AND t.tgenabled = 'O'
                    AND current_setting('@schema@.adding_partition', true) = 'on');
    END IF;
    IF problems IS NOT NULL THEN
        RAISE EXCEPTION 'tenantguard audit log: % must exist and stay ENABLE ALWAYS', problems
            USING HINT = 'the audit log guards cannot be disabled or dropped; re-run the audit-log migration if this is intended';
    END IF;
END $f$;
ALTER FUNCTION @schema@.ddl_guard() OWNER TO @owner@;

DROP EVENT TRIGGER IF EXISTS @event_trigger@;
CREATE EVENT TRIGGER @event_trigger@ ON ddl_command_end EXECUTE FUNCTION @schema@.ddl_guard();
ALTER EVENT TRIGGER @event_trigger@ ENABLE ALWAYS;
