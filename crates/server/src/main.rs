//! cognate: an API gateway and a Cognito-compatible identity provider in
//! one binary. This file is the command line; `serve.rs` runs the server.

// A proxied request allocates and frees many small buffers across two
// worker threads; mimalloc's thread-local free lists cost less there than
// glibc's arenas (docs/performance.md, gateway benchmark).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use cognate::{client, serve};

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use serde_json::json;

#[derive(Parser)]
#[command(
    name = "cognate",
    version,
    about = "An API gateway and a Cognito-compatible identity provider in one binary"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (the built-in demo when no --config is given).
    Serve {
        /// Configuration file (TOML, version = 1).
        #[arg(long, conflicts_with = "template")]
        config: Option<PathBuf>,
        #[command(flatten)]
        stacks: StackArgs,
        #[command(flatten)]
        data: DataArgs,
        /// Address of the main listener (Cognito JSON API, issuers); port 0
        /// picks free ports for every listener.
        #[arg(long, default_value = "127.0.0.1:4000", env = "COGNATE_LISTEN")]
        listen: SocketAddr,
        /// Once every listener is up, write the outputs here as JSON.
        #[arg(long)]
        outputs_file: Option<PathBuf>,
    },
    /// Check a configuration file (or, with --template, a stack) and report
    /// every problem in it.
    ValidateConfig {
        #[arg(required_unless_present = "template")]
        file: Option<PathBuf>,
        #[command(flatten)]
        stacks: StackArgs,
    },
    /// Signing keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Users, through a running server's JSON API.
    Users {
        #[command(subcommand)]
        command: UsersCommand,
    },
    /// Sign in with a username and password and print the tokens.
    Token {
        #[command(flatten)]
        server: ServerArgs,
        #[arg(long)]
        username: String,
        #[arg(long)]
        password: String,
        /// App client (default: UserPoolClientId of the outputs).
        #[arg(long)]
        client_id: Option<String>,
        /// Secret of the app client, when it has one (SECRET_HASH is computed).
        #[arg(long)]
        client_secret: Option<String>,
    },
}

/// Serving an existing stack definition instead of a TOML file.
#[derive(Args, Clone)]
struct StackArgs {
    /// A CloudFormation or SAM template (JSON or YAML), a cdk.out folder, or
    /// a serverless.yml.
    #[arg(long)]
    template: Option<PathBuf>,
    /// cdk.out: serve only this stack.
    #[arg(long, requires = "template")]
    stack: Option<String>,
    /// The stack's name (default: the template file's stem; serverless.yml:
    /// {service}-{stage}).
    #[arg(long, requires = "template")]
    stack_name: Option<String>,
    /// Template parameters, as SAM spells them: Key=Value (or
    /// ParameterKey=Key,ParameterValue=Value), several after one flag.
    #[arg(long, num_args = 1.., value_name = "KEY=VALUE", requires = "template")]
    parameter_overrides: Vec<String>,
    /// Unsupported resource types and properties are warnings, not errors.
    #[arg(long, requires = "template")]
    allow_unsupported: bool,
    /// Region of a CloudFormation/SAM template or cdk.out (serverless.yml:
    /// provider.region); default us-east-1.
    #[arg(long, requires = "template")]
    region: Option<String>,
    /// serverless.yml's stage (`${opt:stage}`); default its provider.stage, else dev.
    #[arg(long, requires = "template")]
    stage: Option<String>,
    /// Read the definition again when it changes and apply it (open
    /// connections stay).
    #[arg(long, requires = "template")]
    watch: bool,
}

impl StackArgs {
    fn options(&self, data_dir: &std::path::Path) -> Result<Option<serve::StackSource>, String> {
        let Some(path) = &self.template else {
            return Ok(None);
        };
        let mut parameters = std::collections::BTreeMap::new();
        for p in &self.parameter_overrides {
            let (k, v) = if let Some(rest) = p.strip_prefix("ParameterKey=") {
                let (k, v) = rest.split_once(",ParameterValue=").ok_or_else(|| {
                    format!("--parameter-overrides {p}: write Key=Value or ParameterKey=K,ParameterValue=V")
                })?;
                (k.to_string(), v.to_string())
            } else {
                let (k, v) = p
                    .split_once('=')
                    .ok_or_else(|| format!("--parameter-overrides {p}: write Key=Value"))?;
                (k.to_string(), v.to_string())
            };
            parameters.insert(k, v);
        }
        let mut cli_options = std::collections::BTreeMap::new();
        if let Some(s) = &self.stage {
            cli_options.insert("stage".to_string(), s.clone());
        }
        if let Some(r) = &self.region {
            cli_options.insert("region".to_string(), r.clone());
        }
        Ok(Some(serve::StackSource {
            path: path.clone(),
            options: cognate_config::stack::StackOptions {
                stack: self.stack.clone(),
                stack_name: self.stack_name.clone(),
                parameters,
                allow_unsupported: self.allow_unsupported,
                code_dir: data_dir.join("stacks"),
                region: self.region.clone(),
                cli_options,
                env: std::env::vars().collect(),
            },
        }))
    }
}

#[derive(Args)]
struct DataArgs {
    /// Directory of the SQLite database and the outbox.
    #[arg(long, default_value = ".cognate", env = "COGNATE_DATA_DIR")]
    data_dir: PathBuf,
    /// PostgreSQL URL (postgres://...) instead of SQLite.
    #[arg(long, env = "COGNATE_DATABASE_URL")]
    database_url: Option<String>,
    /// The keys secrets are sealed with at rest (as `server.secret_key_file`;
    /// `COGNATE_SECRET_KEYS` holds the same lines and comes first).
    #[arg(long)]
    secret_key_file: Option<PathBuf>,
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Print a new key for sealing secrets at rest, as a line of a
    /// `server.secret_key_file` (put it first to make it the current key).
    NewSecretKey {
        /// The key's id.
        #[arg(long, default_value = "k1")]
        id: String,
    },
    /// Make new signing keys; tokens signed by the old ones stay valid until
    /// they expire.
    Rotate {
        #[command(flatten)]
        data: DataArgs,
        /// Only this pool (default: every pool).
        #[arg(long)]
        pool: Option<String>,
    },
}

#[derive(Args)]
struct ServerArgs {
    /// The outputs file `cognate serve --outputs-file` wrote: endpoint,
    /// credentials and ids are taken from it.
    #[arg(long)]
    outputs: Option<PathBuf>,
    /// Base URL of the JSON API (CognitoEndpoint).
    #[arg(long)]
    endpoint: Option<String>,
    #[arg(long)]
    region: Option<String>,
}

impl ServerArgs {
    /// The outputs file's values, and the endpoint and region: flags first,
    /// then the outputs.
    fn resolve(
        &self,
    ) -> Result<(std::collections::BTreeMap<String, String>, String, String), String> {
        let outputs = self
            .outputs
            .as_deref()
            .map(client::read_outputs)
            .transpose()?
            .unwrap_or_default();
        let endpoint = self
            .endpoint
            .clone()
            .or_else(|| outputs.get("CognitoEndpoint").cloned())
            .ok_or("--endpoint or --outputs is needed")?;
        let region = self
            .region
            .clone()
            .or_else(|| outputs.get("Region").cloned())
            .unwrap_or_else(|| "us-east-1".into());
        Ok((outputs, endpoint, region))
    }
}

#[derive(Subcommand)]
enum UsersCommand {
    /// Create a confirmed user with a permanent password (like
    /// cognito-user-token-helper's create-new-user).
    Create {
        #[command(flatten)]
        server: ServerArgs,
        #[arg(long)]
        user_pool_id: Option<String>,
        #[arg(long)]
        username: String,
        #[arg(long)]
        password: String,
        /// Email address, stored as verified.
        #[arg(long)]
        email: Option<String>,
        #[arg(long, env = "AWS_ACCESS_KEY_ID")]
        access_key_id: Option<String>,
        #[arg(long, env = "AWS_SECRET_ACCESS_KEY", hide_env_values = true)]
        secret_access_key: Option<String>,
    },
}

fn main() -> ExitCode {
    // Log lines (the access log among them) are written to stderr in
    // batches by a thread of their own, so a request never waits on a
    // write(2) (logs.rs). The guard writes what is held at exit.
    let (writer, _flush_at_exit) = cognate::logs::batched(std::io::stderr());
    {
        use tracing_subscriber::layer::SubscriberExt as _;
        use tracing_subscriber::util::SubscriberInitExt as _;
        use tracing_subscriber::Layer as _;
        // The access log's lines are written by their own layer (logs.rs);
        // COGNATE_LOG filters both.
        let others = tracing_subscriber::filter::filter_fn(|m| !cognate::logs::is_access_line(m));
        tracing_subscriber::registry()
            .with(
                tracing_subscriber::EnvFilter::try_from_env("COGNATE_LOG")
                    .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn")),
            )
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(writer.clone())
                    .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
                    .with_filter(others),
            )
            .with(cognate::logs::AccessLines(writer))
            .init();
    }
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime starts");
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err((code, message)) => {
            eprintln!("error: {message}");
            ExitCode::from(code)
        }
    }
}

async fn run(cli: Cli) -> Result<(), (u8, String)> {
    let fail = |m: String| (1u8, m);
    match cli.command {
        Command::Serve {
            config,
            stacks,
            data,
            listen,
            outputs_file,
        } => {
            let stacks_watch = stacks.watch;
            let stacks = stacks.options(&data.data_dir).map_err(|m| (2, m))?;
            // A stack that cannot be served is refused before anything
            // starts, with every problem (exit code 2, as validate-config).
            let loaded = match &stacks {
                Some(s) => Some(serve::load_stacks(s).map_err(|m| (2, m))?),
                None => None,
            };
            serve::run(serve::ServeArgs {
                config,
                watch: stacks_watch,
                stacks: stacks.zip(loaded),
                data_dir: data.data_dir,
                database_url: data.database_url,
                listen,
                outputs_file,
            })
            .await
            .map_err(fail)
        }
        Command::ValidateConfig { file, stacks } => {
            if let Some(s) = stacks
                .options(std::path::Path::new(".cognate"))
                .map_err(|m| (2, m))?
            {
                let loaded = serve::load_stacks(&s).map_err(|m| (2, m))?;
                serve::print_stack_notes(&loaded);
                let c = &loaded.config;
                println!(
                    "{}: ok ({} stack(s), {} user pool(s), {} HTTP API(s), {} WebSocket API(s), {} function(s))",
                    s.path.display(),
                    loaded.stacks.len(),
                    c.user_pools.len(),
                    c.http_apis.len(),
                    c.websocket_apis.len(),
                    c.functions.len()
                );
                return Ok(());
            }
            let file = file.expect("clap requires a file without --template");
            match serve::load_config(Some(&file)) {
                Ok(c) => {
                    println!(
                        "{}: ok ({} user pool(s), {} HTTP API(s), {} WebSocket API(s))",
                        file.display(),
                        c.user_pools.len(),
                        c.http_apis.len(),
                        c.websocket_apis.len()
                    );
                    Ok(())
                }
                Err(problems) => Err((2, problems)),
            }
        }
        Command::Keys {
            command: KeysCommand::Rotate { data, pool },
        } => rotate_keys(data, pool).await.map_err(fail),
        Command::Keys {
            command: KeysCommand::NewSecretKey { id },
        } => {
            println!("{}", cognate_store::seal::Keyring::new_key_line(&id));
            Ok(())
        }
        Command::Users {
            command:
                UsersCommand::Create {
                    server,
                    user_pool_id,
                    username,
                    password,
                    email,
                    access_key_id,
                    secret_access_key,
                },
        } => {
            let (outputs, endpoint, region) = server.resolve().map_err(fail)?;
            let pick =
                |given: Option<String>, key: &str| given.or_else(|| outputs.get(key).cloned());
            let credentials = match (pick(access_key_id, "AdminAccessKeyId"), pick(secret_access_key, "AdminSecretAccessKey")) {
                (Some(a), Some(s)) => cognate_config::AdminCredentials { access_key_id: a, secret_access_key: s },
                _ => return Err(fail("admin credentials are needed: --outputs, or --access-key-id and --secret-access-key".into())),
            };
            let api = client::ApiClient {
                endpoint,
                region,
                credentials: Some(credentials),
            };
            let pool = pick(user_pool_id, "UserPoolId")
                .ok_or_else(|| fail("--user-pool-id or --outputs is needed".into()))?;
            let mut attributes = vec![];
            if let Some(e) = &email {
                attributes.push(json!({"Name": "email", "Value": e}));
                attributes.push(json!({"Name": "email_verified", "Value": "true"}));
            }
            let created = api
                .call("AdminCreateUser", &json!({"UserPoolId": pool, "Username": username, "UserAttributes": attributes, "MessageAction": "SUPPRESS"}))
                .await
                .map_err(fail)?;
            api.call("AdminSetUserPassword", &json!({"UserPoolId": pool, "Username": username, "Password": password, "Permanent": true}))
                .await
                .map_err(fail)?;
            let mut user = created["User"].clone();
            user["UserStatus"] = json!("CONFIRMED");
            println!("{}", serde_json::to_string_pretty(&user).expect("json"));
            Ok(())
        }
        Command::Token {
            server,
            username,
            password,
            client_id,
            client_secret,
        } => {
            let (outputs, endpoint, region) = server.resolve().map_err(fail)?;
            let pick =
                |given: Option<String>, key: &str| given.or_else(|| outputs.get(key).cloned());
            let api = client::ApiClient {
                endpoint,
                region,
                credentials: None,
            };
            let client_id = pick(client_id, "UserPoolClientId")
                .ok_or_else(|| fail("--client-id or --outputs is needed".into()))?;
            let mut params = json!({"USERNAME": username, "PASSWORD": password});
            if let Some(secret) = &client_secret {
                params["SECRET_HASH"] = json!(cognate_identity::crypto::secret_hash(
                    secret, &username, &client_id
                ));
            }
            let result = api
                .call("InitiateAuth", &json!({"AuthFlow": "USER_PASSWORD_AUTH", "ClientId": client_id, "AuthParameters": params}))
                .await
                .map_err(fail)?;
            match result.get("AuthenticationResult") {
                Some(tokens) => {
                    println!("{}", serde_json::to_string_pretty(tokens).expect("json"));
                    Ok(())
                }
                None => Err(fail(format!(
                    "sign-in needs the {} challenge first",
                    result["ChallengeName"].as_str().unwrap_or("unknown")
                ))),
            }
        }
    }
}

async fn rotate_keys(data: DataArgs, pool: Option<String>) -> Result<(), String> {
    let store = serve::open_store(
        &data.data_dir,
        data.database_url.as_deref(),
        data.secret_key_file.as_deref(),
    )
    .await?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    let pools = match pool {
        Some(p) => vec![p],
        None => {
            let mut ids = Vec::new();
            let mut after: Option<String> = None;
            loop {
                let page = store
                    .list_pools(after.as_deref(), 100)
                    .await
                    .map_err(|e| e.to_string())?;
                let Some(last) = page.last() else { break };
                after = Some(last.id.clone());
                ids.extend(page.into_iter().map(|p| p.id));
            }
            ids
        }
    };
    // Key rotation needs only the store; the rest of the identity service
    // is not used here.
    let identity = cognate_identity::Identity::new(
        store.clone(),
        String::new(),
        String::new(),
        cognate_config::AdminCredentials {
            access_key_id: String::new(),
            secret_access_key: String::new(),
        },
        cognate_identity::messages::Messenger::outbox(&data.data_dir.join("outbox")),
    );
    for id in pools {
        let kids = identity
            .rotate_keys(&id, now)
            .await
            .map_err(|e| format!("{id}: {e}"))?;
        println!("{id}: new keys {}", kids.join(", "));
    }
    store.close().await;
    Ok(())
}
