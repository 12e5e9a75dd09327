//! The platform as every template sees it (`platform`): stage, names, the API's resource tree and the service catalog.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::model::Platform;
use crate::naming::{self, logical_id};

/// The platform as templates see it (`platform` in every context).
#[derive(Serialize)]
pub(super) struct PlatformCtx<'a> {
    stage: &'a str,
    region: &'a str,
    prefix: &'a str,
    base: String,
    header: &'a str,
    api: ApiCtx<'a>,
    services: Vec<ServiceCtx<'a>>,
    router: &'a crate::model::Router,
    /// SES for the user pools' email, when configured.
    email: Option<&'a crate::model::Email>,
}

#[derive(Serialize)]
struct ApiCtx<'a> {
    name: &'a str,
    authorizer: &'a str,
    /// CORS for browser clients, when configured.
    cors: Option<&'a crate::model::Cors>,
    resources: Vec<ApiResourceCtx>,
    /// Changes whenever the resources or methods change, so the deployment's logical
    /// id changes and API Gateway deploys the new stage.
    deployment: String,
}

#[derive(Serialize)]
struct ApiResourceCtx {
    logical: String,
    parent: Option<String>,
    path_part: String,
    path: String,
    service: String,
    /// The path parameter this resource adds (`{id}` → `id`).
    param: Option<String>,
    /// Every path parameter up to here.
    params: Vec<String>,
    methods: Vec<&'static str>,
}

#[derive(Serialize)]
struct ServiceCtx<'a> {
    name: &'a str,
    logical: String,
    image: &'a str,
    port: u16,
    cpu: u32,
    memory: u32,
    health_path: &'a str,
    table: Option<&'a crate::model::Table>,
}

pub(super) fn platform_ctx(p: &Platform) -> PlatformCtx<'_> {
    PlatformCtx {
        stage: &p.stage,
        region: &p.region,
        prefix: &p.naming.prefix,
        base: naming::base(p),
        header: &p.routing.header,
        api: api_ctx(p),
        services: p
            .services
            .iter()
            .map(|(name, s)| ServiceCtx {
                name,
                logical: logical_id(name),
                image: &s.image,
                port: s.port,
                cpu: s.cpu,
                memory: s.memory,
                health_path: &s.health_path,
                table: s.table.as_ref(),
            })
            .collect(),
        router: &p.router,
        email: p.email.as_ref(),
    }
}

/// The API's resource tree: every path prefix becomes a resource, parents first.
fn api_ctx(p: &Platform) -> ApiCtx<'_> {
    let mut by_path: BTreeMap<String, ApiResourceCtx> = BTreeMap::new();
    for r in &p.api.resources {
        let mut path = String::new();
        let mut logical = String::new();
        let mut parent: Option<String> = None;
        let mut params = Vec::new();
        let service = r
            .path
            .trim_start_matches('/')
            .split('/')
            .next()
            .unwrap_or_default()
            .to_owned();
        for part in r.path.trim_start_matches('/').split('/') {
            path.push('/');
            path.push_str(part);
            let param = part
                .strip_prefix('{')
                .and_then(|s| s.strip_suffix('}'))
                .map(str::to_owned);
            logical.push_str(&logical_id(param.as_deref().unwrap_or(part)));
            if let Some(name) = &param {
                params.push(name.clone());
            }
            let entry = by_path
                .entry(path.clone())
                .or_insert_with(|| ApiResourceCtx {
                    logical: logical.clone(),
                    parent: parent.clone(),
                    path_part: part.to_owned(),
                    path: path.clone(),
                    service: service.clone(),
                    param: param.clone(),
                    params: params.clone(),
                    methods: Vec::new(),
                });
            if path == r.path {
                for m in &r.methods {
                    if !entry.methods.contains(&m.as_str()) {
                        entry.methods.push(m.as_str());
                    }
                }
            }
            parent = Some(logical.clone());
        }
    }
    let resources: Vec<ApiResourceCtx> = by_path.into_values().collect();
    let mut fingerprint = String::new();
    for r in &resources {
        fingerprint.push_str(&r.path);
        fingerprint.push(' ');
        fingerprint.push_str(&r.methods.join(","));
        fingerprint.push('\n');
    }
    fingerprint.push_str(&p.api.authorizer);
    fingerprint.push_str(&p.routing.header);
    ApiCtx {
        name: &p.api.name,
        authorizer: &p.api.authorizer,
        cors: p.api.cors.as_ref(),
        resources,
        deployment: format!("{:016x}", fnv1a(fingerprint.as_bytes())),
    }
}

/// FNV-1a, 64-bit: a stable fingerprint (not a security boundary).
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}
