-- The app can only read notes: there is no change of its to record.
-- include: base
-- include: audit-base
-- forbid: tenant-table-not-audited
-- isolated: UPDATE notes SET body = 'x' WHERE id = 1; SELECT 1
REVOKE INSERT, UPDATE, DELETE ON notes FROM app_user;
