-- SRP (USER_SRP_AUTH): each user's salt and verifier, hex, written whenever
-- a password is set; and a payload for challenge sessions (the server's
-- ephemeral SRP values between the two steps, deleted once used or expired).
ALTER TABLE users ADD COLUMN srp_salt TEXT;
ALTER TABLE users ADD COLUMN srp_verifier TEXT;
ALTER TABLE auth_sessions ADD COLUMN payload TEXT;
