//! Shared test harness: fixture repositories in temporary directories, the real binary run over them, git commits made with git2.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// The repository root of this crate (the shipped example fleet).
pub fn shipped() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A temporary repository.
pub struct Fixture {
    pub dir: tempfile::TempDir,
}

/// What a run of the binary produced.
#[derive(Debug)]
pub struct Run {
    /// The `-C` directory, which prefixes every path tenantops prints.
    pub root: String,
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Both streams, for assertions that do not care where a line went.
    pub fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

impl Fixture {
    /// An empty directory.
    pub fn empty() -> Self {
        Fixture {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    /// A copy of the shipped example fleet (platform, tiers, tenants, lock, schemas).
    pub fn example() -> Self {
        let f = Fixture::empty();
        let root = shipped();
        for file in ["tenantops.yaml", "tenants.lock"] {
            std::fs::copy(root.join(file), f.path().join(file)).expect("copy");
        }
        for dir in ["tiers", "tenants", "schemas"] {
            std::fs::create_dir_all(f.path().join(dir)).expect("mkdir");
            for entry in std::fs::read_dir(root.join(dir)).expect("read_dir") {
                let entry = entry.expect("entry");
                std::fs::copy(entry.path(), f.path().join(dir).join(entry.file_name()))
                    .expect("copy");
            }
        }
        f
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn write(&self, rel: &str, text: impl AsRef<[u8]>) -> &Self {
        let path = self.path().join(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
        self
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path().join(rel)).expect("read")
    }

    pub fn remove(&self, rel: &str) -> &Self {
        std::fs::remove_file(self.path().join(rel)).expect("remove");
        self
    }

    /// Runs `tenantops -C <fixture> <args>`.
    pub fn run(&self, args: &[&str]) -> Run {
        run_in(self.path(), args)
    }

    /// Commits the whole work tree (git2) and returns the commit id.
    pub fn commit(&self, message: &str) -> String {
        let repo = match git2::Repository::open(self.path()) {
            Ok(r) => r,
            Err(_) => git2::Repository::init(self.path()).expect("git init"),
        };
        commit_all(&repo, message)
    }
}

pub fn commit_all(repo: &git2::Repository, message: &str) -> String {
    let mut index = repo.index().expect("index");
    index
        .add_all(["*"].iter(), git2::IndexAddOption::DEFAULT, None)
        .expect("add");
    index.update_all(["*"].iter(), None).expect("update");
    index.write().expect("write index");
    let tree = repo
        .find_tree(index.write_tree().expect("tree"))
        .expect("find tree");
    let sig = git2::Signature::now("Test", "test@example.com").expect("sig");
    let parent = repo.head().ok().and_then(|h| h.peel_to_commit().ok());
    let parents: Vec<&git2::Commit<'_>> = parent.iter().collect();
    repo.commit(Some("HEAD"), &sig, &sig, message, &tree, &parents)
        .expect("commit")
        .to_string()
}

pub fn run_in(dir: &Path, args: &[&str]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tenantops"));
    cmd.arg("-C").arg(dir).args(args).env_remove("NO_COLOR");
    run_command(&mut cmd, dir)
}

/// Runs a prepared tenantops command over the repository at `dir`.
pub fn run_command(cmd: &mut Command, dir: &Path) -> Run {
    let out = cmd.output().expect("run tenantops");
    Run {
        root: dir.display().to_string(),
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `git ARGS` in `dir` (with a committer identity and `main` as the first branch),
/// asserting success; its stdout.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args([
            "-c",
            "user.name=tenantops tests",
            "-c",
            "user.email=tests@tenantops.invalid",
        ])
        .args(["-c", "init.defaultBranch=main", "-C"])
        .arg(dir)
        .args(args)
        .output()
        .expect("run git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A valid tenant manifest.
pub fn tenant(id: &str, tier: &str) -> String {
    format!(
        "# yaml-language-server: $schema=../schemas/tenant.schema.json\nid: {id}\nname: Tenant {id}\ntier: {tier}\nadmin_email: admin@{id}.example.com\n"
    )
}

/// Asserts that `run` failed as invalid input with a diagnostic at `location`
/// (`file:line:col` or `file`) whose text contains `message`.
#[track_caller]
pub fn assert_invalid(run: &Run, location: &str, message: &str) {
    assert_eq!(
        run.code,
        1,
        "expected exit 1 (invalid input)\n{}",
        run.all()
    );
    let err = &run.stderr;
    let arrow = format!("--> {}/{location}\n", run.root);
    let hit = err
        .split("\n\n")
        .any(|block| block.contains(&arrow) && block.contains(message));
    assert!(
        hit,
        "expected a diagnostic at `{location}` containing `{message}`, got:\n{err}"
    );
}

/// Asserts that `haystack` contains `needle`, printing the whole text when it does not.
#[track_caller]
pub fn assert_contains(haystack: &str, needle: impl AsRef<str>) {
    let needle = needle.as_ref();
    assert!(
        haystack.contains(needle),
        "expected `{needle}` in:\n{haystack}"
    );
}

/// A tool the test command installs (cfn-lint in `.venv`, nginx and dnsmasq from
/// apt). Missing is a failure that says how to get it, never a silent skip.
pub fn tool(name: &str) -> PathBuf {
    let candidates = [
        shipped().join(".venv/bin").join(name),
        PathBuf::from("/usr/sbin").join(name),
        PathBuf::from("/usr/bin").join(name),
    ];
    if let Some(found) = candidates.iter().find(|p| p.is_file()) {
        return found.clone();
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            if dir.join(name).is_file() {
                return dir.join(name);
            }
        }
    }
    panic!(
        "`{name}` is required by this test and is not installed: run `scripts/test`, which installs it (cfn-lint into .venv/, nginx and dnsmasq with apt)"
    );
}

/// Tiers beyond the shipped ones, so that a fixture covers every isolation × compute
/// × routing combination: pool on EC2, bridge on Fargate, silo on EC2 with dedicated
/// ALBs by default and a pooled table.
pub const MATRIX_TIERS: [(&str, &str); 3] = [
    (
        "shared",
        "isolation: pool\ncompute: ec2\ndesired_count: 1\nstorage:\n  orders: pooled\n  products: pooled\nusage_plan:\n  rate_limit: 5\n  burst_limit: 5\n  quota:\n    limit: 500\n    period: week\n",
    ),
    (
        "team",
        "isolation: bridge\ncompute: fargate\ndesired_count: 1\nstorage:\n  orders: silo\n  products: pooled\nusage_plan:\n  rate_limit: 20\n  burst_limit: 20\n  quota:\n    limit: 3000\n    period: month\n",
    ),
    (
        "enterprise",
        "isolation: silo\ncompute: ec2\ndesired_count: 2\nstorage:\n  orders: silo\n  products: pooled\ndata_retention: delete\nrouting:\n  alb: dedicated\nusage_plan:\n  rate_limit: 500\n  burst_limit: 500\n  quota:\n    limit: 100000\n    period: day\noverrides:\n  dedicated_alb: true\n",
    ),
];

/// Tenants of the matrix fixture: `(id, tier, extra manifest lines)`. Their ids are
/// no substring of each other or of any template word, so the isolation check "no
/// stack mentions another tenant" is exact.
pub const MATRIX_TENANTS: [(&str, &str, &str); 9] = [
    ("quokka", "basic", ""),
    ("wombat", "shared", ""),
    ("dingo", "team", "state: suspended\n"),
    ("numbat", "advanced", ""),
    ("bilby", "premium", ""),
    ("possum", "premium", "overrides:\n  dedicated_alb: true\n"),
    ("echidna", "enterprise", ""),
    ("kiwi", "enterprise", "overrides:\n  dedicated_alb: false\n"),
    ("platypus", "advanced", "state: offboarding\n"),
];

impl Fixture {
    /// The platform and tiers of the shipped example, the matrix tiers, one tenant of
    /// every combination (plus one suspended and one offboarding), and its lock.
    pub fn matrix() -> Self {
        let f = Fixture::example();
        for entry in std::fs::read_dir(f.path().join("tenants")).expect("tenants") {
            std::fs::remove_file(entry.expect("entry").path()).expect("remove");
        }
        f.remove("tenants.lock");
        for (name, text) in MATRIX_TIERS {
            f.write(
                &format!("tiers/{name}.yaml"),
                format!("# yaml-language-server: $schema=../schemas/tier.schema.json\n{text}"),
            );
        }
        for (id, tier, extra) in MATRIX_TENANTS {
            f.write(&format!("tenants/{id}.yaml"), tenant(id, tier) + extra);
        }
        let run = f.run(&["lock"]);
        assert_eq!(run.code, 0, "matrix lock: {}", run.all());
        f
    }

    /// Renders into `<fixture>/rendered` and asserts success.
    #[track_caller]
    pub fn render(&self, extra: &[&str]) -> Run {
        let mut args = vec!["render"];
        args.extend_from_slice(extra);
        let run = self.run(&args);
        assert_eq!(run.code, 0, "render failed:\n{}", run.all());
        run
    }
}

/// Every file under `dir`, relative path → bytes, sorted.
pub fn tree(dir: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut out = std::collections::BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read_dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path
                    .strip_prefix(dir)
                    .expect("prefix")
                    .to_string_lossy()
                    .into_owned();
                out.insert(rel, std::fs::read(&path).expect("read"));
            }
        }
    }
    out
}

/// The rendered CloudFormation templates under `dir/stacks`, name → parsed JSON.
pub fn templates(dir: &Path) -> std::collections::BTreeMap<String, serde_json::Value> {
    tree(&dir.join("stacks"))
        .into_iter()
        .filter(|(name, _)| !name.ends_with(".params.json"))
        .map(|(name, bytes)| {
            let value = serde_json::from_slice(&bytes).expect("template is JSON");
            (name.trim_end_matches(".json").to_owned(), value)
        })
        .collect()
}

/// The id of the first synthetic tenant of `tier` in a fleet of `n`.
pub fn tenant_id_of_tier(n: usize, tier: &str) -> String {
    (0..n)
        .find(|i| tenantops::synth::tier_of(*i) == tier)
        .map(tenantops::synth::tenant_id)
        .expect("a tenant of that tier")
}

/// A moto server (the AWS API emulator) on a free loopback port, recording every request
/// it receives, with the control plane's authorizer seeded and an ECS "scheduler" that
/// starts services' tasks. Stopped when dropped.
pub struct Moto {
    pub endpoint: String,
    server: std::process::Child,
    scheduler: Option<std::process::Child>,
    recording: PathBuf,
    _dir: tempfile::TempDir,
}

/// The secret access key tenantops runs with against moto: never to be printed.
pub const MOTO_SECRET: &str = "tenantops-test-secret-never-printed";

/// One request moto received from tenantops.
#[derive(Debug, Clone)]
pub struct Request {
    pub action: String,
    /// The service the request was signed for (its `SigV4` credential scope): the IAM
    /// prefix of its action (`cloudformation`, `ecs`, `dynamodb`, `s3`).
    pub service: String,
    /// The query-protocol parameters of the body (`StackName`, `RoleARN`, ...).
    pub params: std::collections::BTreeMap<String, String>,
    /// The request's path (an S3 object's bucket and key).
    pub path: String,
}

/// CloudFormation and S3 operations that change something.
pub use tenantops::aws::MUTATING;

impl Moto {
    /// Starts moto; services whose name contains one of `never_steady` never get their
    /// tasks (so they never become steady); the others get them after `delay` seconds.
    pub fn start(delay: f64, never_steady: &[&str]) -> Moto {
        let python = tool("python");
        let dir = tempfile::tempdir().expect("tempdir");
        let recording = dir.path().join("requests.jsonl");
        // moto binds a free port itself (`-p 0`) and logs which: a port picked here and
        // handed over could be taken by another test's server in between.
        let log = dir.path().join("moto.log");
        let mut server = Command::new(&python)
            .arg(shipped().join("sandbox/moto_server.py"))
            .args(["-H", "127.0.0.1", "-p", "0"])
            .env("MOTO_ENABLE_RECORDING", "True")
            .env("MOTO_RECORDER_FILEPATH", &recording)
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log"))
            .spawn()
            .expect("start moto (run scripts/test, which installs it into .venv/)");
        let started = std::time::Instant::now();
        let port = loop {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if let Some(port) = text
                .split("Running on http://127.0.0.1:")
                .nth(1)
                .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
                .and_then(|p| p.parse::<u16>().ok())
            {
                break port;
            }
            if let Ok(Some(status)) = server.try_wait() {
                panic!("moto exited ({status}) before listening:\n{text}");
            }
            assert!(
                started.elapsed() < std::time::Duration::from_secs(30),
                "moto did not start listening:\n{text}"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        };
        let endpoint = format!("http://127.0.0.1:{port}");
        let mut moto = Moto {
            endpoint,
            server,
            scheduler: None,
            recording,
            _dir: dir,
        };
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < std::time::Duration::from_secs(30),
                "moto did not accept on port {port}"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let seeded = Command::new(&python)
            .arg(shipped().join("sandbox/seed.py"))
            .args([
                moto.endpoint.as_str(),
                "us-east-1",
                "arn:aws:lambda:us-east-1:123456789012:function:saas-prod-authorizer",
            ])
            .output()
            .expect("seed moto");
        assert!(
            seeded.status.success(),
            "seeding moto failed: {}",
            String::from_utf8_lossy(&seeded.stderr)
        );
        moto.scheduler = Some(
            Command::new(&python)
                .arg(shipped().join("sandbox/ecs_scheduler.py"))
                .args([moto.endpoint.as_str(), "us-east-1", &delay.to_string()])
                .args(never_steady)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .expect("start the ECS scheduler"),
        );
        moto
    }

    /// tenantops pointed at this server through the standard AWS environment.
    pub fn command(&self, fixture: &Path, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_tenantops"));
        cmd.arg("-C")
            .arg(fixture)
            .args(args)
            .env("AWS_ENDPOINT_URL", &self.endpoint)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", MOTO_SECRET)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_SESSION_TOKEN");
        cmd
    }

    /// The environment tenantops runs with against this server (endpoint, region,
    /// credentials), for other programs that talk to it (the AWS CLI, a buildspec).
    pub fn env(&self) -> Vec<(String, String)> {
        self.command(Path::new("."), &[])
            .get_envs()
            .filter_map(|(k, v)| {
                Some((
                    k.to_string_lossy().into_owned(),
                    v?.to_string_lossy().into_owned(),
                ))
            })
            .collect()
    }

    pub fn run(&self, fixture: &Path, args: &[&str]) -> Run {
        let run = run_command(&mut self.command(fixture, args), fixture);
        assert!(
            !run.all().contains(MOTO_SECRET),
            "tenantops printed the secret access key"
        );
        run
    }

    /// `tenantops apply --yes` with short polls and a 20 s steadiness bound, then `extra`.
    pub fn apply(&self, fixture: &Path, extra: &[&str]) -> Run {
        let mut args = vec!["apply", "--yes", "--poll", "0.05", "--steady-timeout", "20"];
        args.extend_from_slice(extra);
        self.run(fixture, &args)
    }

    /// Requests tenantops (the Rust SDK, not the test's own Python helpers) made so far.
    pub fn requests(&self) -> Vec<Request> {
        let text = std::fs::read_to_string(&self.recording).unwrap_or_default();
        text.lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .filter(|r| {
                let headers = &r["headers"];
                ["User-Agent", "user-agent"]
                    .iter()
                    .filter_map(|k| headers[k].as_str())
                    .any(|ua| ua.contains("aws-sdk-rust"))
            })
            .map(|r| Request {
                action: action_of(&r),
                service: service_of(&r),
                params: params_of(&r),
                path: r["url"]
                    .as_str()
                    .and_then(|u| u.split_once("://"))
                    .and_then(|(_, rest)| rest.find('/').map(|i| rest[i..].to_owned()))
                    .unwrap_or_default(),
            })
            .collect()
    }

    /// A mark to count requests from.
    pub fn mark(&self) -> usize {
        self.requests().len()
    }

    /// Requests per action since `mark`.
    pub fn since(&self, mark: usize) -> std::collections::BTreeMap<String, usize> {
        let mut counts = std::collections::BTreeMap::new();
        for r in self.requests().into_iter().skip(mark) {
            *counts.entry(r.action).or_default() += 1;
        }
        counts
    }

    /// Mutating requests since `mark`.
    pub fn mutating_since(&self, mark: usize) -> usize {
        self.since(mark)
            .iter()
            .filter(|(a, _)| MUTATING.contains(&a.as_str()))
            .map(|(_, n)| n)
            .sum()
    }

    /// tenantops started in the background with its output piped (read it with
    /// `wait_with_output`).
    pub fn spawn(&self, fixture: &Path, args: &[&str]) -> std::process::Child {
        self.command(fixture, args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start tenantops")
    }

    /// Brings the running count of every service whose name contains `name` to its
    /// desired count, as ECS does once it has placed the tasks (the scheduler stand-in
    /// leaves such services at 0 when started with them as never steady).
    pub fn start_tasks(&self, name: &str) {
        self.python(&format!(
            "ecs = session.client('ecs', endpoint_url=cfn.meta.endpoint_url)\nfor c in ecs.list_clusters()['clusterArns']:\n    for s in ecs.describe_services(cluster=c, services=ecs.list_services(cluster=c)['serviceArns'] or ['none'])['services']:\n        if '{name}' in s['serviceName']:\n            ecs.update_service(cluster=c, service=s['serviceArn'], desiredCount=s['desiredCount'])"
        ));
    }

    /// Runs a Python snippet with a boto3 `session` bound to this server.
    pub fn python(&self, code: &str) -> String {
        let prelude = format!(
            "import boto3\nsession = boto3.Session(aws_access_key_id='testing', aws_secret_access_key='testing', region_name='us-east-1')\ncfn = session.client('cloudformation', endpoint_url='{}')\n",
            self.endpoint
        );
        let out = Command::new(tool("python"))
            .args(["-c", &format!("{prelude}{code}")])
            .output()
            .expect("python");
        assert!(
            out.status.success(),
            "python failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

/// `Credential=<key>/<date>/<region>/<service>/aws4_request` of the `SigV4` header.
fn service_of(r: &serde_json::Value) -> String {
    let headers = &r["headers"];
    ["Authorization", "authorization"]
        .iter()
        .filter_map(|k| headers[k].as_str())
        .find_map(|auth| {
            let scope = auth.split("Credential=").nth(1)?.split(',').next()?;
            scope.split('/').nth(3).map(str::to_owned)
        })
        .unwrap_or_default()
}

fn body_of(r: &serde_json::Value) -> String {
    let body = r["body"].as_str().unwrap_or_default();
    if r["body_encoded"].as_bool().unwrap_or(false) {
        decode_base64(body)
    } else {
        body.to_owned()
    }
}

/// The form-encoded parameters of a query-protocol body.
fn params_of(r: &serde_json::Value) -> std::collections::BTreeMap<String, String> {
    body_of(r)
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (percent_decode(k), percent_decode(v)))
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                if let Ok(b) = u8::from_str_radix(hex, 16) {
                    out.push(b);
                    i += 3;
                    continue;
                }
                out.push(b'%');
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The operation of a recorded request: `Action=` of a query-protocol body, the
/// `X-Amz-Target` of a JSON-protocol one, or the method and path of a REST one.
fn action_of(r: &serde_json::Value) -> String {
    let headers = &r["headers"];
    for key in ["X-Amz-Target", "x-amz-target"] {
        if let Some(target) = headers[key].as_str() {
            return target.rsplit('.').next().unwrap_or(target).to_owned();
        }
    }
    let body = body_of(r);
    if let Some(action) = body.split('&').find_map(|kv| kv.strip_prefix("Action=")) {
        return action.to_owned();
    }
    let method = r["method"].as_str().unwrap_or_default();
    if method == "PUT" {
        return "PutObject".to_owned();
    }
    format!("{method} {}", r["url"].as_str().unwrap_or_default())
}

fn decode_base64(s: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bits = 0u32;
    let mut n = 0;
    let mut out = Vec::new();
    for c in s.bytes() {
        let Some(v) = ALPHABET.iter().position(|&a| a == c) else {
            continue;
        };
        bits = (bits << 6) | u32::try_from(v).unwrap_or(0);
        n += 6;
        if n >= 8 {
            n -= 8;
            out.push(u8::try_from(bits >> n).unwrap_or(0));
            bits &= (1 << n) - 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Drop for Moto {
    fn drop(&mut self) {
        if let Some(s) = &mut self.scheduler {
            let _ = s.kill();
            let _ = s.wait();
        }
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}
