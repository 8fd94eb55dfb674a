//! Record builders shared by the integration tests.
#![allow(dead_code)]

/// An IAM user's CloudTrail management event with `extra` members appended (start with `,`).
pub fn ct(source: &str, name: &str, extra: &str) -> String {
    ct_as(
        r#"{"type":"IAMUser","principalId":"AIDAEXAMPLE","arn":"arn:aws:iam::123456789012:user/alice","accountId":"123456789012","userName":"alice"}"#,
        source,
        name,
        "AwsApiCall",
        extra,
    )
}

/// A CloudTrail record with the given identity object and eventType.
pub fn ct_as(identity: &str, source: &str, name: &str, event_type: &str, extra: &str) -> String {
    format!(
        r#"{{"eventVersion":"1.08","userIdentity":{identity},"eventTime":"2024-05-01T12:00:00Z","eventSource":"{source}","eventName":"{name}","awsRegion":"us-east-1","sourceIPAddress":"203.0.113.7","userAgent":"aws-cli/2.15.0 Python/3.11","requestParameters":{{"name":"x","tags":[{{"key":"k","value":"v"}}]}},"responseElements":null,"requestID":"0f1e2d3c","eventID":"7a8b9c0d","readOnly":false,"eventType":"{event_type}","managementEvent":true,"recipientAccountId":"123456789012"{extra}}}"#
    )
}

pub const ROOT: &str = r#"{"type":"Root","principalId":"123456789012","arn":"arn:aws:iam::123456789012:root","accountId":"123456789012"}"#;
pub const ROOT_VIA_SERVICE: &str = r#"{"type":"Root","principalId":"123456789012","arn":"arn:aws:iam::123456789012:root","accountId":"123456789012","invokedBy":"support.amazonaws.com"}"#;
pub const IAM_USER: &str = r#"{"type":"IAMUser","principalId":"AIDAEXAMPLE","arn":"arn:aws:iam::123456789012:user/alice","accountId":"123456789012","userName":"alice"}"#;

/// A console sign-in record.
pub fn console_login(
    identity: &str,
    result: &str,
    mfa: Option<&str>,
    error: Option<&str>,
) -> String {
    let mut extra = format!(r#","responseElements":{{"ConsoleLogin":"{result}"}}"#);
    if let Some(m) = mfa {
        extra.push_str(&format!(
            r#","additionalEventData":{{"LoginTo":"https://console.aws.amazon.com/","MobileVersion":"No","MFAUsed":"{m}"}}"#
        ));
    }
    if let Some(e) = error {
        extra.push_str(&format!(r#","errorMessage":"{e}""#));
    }
    // responseElements appears twice (null in the base, then the object): last wins (D12).
    ct_as(
        identity,
        "signin.amazonaws.com",
        "ConsoleLogin",
        "AwsConsoleSignIn",
        &extra,
    )
}

/// The JSON example event of the CloudWatch Logs user guide, on one line.
pub const DOC_EVENT: &str = r#"{"eventType":"UpdateTrail","sourceIPAddress":"111.111.111.111","arrayKey":["value","another value"],"objectList":[{"name":"a","id":1},{"name":"b","id":2}],"SomeObject":null}"#;

/// The compound-expression example object of the user guide.
pub const DOC_COMPOUND: &str = r#"{"user":{"id":1,"email":"John.Stiles@example.com"},"users":[{"id":2,"email":"John.Doe@example.com"},{"id":3,"email":"Jane.Doe@example.com"}],"actions":["GET","PUT","DELETE"],"coordinates":[[0,1,2],[4,5,6],[7,8,9]]}"#;

/// The space-delimited example line of the user guide.
pub const DOC_LINE: &str =
    r#"127.0.0.1 Prod frank [10/Oct/2000:13:25:15 -0700] "GET /index.html HTTP/1.0" 404 1534"#;
