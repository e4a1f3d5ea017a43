//! `Ref` and `Fn::GetAtt` of each resource type, as AWS answers them.

use std::collections::BTreeSet;

use serde_json::Value;

use super::{config_name, placeholder_name};
use crate::stack::template::{Attributes, Evaluator};

/// Ref and Fn::GetAtt of each resource type, as AWS answers them, with
/// placeholders for what exists only once cognate runs.
pub(super) struct Names<'a> {
    pub(super) stack: &'a str,
    pub(super) region: &'a str,
    pub(super) account: &'a str,
    /// Resources whose `ProtocolType` is WEBSOCKET.
    pub(super) websocket_apis: BTreeSet<String>,
}

impl Names<'_> {
    pub(super) fn function_name(
        &self,
        ev: &Evaluator<'_>,
        logical: &str,
        props: &Value,
    ) -> Result<String, String> {
        match props.get("FunctionName") {
            Some(n) => ev.string(n, "FunctionName"),
            None => Ok(config_name(self.stack, logical)),
        }
    }
}

impl Attributes for Names<'_> {
    fn attribute(
        &self,
        ev: &Evaluator<'_>,
        logical: &str,
        kind: &str,
        props: &Value,
        attr: Option<&str>,
    ) -> Result<Value, String> {
        let (region, account) = (self.region, self.account);
        let name = config_name(self.stack, logical);
        let pool_of = |ev: &Evaluator<'_>| -> Result<String, String> {
            let id = props
                .get("UserPoolId")
                .ok_or_else(|| format!("{logical} has no UserPoolId"))
                .and_then(|v| ev.string(v, "UserPoolId"))?;
            placeholder_name(&id, "pool")
                .ok_or_else(|| format!("{logical}'s UserPoolId must be a pool of this stack"))
        };
        let s = match (kind, attr) {
            ("AWS::Cognito::UserPool", None | Some("UserPoolId")) => format!("${{pool.{name}}}"),
            ("AWS::Cognito::UserPool", Some("Arn")) => {
                format!("arn:aws:cognito-idp:{region}:{account}:userpool/${{pool.{name}}}")
            }
            ("AWS::Cognito::UserPool", Some("ProviderName")) => {
                format!("cognito-idp.{region}.amazonaws.com/${{pool.{name}}}")
            }
            ("AWS::Cognito::UserPool", Some("ProviderURL")) => {
                format!("https://cognito-idp.{region}.amazonaws.com/${{pool.{name}}}")
            }
            ("AWS::Cognito::UserPoolClient", None | Some("ClientId")) => {
                format!("${{client.{}.{logical}}}", pool_of(ev)?)
            }
            ("AWS::Cognito::UserPoolClient", Some("ClientSecret")) => {
                format!("${{clientsecret.{}.{logical}}}", pool_of(ev)?)
            }
            ("AWS::Cognito::UserPoolClient", Some("Name")) => match props.get("ClientName") {
                Some(n) => ev.string(n, "ClientName")?,
                None => logical.to_string(),
            },
            ("AWS::Cognito::UserPoolDomain", None) => {
                ev.string(props.get("Domain").unwrap_or(&Value::Null), "Domain")?
            }
            ("AWS::Cognito::UserPoolDomain", Some("CloudFrontDistribution")) => {
                "cognate.cloudfront.net".to_string()
            }
            ("AWS::Cognito::UserPoolResourceServer", None) => ev.string(
                props.get("Identifier").unwrap_or(&Value::Null),
                "Identifier",
            )?,
            ("AWS::Cognito::UserPoolIdentityProvider", None) => ev.string(
                props.get("ProviderName").unwrap_or(&Value::Null),
                "ProviderName",
            )?,
            ("AWS::Cognito::UserPoolGroup", None) => match props.get("GroupName") {
                Some(n) => ev.string(n, "GroupName")?,
                None => name,
            },
            ("AWS::Cognito::UserPoolUser", None) => match props.get("Username") {
                Some(n) => ev.string(n, "Username")?,
                None => name,
            },
            ("AWS::ApiGatewayV2::Api", None | Some("ApiId")) => {
                if self.websocket_apis.contains(logical) {
                    format!("${{wsapiid.{name}}}")
                } else {
                    format!("${{apiid.{name}}}")
                }
            }
            ("AWS::ApiGatewayV2::Api", Some("ApiEndpoint")) => {
                if self.websocket_apis.contains(logical) {
                    format!("wss://${{wsapiid.{name}}}.execute-api.{region}.amazonaws.com")
                } else {
                    format!("https://${{apiid.{name}}}.execute-api.{region}.amazonaws.com")
                }
            }
            ("AWS::ApiGatewayV2::Stage", None) => {
                ev.string(props.get("StageName").unwrap_or(&Value::Null), "StageName")?
            }
            ("AWS::ApiGatewayV2::DomainName", None) => ev.string(
                props.get("DomainName").unwrap_or(&Value::Null),
                "DomainName",
            )?,
            ("AWS::ApiGatewayV2::DomainName", Some("RegionalDomainName")) => {
                format!(
                    "d-{}.execute-api.{region}.amazonaws.com",
                    logical.to_lowercase()
                )
            }
            ("AWS::ApiGatewayV2::DomainName", Some("RegionalHostedZoneId")) => {
                "Z1UJRXOUMOOFQ8".to_string()
            }
            (
                "AWS::ApiGatewayV2::Integration"
                | "AWS::ApiGatewayV2::Authorizer"
                | "AWS::ApiGatewayV2::Route"
                | "AWS::ApiGatewayV2::Deployment"
                | "AWS::ApiGatewayV2::RouteResponse"
                | "AWS::ApiGatewayV2::ApiMapping",
                None,
            ) => logical.to_string(),
            ("AWS::ApiGatewayV2::Authorizer", Some("AuthorizerId")) => logical.to_string(),
            ("AWS::ApiGatewayV2::Integration", Some("IntegrationId")) => logical.to_string(),
            ("AWS::ApiGatewayV2::Route", Some("RouteId")) => logical.to_string(),
            ("AWS::Lambda::Function", None) => self.function_name(ev, logical, props)?,
            ("AWS::Lambda::Function", Some("Arn")) => format!(
                "arn:aws:lambda:{region}:{account}:function:{}",
                self.function_name(ev, logical, props)?
            ),
            (k, None) if k.starts_with("AWS::IAM::") => name,
            (k, Some("Arn")) if k.starts_with("AWS::IAM::") => {
                format!("arn:aws:iam::{account}:role/{name}")
            }
            ("AWS::Logs::LogGroup", Some("Arn")) => {
                format!("arn:aws:logs:{region}:{account}:log-group:{name}:*")
            }
            (_, None) => name,
            (_, Some("Arn")) => format!("arn:aws:cloudformation:{region}:{account}:{name}"),
            (k, Some(a)) => {
                return Err(format!(
                    "{logical} ({k}) has no attribute {a} that cognate knows"
                ))
            }
        };
        Ok(Value::String(s))
    }
}
