//! The rendered nginx router configs: `nginx -t` accepts every one, and real nginx routes real requests to each tenant's own Service Connect upstreams, resolved by a real dnsmasq on loopback.

mod common;

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Fixture, assert_contains};

/// `nginx -t` on one config, with its own pid file.
#[track_caller]
fn nginx_t(conf: &Path, scratch: &Path) {
    let out = Command::new(common::tool("nginx"))
        .arg("-t")
        .arg("-c")
        .arg(conf)
        .arg("-g")
        .arg(format!("pid {};", scratch.join("t.pid").display()))
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
    for f in [Fixture::example(), Fixture::matrix()] {
        f.render(&[]);
        for entry in std::fs::read_dir(f.path().join("rendered/nginx")).unwrap() {
            nginx_t(&entry.unwrap().path(), f.path());
            checked += 1;
        }
    }
    // Shipped: 4 bridge/silo tenants and the basic pool; matrix: 6 and 2 pools.
    assert_eq!(checked, 13);
}

/// A free TCP port on loopback (released for the caller to bind).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A loopback port free for both UDP and TCP: dnsmasq listens on both, and exits when
/// either is taken (other tests start servers on free TCP ports at the same time).
fn free_dns_port() -> u16 {
    loop {
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = udp.local_addr().unwrap().port();
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
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

/// Starts nginx with `tenant`'s rendered config, changed only to listen on a free
/// loopback port instead of the router port. Returns that port.
fn start_nginx(f: &Fixture, tenant: &str, router_port: u16) -> (u16, Guard) {
    let conf_path = f.path().join(format!("rendered/nginx/{tenant}.conf"));
    nginx_t(&conf_path, f.path());
    let port = free_port();
    let conf = std::fs::read_to_string(&conf_path).unwrap().replace(
        &format!("listen {router_port};"),
        &format!("listen 127.0.0.1:{port};"),
    );
    let run_conf = f.path().join(format!("{tenant}-run.conf"));
    std::fs::write(&run_conf, conf).unwrap();
    let nginx = Command::new(common::tool("nginx"))
        .arg("-c")
        .arg(&run_conf)
        .arg("-g")
        .arg(format!(
            "daemon off; pid {};",
            f.path().join(format!("{tenant}.pid")).display()
        ))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start nginx");
    (port, Guard(nginx))
}

#[test]
fn nginx_routes_each_tenant_to_its_own_service_connect_upstreams() {
    let f = Fixture::example();
    let service_port = free_port();
    let dns_port = free_dns_port();
    let tenants = ["globex", "umbrella"];
    let services = ["orders", "products", "users"];
    let mut router_ports = Vec::new();
    let mut platform = f
        .read("tenantops.yaml")
        .replace("port: 3010", &format!("port: {service_port}"));
    platform = platform.replace(
        "resolver: 169.254.169.253",
        &format!("resolver: 127.0.0.1:{dns_port}"),
    );
    let router_port = free_port();
    platform = platform.replace("port: 8080", &format!("port: {router_port}"));
    f.write("tenantops.yaml", platform);
    f.render(&[]);

    // Every Service Connect name of every tenant gets its own loopback address, with a
    // stub upstream that says whose it is.
    let mut dnsmasq = Command::new(common::tool("dnsmasq"));
    dnsmasq.args([
        "--keep-in-foreground",
        "--no-resolv",
        "--no-hosts",
        "--conf-file=/dev/null",
        "--listen-address=127.0.0.1",
        "--bind-interfaces",
        "--user=root",
        "--pid-file=",
    ]);
    dnsmasq.arg(format!("--port={dns_port}"));
    for (t, tenant) in tenants.iter().enumerate() {
        for (s, service) in services.iter().enumerate() {
            let ip = format!("127.0.{}.{}", t + 10, s + 1);
            stub(&ip, service_port, format!("{tenant}:{service}"));
            dnsmasq.arg(format!(
                "--address=/{service}-api.saas-prod-{tenant}.sc/{ip}"
            ));
        }
    }
    let _dns = Guard(
        dnsmasq
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start dnsmasq"),
    );
    // dnsmasq answers on TCP too: once it accepts, nginx's first lookup is answered
    // (under load, a lookup sent before dnsmasq listens fails the first request).
    wait_for(dns_port);

    for tenant in tenants {
        let (port, guard) = start_nginx(&f, tenant, router_port);
        router_ports.push((tenant, port, guard));
    }

    for (tenant, port, _) in &router_ports {
        wait_for(*port);
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
            let (status, _, body) = request(*port, method, path, "");
            assert_eq!(status, 200, "{tenant} {method} {path}: {body}");
            assert!(
                body.starts_with(&format!(
                    "{tenant}:{service} {method} {path} HTTP/1.1 xff=127.0.0.1"
                )),
                "{tenant} {method} {path} reached `{body}`"
            );
        }
        let (status, _, _) = request(*port, "HEAD", "/orders", "");
        assert_eq!(status, 200, "{tenant}: HEAD is allowed");
        for method in ["PATCH", "TRACE", "PROPFIND"] {
            let (status, _, body) = request(*port, method, "/orders", "");
            assert_eq!(status, 405, "{tenant} {method}: {body}");
        }
        let (status, head, body) = request(*port, "GET", "/health", "");
        assert_eq!(status, 200);
        assert_contains(&head.to_ascii_lowercase(), "content-type: application/json");
        assert_eq!(
            body,
            format!("{{\"status\":\"ok\",\"router\":\"{tenant}\"}}")
        );
        // A prefix that only looks like a service is not one.
        let (status, _, _) = request(*port, "GET", "/ordersx", "");
        assert_eq!(status, 404);
        let (status, _, _) = request(*port, "GET", "/billing", "");
        assert_eq!(status, 404);
        // gzip on JSON.
        let (status, head, _) = request(*port, "GET", "/orders/big", "Accept-Encoding: gzip\r\n");
        assert_eq!(status, 200);
        assert_contains(&head.to_ascii_lowercase(), "content-encoding: gzip");
    }
}
