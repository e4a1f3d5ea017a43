//! Messages to users: verification codes, reset codes, invitations.
//!
//! With `[messages.smtp]` configured, messages are mailed (lettre; STARTTLS,
//! TLS or plain for a local relay). Without it every message lands in the
//! outbox directory as one JSON file (and a log line), so every flow can be
//! completed locally: a test or a developer reads the code from the newest
//! file for the user.

use std::path::{Path, PathBuf};
use std::time::Duration;

use cognate_config::{Smtp, SmtpTls};
use lettre::message::{header::ContentType, Mailbox};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use serde::Serialize;

use crate::error::{CognitoError, Result};

/// What a message is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    SignUp,
    ResendCode,
    ForgotPassword,
    Invitation,
    VerifyAttribute,
    EmailOtp,
}

#[derive(Debug, Clone, Serialize)]
pub struct Message {
    pub kind: Kind,
    pub pool_id: String,
    pub username: String,
    /// The destination address.
    pub to: String,
    pub subject: String,
    pub body: String,
    /// The code or temporary password the message carries.
    pub code: String,
    pub created_ms: i64,
}

/// Where messages go.
#[derive(Clone)]
pub enum Messenger {
    Outbox(PathBuf),
    Smtp {
        transport: AsyncSmtpTransport<Tokio1Executor>,
        from: Mailbox,
    },
}

impl Messenger {
    pub fn outbox(dir: &Path) -> Messenger {
        Messenger::Outbox(dir.to_path_buf())
    }

    /// A messenger that mails through the configured server.
    pub fn smtp(config: &Smtp) -> std::result::Result<Messenger, String> {
        let from: Mailbox = config
            .from
            .parse()
            .map_err(|e| format!("messages.smtp.from '{}' is not a mailbox: {e}", config.from))?;
        let builder = match config.tls {
            SmtpTls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&config.host),
            SmtpTls::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&config.host)
                .map_err(|e| format!("messages.smtp: {e}"))?,
            SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&config.host)
                .map_err(|e| format!("messages.smtp: {e}"))?,
        };
        let mut builder = builder
            .port(config.port)
            .timeout(Some(Duration::from_secs(10)));
        if let (Some(u), Some(p)) = (&config.username, &config.password) {
            builder = builder.credentials(Credentials::new(u.clone(), p.clone()));
        }
        Ok(Messenger::Smtp {
            transport: builder.build(),
            from,
        })
    }

    pub async fn send(&self, message: &Message) -> Result<()> {
        match self {
            Messenger::Smtp { transport, from } => {
                let failed = |why: String| {
                    tracing::error!(to = %message.to, error = %why, "cannot mail the message");
                    CognitoError::code_delivery_failure("Unable to deliver the message.")
                };
                let to: Mailbox = message
                    .to
                    .parse()
                    .map_err(|e| failed(format!("bad address: {e}")))?;
                let mail = lettre::Message::builder()
                    .from(from.clone())
                    .to(to)
                    .subject(message.subject.clone())
                    .header(ContentType::TEXT_PLAIN)
                    .body(message.body.clone())
                    .map_err(|e| failed(e.to_string()))?;
                transport
                    .send(mail)
                    .await
                    .map_err(|e| failed(e.to_string()))?;
                tracing::info!(to = %message.to, kind = ?message.kind, "message mailed");
                Ok(())
            }
            Messenger::Outbox(dir) => {
                let name = format!(
                    "{:013}-{}-{}.json",
                    message.created_ms,
                    serde_json::to_value(message.kind)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_default(),
                    uuid::Uuid::new_v4()
                );
                let text = serde_json::to_vec_pretty(message).expect("message serializes");
                let write = async {
                    tokio::fs::create_dir_all(dir).await?;
                    // Written under a temporary name and renamed, so a reader
                    // never sees half a message.
                    let tmp = dir.join(format!(".{name}.tmp"));
                    tokio::fs::write(&tmp, &text).await?;
                    tokio::fs::rename(&tmp, dir.join(&name)).await
                };
                write.await.map_err(|e| {
                    tracing::error!(error = %e, dir = %dir.display(), "cannot write to the outbox");
                    CognitoError::code_delivery_failure("Unable to deliver the message.")
                })?;
                tracing::info!(
                    to = %message.to,
                    kind = ?message.kind,
                    file = %dir.join(&name).display(),
                    "message written to the outbox"
                );
                Ok(())
            }
        }
    }
}

/// Masks a destination as Cognito shows it: `a***@e***`.
pub fn mask_email(email: &str) -> String {
    let (local, domain) = email.split_once('@').unwrap_or((email, ""));
    let first = |s: &str| s.chars().next().map(String::from).unwrap_or_default();
    format!("{}***@{}***", first(local), first(domain))
}

pub fn mask_phone(phone: &str) -> String {
    let digits: Vec<char> = phone.chars().collect();
    let tail: String = digits[digits.len().saturating_sub(4)..].iter().collect();
    format!("+*******{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_are_masked() {
        assert_eq!(mask_email("alice@example.com"), "a***@e***");
        assert_eq!(mask_phone("+15555551234"), "+*******1234");
    }

    #[tokio::test]
    async fn outbox_messages_are_whole_json_files() {
        let dir = std::env::temp_dir().join(format!("cognate-outbox-{}", uuid::Uuid::new_v4()));
        let m = Messenger::outbox(&dir);
        let msg = Message {
            kind: Kind::SignUp,
            pool_id: "us-east-1_x".into(),
            username: "alice".into(),
            to: "alice@example.com".into(),
            subject: "s".into(),
            body: "Your verification code is 123456.".into(),
            code: "123456".into(),
            created_ms: 5,
        };
        m.send(&msg).await.unwrap();
        let files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(files.len(), 1);
        let v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&files[0]).unwrap()).unwrap();
        assert_eq!(
            (v["code"].as_str(), v["kind"].as_str()),
            (Some("123456"), Some("sign_up"))
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}
