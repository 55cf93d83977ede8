-- 0009_login_grant_refusal: StoreLoginGrant writes a grant in one statement
-- (data-modifying CTEs, no BEGIN or COMMIT round trip). When a check fails,
-- the statement calls this function, whose error aborts the statement and
-- undoes every write in it; the SQLSTATE says which check failed.
CREATE FUNCTION wxoidc_refuse(code text, reason text) RETURNS integer
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
	RAISE EXCEPTION USING ERRCODE = code, MESSAGE = reason;
END
$$;
