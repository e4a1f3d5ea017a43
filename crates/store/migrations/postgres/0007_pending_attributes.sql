-- Attribute values waiting for verification (a pool's
-- AttributesRequireVerificationBeforeUpdate): name -> new value, JSON.
-- The old value stays in `attributes` until the code is confirmed.
ALTER TABLE users ADD COLUMN pending_attributes TEXT NOT NULL DEFAULT '{}';
