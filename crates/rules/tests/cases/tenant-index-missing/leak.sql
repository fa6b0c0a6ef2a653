-- include: base
-- include: invoices
-- expect: tenant-index-missing public.invoices
DROP INDEX invoices_tenant;
