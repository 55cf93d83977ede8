-- A keyed hash of the current WeChat session key, computed by the caller.
-- Sealed keys never compare equal (each seal has a fresh nonce), so without
-- it an unchanged key looked new and pushed the real previous key out.
-- Existing rows keep NULL: their next new key rotates as before.
ALTER TABLE wechat_identities ADD COLUMN session_key_hash bytea;
