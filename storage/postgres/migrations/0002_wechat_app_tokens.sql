-- 0002_wechat_app_tokens: the WeChat app access token (stable_token) of each
-- appid, shared by every instance, and the lease that lets one instance
-- refresh it while the others wait and reuse the result.
CREATE TABLE wechat_app_tokens (
    app_id           text        PRIMARY KEY,
    token            text        NOT NULL DEFAULT '', -- '' until the first PutAppToken
    expires_at       timestamptz,
    lease_holder     text        NOT NULL DEFAULT '', -- '' when no refresh is in flight
    lease_expires_at timestamptz
);
