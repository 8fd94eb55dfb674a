//! Fixed vocabularies the records draw from: regions, resource names, user agents, TLS suites.
//!
//! The bucket and function names are public and stable so tests and demos can write event
//! selectors against them (`arn:aws:s3:::customer-data/`, `function:order-processor`).

/// Regions in the order accounts enable them; `GeneratorConfig::regions` takes a prefix.
pub const REGIONS: &[&str] = &[
    "us-east-1",
    "us-west-2",
    "eu-west-1",
    "eu-central-1",
    "ap-southeast-2",
    "ap-northeast-1",
    "us-east-2",
    "eu-west-2",
    "ap-south-1",
    "ca-central-1",
    "sa-east-1",
    "eu-north-1",
    "ap-southeast-1",
    "us-west-1",
    "eu-west-3",
    "ap-northeast-2",
];

/// S3 buckets that receive data events (the same names in every account; the bucket at index
/// `i` lives in the account's region `i % regions`).
pub const S3_BUCKETS: &[&str] = &[
    "customer-data",
    "public-assets",
    "app-logs",
    "build-artifacts",
];

/// Lambda functions that receive `Invoke` data events, in every account and region.
pub const LAMBDA_FUNCTIONS: &[&str] = &[
    "order-processor",
    "image-resizer",
    "auth-authorizer",
    "nightly-report",
];

/// Browser user agents of console sessions and console sign-ins.
pub(crate) const BROWSER_AGENTS: &[&str] = &[
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36 Edg/130.0.0.0",
];

pub(crate) const CLI_AGENTS: &[&str] = &[
    "aws-cli/2.22.4 md/awscrt#0.22.0 ua/2.0 os/linux#6.8.0-1019-aws md/arch#x86_64 lang/python#3.12.6 md/pyimpl#CPython cfg/retry-mode#standard md/installer#exe md/distrib#ubuntu.24 md/prompt#off",
    "aws-cli/2.18.7 md/awscrt#0.21.5 ua/2.0 os/macos#24.1.0 md/arch#arm64 lang/python#3.12.6 md/pyimpl#CPython cfg/retry-mode#standard md/installer#source md/prompt#off",
];

pub(crate) const TERRAFORM_AGENTS: &[&str] = &[
    "APN/1.0 HashiCorp/1.0 Terraform/1.9.8 (+https://www.terraform.io) terraform-provider-aws/5.80.0 (+https://registry.terraform.io/providers/hashicorp/aws) aws-sdk-go-v2/1.32.6 ua/2.1 os/linux lang/go#1.23.3 md/GOOS#linux md/GOARCH#amd64 api/ec2#1.193.0",
];

pub(crate) const SDK_AGENTS: &[&str] = &[
    "Boto3/1.35.76 md/Botocore#1.35.76 ua/2.0 os/linux#5.10.228-219.884.amzn2.x86_64 md/arch#x86_64 lang/python#3.12.8 md/pyimpl#CPython exec-env/AWS_Lambda_python3.12 cfg/retry-mode#legacy Botocore/1.35.76",
    "aws-sdk-java/2.29.29 Linux/6.1.115-126.197.amzn2023.x86_64 OpenJDK_64-Bit_Server_VM/21.0.5+11-LTS Java/21.0.5 vendor/Amazon.com_Inc. md/internal exec-env/AWS_ECS_FARGATE io/sync http/Apache cfg/retry-mode/standard",
    "aws-sdk-go-v2/1.32.6 ua/2.1 os/linux lang/go#1.23.4 md/GOOS#linux md/GOARCH#amd64 api/s3#1.71.0 m/E,Z",
];

/// `(tlsVersion, cipherSuite, keyExchange)` as seen in `tlsDetails`.
pub(crate) const TLS: &[(&str, &str, &str)] = &[
    ("TLSv1.3", "TLS_AES_128_GCM_SHA256", "x25519"),
    ("TLSv1.3", "TLS_AES_256_GCM_SHA384", "X25519MLKEM768"),
    ("TLSv1.2", "ECDHE-RSA-AES128-GCM-SHA256", "secp256r1"),
];

/// AWS managed policies attached by `AttachRolePolicy`.
pub(crate) const MANAGED_POLICIES: &[&str] = &[
    "AdministratorAccess",
    "ReadOnlyAccess",
    "AmazonS3FullAccess",
    "AWSLambdaBasicExecutionRole",
    "AmazonEC2ReadOnlyAccess",
];

pub(crate) const INSTANCE_TYPES: &[&str] = &["t3.micro", "t3.large", "m7g.xlarge", "c7i.2xlarge"];

pub(crate) const SSM_PARAMETERS: &[&str] = &[
    "/app/prod/db-host",
    "/app/prod/feature-flags",
    "/app/staging/api-endpoint",
];

pub(crate) const SECRETS: &[&str] = &[
    "prod/db/password",
    "prod/stripe/api-key",
    "staging/db/password",
];

/// Key shapes per bucket in [`S3_BUCKETS`]: `(prefix, suffix)` around a number.
pub(crate) const OBJECT_KEYS: &[&[(&str, &str)]] = &[
    &[
        ("exports/2025/12/customers-", ".csv.gz"),
        ("accounts/", "/profile.json"),
        ("invoices/2026/01/inv-", ".pdf"),
    ],
    &[
        ("img/product-", ".webp"),
        ("css/site.", ".css"),
        ("js/app.", ".js"),
    ],
    &[
        (
            "alb/AWSLogs/elasticloadbalancing/2026/01/01/app.web-lb.",
            ".log.gz",
        ),
        ("app/web/2026/01/01/part-", ".json.gz"),
    ],
    &[
        ("releases/v1.", "/trailpipe-x86_64-linux.tar.gz"),
        ("cache/deps-", ".tar.zst"),
    ],
];

/// `eventVersion` values in use and their weights (1.08/1.09 dominate current AWS output).
pub(crate) const EVENT_VERSIONS: &[(&str, u32)] =
    &[("1.08", 30), ("1.09", 30), ("1.10", 25), ("1.11", 15)];
