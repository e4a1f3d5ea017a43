-- Email one-time codes as a second factor, and which factor a user prefers
-- when several are on (SOFTWARE_TOKEN_MFA or EMAIL_OTP).
ALTER TABLE users ADD COLUMN email_mfa_enabled BIGINT NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN mfa_preferred TEXT;
