-- 0003_seal_app_tokens: app access tokens are stored sealed under the KEK
-- (bytea) instead of in plaintext. Stored tokens are dropped, not converted:
-- the database cannot seal them, and each is only a cache that the next
-- refresh fills again.
ALTER TABLE wechat_app_tokens DROP COLUMN token;
ALTER TABLE wechat_app_tokens ADD COLUMN token_encrypted bytea; -- NULL until the first PutAppToken
UPDATE wechat_app_tokens SET expires_at = NULL;
