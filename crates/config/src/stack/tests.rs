use std::path::PathBuf;

use super::*;
use crate::{AuthorizerKind, IntegrationKind, IssuerStyle, JwtIssuer, Target};

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn tmp(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "cognate-stack-{tag}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn opts(dir: &Path) -> StackOptions {
    StackOptions {
        code_dir: dir.join("code"),
        ..Default::default()
    }
}

const L1: &str = r#"
AWSTemplateFormatVersion: "2010-09-09"
Parameters:
  StageName: {Type: String, Default: api}
Resources:
  Pool:
    Type: AWS::Cognito::UserPool
    Properties:
      UserPoolName: shop-users
      AutoVerifiedAttributes: [email]
      Policies: {PasswordPolicy: {MinimumLength: 10}}
      LambdaConfig:
        PreSignUp: !GetAtt Hook.Arn
        PreTokenGenerationConfig: {LambdaArn: !GetAtt Hook.Arn, LambdaVersion: V2_0}
      AccountRecoverySetting: {RecoveryMechanisms: [{Name: verified_email, Priority: 1}]}
  Client:
    Type: AWS::Cognito::UserPoolClient
    Properties:
      UserPoolId: !Ref Pool
      ExplicitAuthFlows: [ALLOW_ADMIN_USER_PASSWORD_AUTH, ALLOW_REFRESH_TOKEN_AUTH]
      AllowedOAuthFlowsUserPoolClient: true
      AllowedOAuthFlows: [code]
      AllowedOAuthScopes: [openid]
      CallbackURLs: [!Sub "https://${Api}.execute-api.${AWS::Region}.amazonaws.com/${StageName}/cb"]
      AccessTokenValidity: 30
      TokenValidityUnits: {AccessToken: minutes}
  Hello:
    Type: AWS::Lambda::Function
    Properties:
      Runtime: python3.12
      Handler: index.handler
      Code:
        ZipFile: |
          def handler(event, context):
              return {"statusCode": 200, "body": "hi"}
      Environment:
        Variables:
          POOL: !Ref Pool
          URL: !GetAtt Api.ApiEndpoint
      Role: !GetAtt Role.Arn
  Hook:
    Type: AWS::Lambda::Function
    Properties:
      Runtime: nodejs20.x
      Handler: index.handler
      Code: {ZipFile: "exports.handler = async (e) => e;"}
  Role:
    Type: AWS::IAM::Role
    Properties: {AssumeRolePolicyDocument: {}}
  Api:
    Type: AWS::ApiGatewayV2::Api
    Properties: {Name: shop, ProtocolType: HTTP}
  Auth:
    Type: AWS::ApiGatewayV2::Authorizer
    Properties:
      ApiId: !Ref Api
      AuthorizerType: JWT
      Name: cognito
      IdentitySource: [$request.header.Authorization]
      JwtConfiguration:
        Issuer: !Sub https://cognito-idp.${AWS::Region}.amazonaws.com/${Pool}
        Audience: [!Ref Client]
  Integration:
    Type: AWS::ApiGatewayV2::Integration
    Properties:
      ApiId: !Ref Api
      IntegrationType: AWS_PROXY
      IntegrationUri: !GetAtt Hello.Arn
      PayloadFormatVersion: "1.0"
  Route:
    Type: AWS::ApiGatewayV2::Route
    Properties:
      ApiId: !Ref Api
      RouteKey: GET /hello
      AuthorizationType: JWT
      AuthorizerId: !Ref Auth
      Target: !Join [/, [integrations, !Ref Integration]]
  Stage:
    Type: AWS::ApiGatewayV2::Stage
    Properties: {ApiId: !Ref Api, StageName: !Ref StageName, AutoDeploy: true}
  Deployment:
    Type: AWS::ApiGatewayV2::Deployment
    DependsOn: Route
    Properties: {ApiId: !Ref Api}
Outputs:
  StageUrl:
    Value: !Sub "https://${Api}.execute-api.${AWS::Region}.amazonaws.com/${StageName}"
  PoolId:
    Value: !Ref Pool
"#;

#[test]
fn an_l1_template_becomes_pools_functions_and_routes() {
    let dir = tmp("l1");
    let path = write(&dir, "shop.yaml", L1);
    let loaded = load(&path, &opts(&dir)).unwrap();
    let c = &loaded.config;
    assert_eq!(c.user_pools.len(), 1);
    let pool = &c.user_pools[0];
    assert_eq!(pool.name, "shop-Pool");
    assert_eq!(pool.display_name.as_deref(), Some("shop-users"));
    assert_eq!(pool.settings.issuer, IssuerStyle::Aws);
    assert_eq!(pool.settings.password_policy.minimum_length, 10);
    let hello = "arn:aws:lambda:us-east-1:000000000000:function:shop-Hook";
    assert_eq!(
        pool.settings.lambda_config.pre_sign_up.as_deref(),
        Some(hello)
    );
    assert_eq!(
        pool.settings.lambda_config.pre_token(),
        Some((hello, "V2_0"))
    );
    assert_eq!(pool.clients[0].name, "Client");
    assert_eq!(
        pool.clients[0].settings.callback_urls,
        vec!["${api.shop-Api}/api/cb".to_string()]
    );
    let api = &c.http_apis[0];
    assert_eq!(api.name, "shop-Api");
    assert_eq!(api.stages[0].name, "api");
    let auth = &api.authorizers[0];
    match &auth.kind {
        AuthorizerKind::Jwt(j) => match &j.issuer {
            JwtIssuer::Pool(pool) => assert_eq!(pool, "shop-Pool"),
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    }
    match &api.integrations[0].kind {
        IntegrationKind::Lambda { target, .. } => {
            assert_eq!(*target, Target::Function("shop-Hello".into()))
        }
        other => panic!("{other:?}"),
    }
    let f = c.functions.iter().find(|f| f.name == "shop-Hello").unwrap();
    assert_eq!(f.environment["POOL"], "${pool.shop-Pool}");
    assert_eq!(f.environment["URL"], "${api.shop-Api}");
    assert!(loaded.inline_files[0]
        .0
        .ends_with("shop/shop-Hello/index.py"));
    let stack = &loaded.stacks[0];
    assert_eq!(stack.outputs["StageUrl"], "${api.shop-Api}/api");
    assert_eq!(stack.outputs["PoolId"], "${pool.shop-Pool}");
    assert_eq!(stack.resources["Api"].physical_id, "${apiid.shop-Api}");
    assert_eq!(
        stack.resources["Stage"].url.as_deref(),
        Some("${api.shop-Api}/api")
    );
    assert!(loaded
        .not_applied
        .iter()
        .any(|n| n.contains("Role (AWS::IAM::Role)")));
    assert!(loaded
        .not_applied
        .iter()
        .any(|n| n.contains("Pool.AccountRecoverySetting")));
}

fn refused(text: &str, allow: bool) -> Result<Loaded, String> {
    let dir = tmp("refuse");
    let path = write(&dir, "bad.yaml", text);
    let mut o = opts(&dir);
    o.allow_unsupported = allow;
    load(&path, &o).map_err(|p| p.to_string())
}

#[test]
fn refusals_name_the_resource_its_type_and_the_file() {
    let e = refused("Resources:\n  Q:\n    Type: AWS::SQS::Queue\n", false).unwrap_err();
    assert!(e.contains("bad.yaml: bad/Q (AWS::SQS::Queue)"), "{e}");
    assert!(
        e.contains("resource type AWS::SQS::Queue is not supported"),
        "{e}"
    );

    let e = refused(
        "Resources:\n  P:\n    Type: AWS::Cognito::UserPool\n    Properties: {Frobnicate: 1}\n",
        false,
    )
    .unwrap_err();
    assert!(e.contains("bad/P (AWS::Cognito::UserPool)"), "{e}");
    assert!(e.contains("property Frobnicate is not supported"), "{e}");

    let e = refused(
        "Resources:\n  C:\n    Type: AWS::Cognito::UserPoolClient\n    Properties: {UserPoolId: !Ref Nope}\n",
        false,
    )
    .unwrap_err();
    assert!(e.contains("bad/C"), "{e}");
    assert!(e.contains("Ref to 'Nope'"), "{e}");

    let e = refused(
        "Resources:\n  A:\n    Type: AWS::Cognito::UserPool\n    Properties: {UserPoolName: !GetAtt B.Arn}\n  B:\n    Type: AWS::Cognito::UserPool\n    Properties: {UserPoolName: !Ref A}\n",
        false,
    )
    .unwrap_err();
    assert!(
        e.contains("circular dependency between resources: A -> B -> A"),
        "{e}"
    );

    let e = refused(
        "Resources:\n  P:\n    Type: AWS::Cognito::UserPool\n    Properties: {UserPoolName: !Sub 'x-${Unknown}'}\n",
        false,
    )
    .unwrap_err();
    assert!(e.contains("bad/P"), "{e}");
    assert!(e.contains("${Unknown}"), "{e}");
}

#[test]
fn allow_unsupported_turns_unsupported_parts_into_warnings() {
    let text = "Resources:\n  Q:\n    Type: AWS::SQS::Queue\n  P:\n    Type: AWS::Cognito::UserPool\n    Properties: {Frobnicate: 1}\n";
    let loaded = refused(text, true).unwrap();
    assert_eq!(loaded.config.user_pools.len(), 1);
    assert_eq!(loaded.warnings.len(), 2, "{:?}", loaded.warnings);
    // A broken reference stays an error.
    let e = refused(
        "Resources:\n  C:\n    Type: AWS::Cognito::UserPoolClient\n    Properties: {UserPoolId: !Ref Nope}\n",
        true,
    )
    .unwrap_err();
    assert!(e.contains("Ref to 'Nope'"), "{e}");
}

#[test]
fn sam_functions_with_http_api_events_and_globals() {
    let dir = tmp("sam");
    std::fs::create_dir_all(dir.join("src")).unwrap();
    let path = write(
        &dir,
        "template.yaml",
        r#"
Transform: AWS::Serverless-2016-10-31
Parameters:
  Greeting: {Type: String, Default: hello}
Globals:
  Function:
    Runtime: nodejs20.x
    Timeout: 5
    Environment: {Variables: {GREETING: !Ref Greeting}}
Resources:
  Pool:
    Type: AWS::Cognito::UserPool
  Client:
    Type: AWS::Cognito::UserPoolClient
    Properties: {UserPoolId: !Ref Pool, ExplicitAuthFlows: [ALLOW_ADMIN_USER_PASSWORD_AUTH]}
  Api:
    Type: AWS::Serverless::HttpApi
    Properties:
      Auth:
        DefaultAuthorizer: Cognito
        Authorizers:
          Cognito:
            IdentitySource: $request.header.Authorization
            JwtConfiguration:
              issuer: !Sub https://cognito-idp.${AWS::Region}.amazonaws.com/${Pool}
              audience: [!Ref Client]
  Hello:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/
      Handler: app.handler
      Policies: [AWSLambdaBasicExecutionRole]
      Events:
        Get:
          Type: HttpApi
          Properties: {ApiId: !Ref Api, Path: /hello, Method: get}
Outputs:
  Url: {Value: !Sub "https://${Api}.execute-api.${AWS::Region}.amazonaws.com"}
"#,
    );
    let mut o = opts(&dir);
    o.parameters.insert("Greeting".into(), "hi".into());
    let loaded = load(&path, &o).unwrap();
    let f = &loaded.config.functions[0];
    assert_eq!(f.environment["GREETING"], "hi");
    assert_eq!(f.timeout_ms, 5000);
    let api = &loaded.config.http_apis[0];
    assert_eq!(api.routes.len(), 1);
    assert!(api.routes[0].authorizer.is_some());
    assert_eq!(loaded.stacks[0].outputs["Url"], "${api.template-Api}");
}

#[test]
fn serverless_yml_with_http_api_jwt_and_resources() {
    let dir = tmp("sls");
    let path = write(
        &dir,
        "serverless.yml",
        r#"
org: someone
app: demo
service: http-api-node
provider:
  name: aws
  runtime: nodejs20.x
  stage: ${opt:stage, 'dev'}
  environment:
    DOMAIN_SUFFIX: ${env:SUFFIX_NOT_SET, 'sample'}
  httpApi:
    authorizers:
      serviceAuthorizer:
        identitySource: $request.header.Authorization
        issuerUrl:
          Fn::Join: ['', ['https://cognito-idp.', '${opt:region, self:provider.region, "us-east-1"}', '.amazonaws.com/', Ref: serviceUserPool]]
        audience:
          - Ref: serviceUserPoolClient
functions:
  getProfileInfo:
    handler: handler.getProfileInfo
    events:
      - httpApi:
          method: GET
          path: /user/profile
          authorizer: serviceAuthorizer
resources:
  Resources:
    serviceUserPool:
      Type: AWS::Cognito::UserPool
      Properties:
        UserPoolName: http-api-node-${self:provider.stage}
        UsernameAttributes: [email]
    serviceUserPoolClient:
      Type: AWS::Cognito::UserPoolClient
      Properties:
        UserPoolId: {Ref: serviceUserPool}
        AllowedOAuthFlowsUserPoolClient: true
        AllowedOAuthFlows: [implicit]
        AllowedOAuthScopes: [openid, email]
        CallbackURLs: [http://localhost:3000]
        SupportedIdentityProviders: [COGNITO]
    serviceUserPoolDomain:
      Type: AWS::Cognito::UserPoolDomain
      Properties:
        UserPoolId: {Ref: serviceUserPool}
        Domain: service-user-pool-domain-${self:provider.stage}-${self:provider.environment.DOMAIN_SUFFIX}
"#,
    );
    let loaded = load(&path, &opts(&dir)).unwrap();
    let s = &loaded.stacks[0];
    assert_eq!(s.name, "http-api-node-dev");
    assert_eq!(s.outputs["HttpApiUrl"], "${api.http-api-node-dev-HttpApi}");
    let pool = &loaded.config.user_pools[0];
    assert_eq!(
        pool.domain.as_ref().unwrap().prefix,
        "service-user-pool-domain-dev-sample"
    );
    let api = &loaded.config.http_apis[0];
    assert_eq!(api.routes.len(), 1);
    assert!(loaded.not_applied.iter().any(|n| n.starts_with("org")));
}

#[test]
fn cdk_out_serves_every_stack_or_the_one_named() {
    let dir = tmp("cdkout");
    let template = |pool: &str| {
        format!(
            r#"{{"Resources": {{"{pool}": {{"Type": "AWS::Cognito::UserPool"}}}}, "Rules": {{"CheckBootstrapVersion": {{}}}}}}"#
        )
    };
    write(&dir, "A.template.json", &template("PoolA"));
    write(&dir, "B.template.json", &template("PoolB"));
    write(
        &dir,
        "manifest.json",
        r#"{"version": "36.0.0", "artifacts": {
            "A": {"type": "aws:cloudformation:stack", "properties": {"templateFile": "A.template.json"}},
            "B": {"type": "aws:cloudformation:stack", "properties": {"templateFile": "B.template.json", "stackName": "bee"}},
            "Tree": {"type": "cdk:tree", "properties": {"file": "tree.json"}}
        }}"#,
    );
    let all = load(&dir, &opts(&dir)).unwrap();
    let names: Vec<_> = all.stacks.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["A", "bee"]);
    assert_eq!(all.config.user_pools.len(), 2);
    let mut o = opts(&dir);
    o.stack = Some("bee".into());
    let one = load(&dir, &o).unwrap();
    assert_eq!(one.config.user_pools[0].name, "bee-PoolB");
    o.stack = Some("C".into());
    assert!(load(&dir, &o)
        .unwrap_err()
        .to_string()
        .contains("no stack named C"));
}
