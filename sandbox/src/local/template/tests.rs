use super::*;

const TEMPLATE: &str = r"
AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
Parameters:
  Arch: {Type: String, Default: x86_64}
  Stage: {Type: String, Default: dev}
Conditions:
  IsProd: !Equals [!Ref Stage, prod]
Mappings:
  Sizes: {dev: {Memory: 256}, prod: {Memory: 1024}}
Globals:
  Function:
    Timeout: 10
    MemorySize: 512
    Environment:
      Variables:
        SHARED: from-globals
        OVERRIDDEN: globals
    Layers: [!Ref Shared]
Resources:
  Shared:
    Type: AWS::Serverless::LayerVersion
    Properties: {ContentUri: layers/shared}
  Ext:
    Type: AWS::Serverless::LayerVersion
    Properties: {ContentUri: layers/ext}
  Table: {Type: AWS::DynamoDB::Table}
  Api:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: provided.al2023
      Handler: bootstrap
      CodeUri: api/
      MemorySize: !FindInMap [Sizes, !Ref Stage, Memory]
      Architectures: [!Ref Arch]
      Layers:
        - !Ref Ext
        - arn:aws:lambda:us-east-1:123456789012:layer:other:3
        - !If [IsProd, !Ref Ext, !Ref AWS::NoValue]
      Environment:
        Variables:
          OVERRIDDEN: own
          REGION_NAME: !Sub '${AWS::Region}-${Stage}-${!Literal}'
          TABLE: !Ref Table
          JOINED: !Join ['-', [a, !Select [1, [x, y]]]]
          MODE: !If [IsProd, fast, safe]
  Worker:
    Type: AWS::Serverless::Function
    Properties: {Runtime: python3.12, Handler: app.handler, CodeUri: worker, PackageType: Zip}
";

fn load(overrides: &[(&str, &str)]) -> Template {
    let dir = std::env::temp_dir().join(format!("sam-template-test-{}", crate::ids::random_hex(6)));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("template.yaml");
    std::fs::write(&path, TEMPLATE).unwrap();
    let o: Vec<(String, String)> = overrides
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let t = Template::load(&path, &o, "eu-west-1").unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    t
}

#[test]
fn globals_merge_and_intrinsics_resolve() {
    let t = load(&[]);
    assert_eq!(t.function_ids(), ["Api", "Worker"]);
    let f = t.function(Some("Api")).unwrap();
    assert_eq!(f.name, "Api");
    assert_eq!(f.runtime.as_deref(), Some("provided.al2023"));
    assert_eq!(f.code_uri.as_deref(), Some("api/"));
    assert_eq!((f.memory_mb, f.timeout_s), (256, 10));
    assert_eq!(f.architecture, "x86_64");
    assert_eq!(
        f.layers,
        [
            LayerRef::Local("Shared".into()),
            LayerRef::Local("Ext".into()),
            LayerRef::Arn("arn:aws:lambda:us-east-1:123456789012:layer:other:3".into()),
        ]
    );
    let env = |k: &str| f.environment.get(k).cloned().flatten();
    assert_eq!(env("SHARED").as_deref(), Some("from-globals"));
    assert_eq!(env("OVERRIDDEN").as_deref(), Some("own"));
    assert_eq!(env("REGION_NAME").as_deref(), Some("eu-west-1-dev-${Literal}"));
    assert_eq!(env("JOINED").as_deref(), Some("a-y"));
    assert_eq!(env("MODE").as_deref(), Some("safe"));
    // Declared, but known only once deployed.
    assert_eq!(f.environment.get("TABLE"), Some(&None));
    assert_eq!(t.layer("Ext").unwrap().content_uri.as_deref(), Some("layers/ext"));
}

#[test]
fn parameter_overrides_change_what_resolves() {
    let t = load(&[("Stage", "prod"), ("Arch", "arm64")]);
    let f = t.function(Some("Api")).unwrap();
    assert_eq!(f.memory_mb, 1024);
    assert_eq!(f.architecture, "arm64");
    assert_eq!(f.environment.get("MODE"), Some(&Some("fast".to_owned())));
    assert_eq!(f.layers.len(), 4);
}

#[test]
fn names_what_it_cannot_find() {
    let t = load(&[]);
    let e = t.function(None).unwrap_err().to_string();
    assert!(e.contains("Api, Worker"), "{e}");
    let e = t.function(Some("Nope")).unwrap_err().to_string();
    assert!(e.contains("Nope") && e.contains("Api, Worker"), "{e}");
    let dir = std::env::temp_dir().join(format!("sam-template-test-{}", crate::ids::random_hex(6)));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("t.yaml");
    std::fs::write(&path, TEMPLATE).unwrap();
    let e = Template::load(&path, &[("Nope".into(), "1".into())], "us-east-1")
        .unwrap_err()
        .to_string();
    assert!(e.contains("Nope") && e.contains("Arch, Stage"), "{e}");
    std::fs::write(&path, "Resources: [1, 2").unwrap();
    assert!(Template::load(&path, &[], "us-east-1").is_err());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn worker_has_lambdas_defaults_and_its_globals() {
    let f = load(&[]).function(Some("Worker")).unwrap();
    assert_eq!(f.runtime.as_deref(), Some("python3.12"));
    assert_eq!(f.handler, "app.handler");
    assert_eq!((f.memory_mb, f.timeout_s), (512, 10));
    assert_eq!(f.layers, [LayerRef::Local("Shared".into())]);
}

/// A template of `LoggingConfig`s: in `Globals`, merged key by key into each function's.
fn load_text(text: &str) -> Template {
    let dir = std::env::temp_dir().join(format!("sam-template-test-{}", crate::ids::random_hex(6)));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("template.yaml");
    std::fs::write(&path, text).unwrap();
    let t = Template::load(&path, &[("Level".to_owned(), "ERROR".to_owned())], "us-east-1").unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    t
}

const LOGGING: &str = r"
Transform: AWS::Serverless-2016-10-31
Parameters:
  Level: {Type: String, Default: WARN}
Globals:
  Function:
    LoggingConfig:
      LogFormat: JSON
      SystemLogLevel: WARN
Resources:
  Merged:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: provided.al2023
      Handler: bootstrap
      LoggingConfig:
        ApplicationLogLevel: !Ref Level
        LogGroup: !Sub '/custom/${AWS::Region}'
  Plain:
    Type: AWS::Lambda::Function
    Properties: {Runtime: provided.al2023, Handler: bootstrap}
  TextWithLevel:
    Type: AWS::Lambda::Function
    Properties:
      Runtime: provided.al2023
      Handler: bootstrap
      LoggingConfig: {LogFormat: Text, ApplicationLogLevel: INFO}
  BadSystemLevel:
    Type: AWS::Lambda::Function
    Properties:
      Runtime: provided.al2023
      Handler: bootstrap
      LoggingConfig: {LogFormat: JSON, SystemLogLevel: ERROR}
  LowerCase:
    Type: AWS::Lambda::Function
    Properties:
      Runtime: provided.al2023
      Handler: bootstrap
      LoggingConfig: {LogFormat: json}
";

#[test]
fn logging_config_merges_with_globals_as_sam_does() {
    let t = load_text(LOGGING);
    let merged = t.function(Some("Merged")).unwrap().logging;
    assert_eq!(
        merged,
        LoggingConfig {
            format: LogFormat::Json,
            application_level: Some(LogLevel::Error),
            system_level: Some(LogLevel::Warn),
            log_group: Some("/custom/us-east-1".to_owned()),
            ..LoggingConfig::default()
        }
    );
    // `Globals` apply to `AWS::Serverless::Function` only; Lambda's defaults elsewhere.
    assert_eq!(
        t.function(Some("Plain")).unwrap().logging,
        LoggingConfig::default()
    );
}

#[test]
fn logging_config_is_refused_as_the_api_refuses_it() {
    let t = load_text(LOGGING);
    let e = t.function(Some("TextWithLevel")).unwrap_err().to_string();
    assert!(
        e.contains("TextWithLevel.LoggingConfig")
            && e.contains("LogLevel is not supported when LogFormat is set to \"Text\""),
        "{e}"
    );
    let e = t.function(Some("BadSystemLevel")).unwrap_err().to_string();
    assert!(
        e.contains("SystemLogLevel") && e.contains("DEBUG | INFO | WARN"),
        "{e}"
    );
    let e = t.function(Some("LowerCase")).unwrap_err().to_string();
    assert!(e.contains("\"json\" is not one of Text | JSON"), "{e}");
}
