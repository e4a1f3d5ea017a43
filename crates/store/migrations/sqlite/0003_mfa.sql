-- Software-token (TOTP) MFA: a secret waiting for its first code, the
-- verified secret, whether MFA is on for the user, and the last time step a
-- code was accepted for (a code is good once).
ALTER TABLE users ADD COLUMN totp_pending TEXT;
ALTER TABLE users ADD COLUMN totp_secret TEXT;
ALTER TABLE users ADD COLUMN totp_enabled BIGINT NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN totp_last_step BIGINT;
