//! The rendered nginx router configs under Service Connect's name resolution: `nginx -t` accepts every one, and real nginx, in a mount namespace whose `/etc/hosts` holds the Service Connect names while DNS answers NXDOMAIN for them, routes real requests to each owner's own upstreams.

mod common;

use std::fmt::Write as _;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Fixture, assert_contains};

/// `nginx -t` on one config, with its own pid file, in a mount namespace whose
/// `/etc/hosts` has the config's Service Connect names (as an ECS task's has them): a
/// static upstream must resolve when nginx loads the config.
#[track_caller]
fn nginx_t(conf: &Path, scratch: &Path) {
    let text = std::fs::read_to_string(conf).unwrap();
    let mut hosts = String::from("127.0.0.1 localhost\n");
    for line in text.lines() {
        if let Some(url) = line.trim().strip_prefix("proxy_pass \"http://") {
            let host = url.split([':', '/', ';']).next().unwrap_or_default();
            let _ = writeln!(hosts, "127.0.0.2 {host}");
        }
    }
    let ns = TaskNamespace {
        hosts: scratch.join("t-hosts"),
        resolv: None,
    };
    std::fs::write(&ns.hosts, hosts).unwrap();
    let out = ns
        .nginx(&[
            "-t",
            "-c",
            &conf.display().to_string(),
            "-g",
            &format!("pid {};", scratch.join("t.pid").display()),
        ])
        .output()
        .expect("run nginx -t");
    assert!(
        out.status.success(),
        "nginx -t rejects {}:\n{}",
        conf.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn nginx_accepts_every_rendered_config() {
    let mut checked = 0;
    let cors = Fixture::example();
    cors.write(
        "tenantops.yaml",
        cors.read("tenantops.yaml").replace(
            "  authorizer: ",
            "  cors:\n    allow_origin: https://app.example.com\n  authorizer: ",
        ),
    );
    for f in [Fixture::example(), Fixture::matrix(), cors] {
        f.render(&[]);
        for entry in std::fs::read_dir(f.path().join("rendered/nginx")).unwrap() {
            nginx_t(&entry.unwrap().path(), f.path());
            checked += 1;
        }
    }
    // Shipped: 4 bridge/silo tenants and the basic pool; matrix: 6 and 2 pools; the
    // shipped fleet again with CORS.
    assert_eq!(checked, 18);
}

/// A free TCP port on loopback (released for the caller to bind).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A child process killed when the test ends, pass or fail.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// An upstream stub on `ip:port` that answers every request with
/// `<name> <request line> xff=<X-Forwarded-For>` (and a 2 KiB JSON body for
/// `/orders/big`, to see gzip at work).
fn stub(ip: &str, port: u16, name: String) {
    let listener =
        TcpListener::bind((ip, port)).unwrap_or_else(|e| panic!("bind {ip}:{port}: {e}"));
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            let _ = reader.read_line(&mut request_line);
            let mut xff = String::new();
            let mut length = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                let lower = line.to_ascii_lowercase();
                if let Some(v) = lower.strip_prefix("x-forwarded-for:") {
                    v.trim().clone_into(&mut xff);
                }
                if let Some(v) = lower.strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body_in = vec![0; length];
            let _ = reader.read_exact(&mut body_in);
            let body = if request_line.contains("/orders/big") {
                format!("[{}]", vec!["{\"order\":\"x\"}"; 150].join(","))
            } else {
                format!("{name} {} xff={xff}", request_line.trim_end())
            };
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
}

/// One HTTP/1.1 request to `127.0.0.1:port`: `(status, headers, body)`.
fn request(port: u16, method: &str, path: &str, extra: &str) -> (u16, String, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let body = if method == "POST" || method == "PUT" {
        "{}"
    } else {
        ""
    };
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: tenant.example\r\nConnection: close\r\nContent-Length: {}\r\n{extra}\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, head.to_owned(), body.to_owned())
}

/// Waits until something accepts connections on `port`.
fn wait_for(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Where nginx runs as in an ECS task: a private mount namespace whose `/etc/hosts`
/// holds the Service Connect names (as ECS writes them into a task) and, for the
/// routing test, whose `/etc/resolv.conf` names a DNS server that answers NXDOMAIN for
/// them (Service Connect "doesn't use or create DNS hosted zones").
struct TaskNamespace {
    hosts: std::path::PathBuf,
    resolv: Option<std::path::PathBuf>,
}

impl TaskNamespace {
    /// `nginx ARGS` inside the namespace.
    fn nginx(&self, args: &[&str]) -> Command {
        let mut script = format!("mount --bind '{}' /etc/hosts", self.hosts.display());
        if let Some(resolv) = &self.resolv {
            let _ = write!(
                script,
                " && mount --bind '{}' /etc/resolv.conf",
                resolv.display()
            );
        }
        let _ = write!(script, " && exec '{}'", common::tool("nginx").display());
        for arg in args {
            let _ = write!(script, " '{arg}'");
        }
        let mut cmd = Command::new("unshare");
        cmd.args(["--mount", "--propagation", "private", "sh", "-c", &script]);
        cmd
    }
}

impl TaskNamespace {
    /// The rproxy image's entrypoint (`rproxy/entrypoint.sh`) inside the namespace, as
    /// the container runs it: `/etc/nginx/nginx.conf` and `/run` are scratch files of
    /// `scratch` (bound over the real ones), `conf` is the task definition's
    /// `TENANTOPS_NGINX_CONF`.
    fn entrypoint(&self, scratch: &Path, conf: &str) -> Command {
        let file = scratch.join("etc-nginx.conf");
        let run = scratch.join("run");
        std::fs::write(&file, "").unwrap();
        std::fs::create_dir_all(&run).unwrap();
        let nginx = common::tool("nginx");
        let script = format!(
            "mount --bind '{}' /etc/hosts && mount --bind '{}' /etc/nginx/nginx.conf && mount --bind '{}' /run && PATH='{}':\"$PATH\" exec '{}'",
            self.hosts.display(),
            file.display(),
            run.display(),
            nginx.parent().unwrap().display(),
            common::shipped().join("rproxy/entrypoint.sh").display(),
        );
        let mut cmd = Command::new("unshare");
        cmd.args(["--mount", "--propagation", "private", "sh", "-c", &script])
            .env("TENANTOPS_NGINX_CONF", conf);
        cmd
    }
}

/// Starts nginx with `conf` (a rendered router config, changed only to listen on a
/// free loopback port instead of `router_port`) inside `ns`. Returns that port.
fn start_nginx(
    f: &Fixture,
    ns: &TaskNamespace,
    name: &str,
    conf: &str,
    router_port: u16,
) -> (u16, Guard) {
    let port = free_port();
    let conf = conf.replace(
        &format!("listen {router_port};"),
        &format!("listen 127.0.0.1:{port};"),
    );
    let run_conf = f.path().join(format!("{name}-run.conf"));
    std::fs::write(&run_conf, conf).unwrap();
    let conf_arg = run_conf.display().to_string();
    let t = ns
        .nginx(&[
            "-t",
            "-c",
            &conf_arg,
            "-g",
            &format!("pid {};", f.path().join("t.pid").display()),
        ])
        .output()
        .expect("run nginx -t in a mount namespace");
    assert!(
        t.status.success(),
        "nginx -t rejects {conf_arg}:\n{}",
        String::from_utf8_lossy(&t.stderr)
    );
    let nginx = ns
        .nginx(&[
            "-c",
            &conf_arg,
            "-g",
            &format!(
                "daemon off; pid {};",
                f.path().join(format!("{name}.pid")).display()
            ),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start nginx in a mount namespace");
    (port, Guard(nginx))
}

/// The earlier router config's way (a `resolver` and a variable `proxy_pass`), made
/// from `conf`: what Service Connect's name resolution defeats.
fn with_resolver(conf: &str, dns_ip: &str) -> String {
    let mut out = String::new();
    for line in conf.lines() {
        let trimmed = line.trim_start();
        if let Some(target) = trimmed.strip_prefix("proxy_pass ") {
            let _ = write!(
                out,
                "            set $tenantops_upstream {target}\n            proxy_pass $tenantops_upstream;\n"
            );
            continue;
        }
        out.push_str(line);
        out.push('\n');
        if trimmed.starts_with("server_tokens off;") {
            let _ = writeln!(out, "    resolver {dns_ip} valid=10s ipv6=off;");
        }
    }
    out
}

/// The router of `owner` listening on `port` sends each service's requests to that
/// owner's own upstream, refuses other methods, proxies its health check, and 404s
/// anything else.
fn check_router(owner: &str, port: u16) {
    wait_for(port);
    for (method, path, service) in [
        ("GET", "/orders", "orders"),
        ("POST", "/orders", "orders"),
        ("GET", "/orders/17", "orders"),
        ("DELETE", "/orders/17", "orders"),
        ("GET", "/products?page=2", "products"),
        ("PUT", "/products/42", "products"),
        ("GET", "/users", "users"),
        ("OPTIONS", "/users", "users"),
    ] {
        let (status, _, body) = request(port, method, path, "");
        assert_eq!(status, 200, "{owner} {method} {path}: {body}");
        assert!(
            body.starts_with(&format!(
                "{owner}:{service} {method} {path} HTTP/1.1 xff=127.0.0.1"
            )),
            "{owner} {method} {path} reached `{body}`"
        );
    }
    let (status, _, _) = request(port, "HEAD", "/orders", "");
    assert_eq!(status, 200, "{owner}: HEAD is allowed");
    for method in ["PATCH", "TRACE", "PROPFIND"] {
        let (status, _, body) = request(port, method, "/orders", "");
        assert_eq!(status, 405, "{owner} {method}: {body}");
    }
    // The health check goes through the router to the first service's health path.
    let (status, _, body) = request(port, "GET", "/health", "");
    assert_eq!(status, 200, "{owner}: {body}");
    assert!(
        body.starts_with(&format!("{owner}:orders GET /orders/health HTTP/1.1")),
        "{owner} /health reached `{body}`"
    );
    // A prefix that only looks like a service is not one.
    let (status, _, _) = request(port, "GET", "/ordersx", "");
    assert_eq!(status, 404);
    let (status, _, _) = request(port, "GET", "/billing", "");
    assert_eq!(status, 404);
    // gzip on JSON.
    let (status, head, _) = request(port, "GET", "/orders/big", "Accept-Encoding: gzip\r\n");
    assert_eq!(status, 200);
    assert_contains(&head.to_ascii_lowercase(), "content-encoding: gzip");
}

/// The rproxy image's entrypoint, given what globex's rendered task definition carries,
/// runs the same router; given nothing, it refuses to start.
fn rproxy_entrypoint_runs_the_carried_config(f: &Fixture, ns: &TaskNamespace, router_port: u16) {
    let templates = common::templates(&f.path().join("rendered"));
    let carried = templates["saas-prod-tenant-globex"]["Resources"]
        .as_object()
        .unwrap()
        .values()
        .filter(|r| r["Type"] == "AWS::ECS::TaskDefinition")
        .flat_map(|r| r["Properties"]["ContainerDefinitions"].as_array().unwrap())
        .flat_map(|c| c["Environment"].as_array().into_iter().flatten())
        .find(|e| e["Name"] == "TENANTOPS_NGINX_CONF")
        .and_then(|e| e["Value"].as_str())
        .expect("globex's rproxy task definition carries its router config")
        .to_owned();
    assert_eq!(carried, f.read("rendered/nginx/globex.conf"));
    let port = free_port();
    let scratch = f.path().join("entrypoint");
    std::fs::create_dir_all(&scratch).unwrap();
    let conf = carried.replace(
        &format!("listen {router_port};"),
        &format!("listen 127.0.0.1:{port};"),
    );
    let image = ns
        .entrypoint(&scratch, &conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("run the rproxy entrypoint");
    let _image = Guard(image);
    check_router("globex", port);
    assert_eq!(
        std::fs::read_to_string(scratch.join("etc-nginx.conf")).unwrap(),
        format!("{conf}\n")
    );
    let refused = ns.entrypoint(&scratch, "").output().unwrap();
    assert_eq!(refused.status.code(), Some(1));
    assert_contains(
        &String::from_utf8_lossy(&refused.stderr),
        "TENANTOPS_NGINX_CONF is empty",
    );
}

#[test]
fn nginx_routes_each_tenant_to_its_own_service_connect_upstreams_under_ecs_name_resolution() {
    let f = Fixture::example();
    let service_port = free_port();
    // A bridge tenant, a silo tenant and the pool tier.
    let owners = ["globex", "stark", "basic"];
    let services = ["orders", "products", "users"];
    let mut platform = f
        .read("tenantops.yaml")
        .replace("port: 3010", &format!("port: {service_port}"));
    let router_port = free_port();
    platform = platform.replace("port: 8080", &format!("port: {router_port}"));
    f.write("tenantops.yaml", platform);
    f.render(&[]);

    // Every Service Connect name gets its own loopback address in the task's hosts file,
    // with a stub upstream that says whose it is; DNS knows none of them.
    let octet = std::process::id() % 200 + 20;
    let dns_ip = format!("127.53.{octet}.{}", octet % 7 + 1);
    let mut hosts = String::from("127.0.0.1 localhost\n");
    for (t, owner) in owners.iter().enumerate() {
        for (s, service) in services.iter().enumerate() {
            let ip = format!("127.0.{}.{}", t + 10, s + 1);
            stub(&ip, service_port, format!("{owner}:{service}"));
            let _ = writeln!(hosts, "{ip} {service}-api.saas-prod-{owner}.sc");
        }
    }
    let resolv = f.path().join("task-resolv.conf");
    std::fs::write(&resolv, format!("nameserver {dns_ip}\n")).unwrap();
    let ns = TaskNamespace {
        hosts: f.path().join("task-hosts"),
        resolv: Some(resolv),
    };
    std::fs::write(&ns.hosts, hosts).unwrap();
    let dnsmasq = Command::new(common::tool("dnsmasq"))
        .args([
            "--keep-in-foreground",
            "--no-resolv",
            "--no-hosts",
            "--conf-file=/dev/null",
            "--bind-interfaces",
            "--user=root",
            "--pid-file=",
            "--port=53",
            // NXDOMAIN for every Service Connect name.
            "--address=/sc/",
        ])
        .arg(format!("--listen-address={dns_ip}"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start dnsmasq");
    let _dns = Guard(dnsmasq);
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect((dns_ip.as_str(), 53)).is_err() {
        assert!(
            Instant::now() < deadline,
            "dnsmasq does not listen on {dns_ip}:53"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    let mut routers = Vec::new();
    for owner in owners {
        let conf = f.read(&format!("rendered/nginx/{owner}.conf"));
        let (port, guard) = start_nginx(&f, &ns, owner, &conf, router_port);
        routers.push((owner, port, guard));
    }
    for (owner, port, _) in &routers {
        check_router(owner, *port);
    }

    rproxy_entrypoint_runs_the_carried_config(&f, &ns, router_port);

    // The earlier config (`resolver` + variable `proxy_pass`), in the same task: every
    // service request is a 502, because DNS does not know Service Connect's names.
    let conf = with_resolver(&f.read("rendered/nginx/globex.conf"), &dns_ip);
    let (port, _old) = start_nginx(&f, &ns, "globex-resolver", &conf, router_port);
    wait_for(port);
    let (status, _, body) = request(port, "GET", "/orders/17", "");
    assert_eq!(status, 502, "the resolver config reached `{body}`");

    // A router whose services are not (yet) in its hosts file does not start: its task
    // fails instead of passing health checks while answering 502.
    let empty = TaskNamespace {
        hosts: f.path().join("empty-hosts"),
        resolv: ns.resolv.clone(),
    };
    std::fs::write(&empty.hosts, "127.0.0.1 localhost\n").unwrap();
    let conf = f
        .path()
        .join("rendered/nginx/globex.conf")
        .display()
        .to_string();
    let out = empty
        .nginx(&[
            "-t",
            "-c",
            &conf,
            "-g",
            &format!("pid {};", f.path().join("t2.pid").display()),
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert_contains(
        &String::from_utf8_lossy(&out.stderr),
        "host not found in upstream",
    );
}
