//! A tenant to onboard: from flags or a control-plane event, its id (given, or chosen from its name) and what the event's per-tenant choices mean for its manifest.
//!
//! SBT's tenant ids are uuid4s (`tenant-management/index.py`: `str(uuid.uuid4())`), which
//! no person would choose as a permanent id and most of which start with a digit, so a
//! tenant onboarded from an event without `--id` gets an id made from its name: a DNS
//! label slug of `tenantName`, bounded by the longest id `naming` allows. The slug is a
//! function of the name alone, so a redelivered event gives the same id; a slug that is
//! reserved or already another tenant's is refused, located at `detail.tenantName`,
//! never silently changed.

use std::collections::BTreeMap;

use crate::diag::Diagnostic;
use crate::load::Sources;
use crate::model::{Compute, Isolation, Tier};
use crate::yaml::Span;

/// The label that keeps the control plane's own tenant id (the event's `tenantId`),
/// which provisioning results are reported under and offboarding requests find the
/// tenant by.
pub const CONTROL_PLANE_LABEL: &str = "control-plane-id";

/// The label that keeps the registration's id (the event's `tenantRegistrationId`):
/// the key SBT correlates provisioning results by.
pub const REGISTRATION_LABEL: &str = "control-plane-registration-id";

/// A tenant to onboard, and where each value came from when it came from an event.
pub struct Request {
    /// The permanent id (empty until chosen, when `id_from_name`).
    pub id: String,
    /// The id is to be made from the name (a slug of `tenantName`).
    pub id_from_name: bool,
    pub tier: String,
    pub name: String,
    pub email: String,
    pub labels: BTreeMap<String, String>,
    /// The event it came from, for pointing a problem at the event that asked for it.
    pub origin: Option<Origin>,
    pub event_id: Option<String>,
    /// The event's `useEc2`, `useFederation` and `useRProxy`.
    pub use_ec2: Option<bool>,
    pub use_federation: Option<bool>,
    pub use_rproxy: Option<bool>,
    /// Warnings about the event, reported with the result.
    pub warnings: Vec<Diagnostic>,
}

/// An onboarding event: its file name, text, and the span of each field used (`id`,
/// `name`, `tier`, `email`, `useEc2`, `useFederation`, `useRProxy`; a field given by a
/// flag has none).
#[derive(Clone)]
pub struct Origin {
    pub file: String,
    pub text: String,
    pub spans: BTreeMap<&'static str, Span>,
}

impl Origin {
    pub(super) fn span(&self, key: &str) -> Option<Span> {
        self.spans.get(key).copied()
    }

    /// `sources` with the event added, so that diagnostics can quote it.
    pub(super) fn add_to(&self, sources: &mut Sources) {
        sources.add(self.file.clone(), self.text.clone());
    }
}

impl Request {
    /// A problem with `key`, at the event field it came from, else unlocated (a flag).
    pub(super) fn problem(&self, code: &'static str, key: &str, message: String) -> Diagnostic {
        match self
            .origin
            .as_ref()
            .and_then(|o| o.span(key).map(|s| (o.file.as_str(), s)))
        {
            Some((file, span)) => Diagnostic::error(code, file, span, message),
            None => Diagnostic::unlocated(code, None, message),
        }
    }
}

/// `name` as a tenant id: lowercase ASCII letters and digits (common Latin letters with
/// accents folded), every other run of characters one hyphen, starting with a letter
/// (`t-` before a leading digit), at most `max` characters (cut at a hyphen where one
/// is near the end). Empty when the name has no letter or digit to keep.
#[must_use]
pub fn slug(name: &str, max: usize) -> String {
    let mut out = String::new();
    let mut gap = false;
    for c in name.chars().flat_map(char::to_lowercase) {
        let folded = fold(c);
        if folded.is_empty() {
            gap = !out.is_empty();
            continue;
        }
        if gap {
            out.push('-');
            gap = false;
        }
        out.push_str(folded);
    }
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert_str(0, "t-");
    }
    if out.len() > max {
        out.truncate(max);
        if let Some(cut) = out.rfind('-').filter(|&i| i + 8 >= max && i > 0) {
            out.truncate(cut);
        }
    }
    while out.ends_with('-') {
        out.pop();
    }
    out
}

/// `c` (lowercase) as ASCII id characters: itself when alphanumeric ASCII, a folded
/// Latin letter, or nothing (a separator).
fn fold(c: char) -> &'static str {
    const ASCII: [&str; 36] = [
        "a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n", "o", "p", "q", "r",
        "s", "t", "u", "v", "w", "x", "y", "z", "0", "1", "2", "3", "4", "5", "6", "7", "8", "9",
    ];
    match c {
        'a'..='z' => ASCII[c as usize - 'a' as usize],
        '0'..='9' => ASCII[26 + c as usize - '0' as usize],
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' => "a",
        'æ' => "ae",
        'ç' | 'č' | 'ć' => "c",
        'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ę' | 'ě' => "e",
        'ì' | 'í' | 'î' | 'ï' | 'ī' => "i",
        'ñ' | 'ń' | 'ň' => "n",
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' | 'ő' => "o",
        'œ' => "oe",
        'ù' | 'ú' | 'û' | 'ü' | 'ū' | 'ů' | 'ű' => "u",
        'ý' | 'ÿ' => "y",
        'ß' => "ss",
        'ł' => "l",
        'š' | 'ś' => "s",
        'ž' | 'ź' | 'ż' => "z",
        'ř' => "r",
        'ð' | 'ď' => "d",
        'ť' => "t",
        'þ' => "th",
        _ => "",
    }
}

/// Whether `text` is a UUID (`8-4-4-4-12` hex digits), as SBT's tenant ids are.
#[must_use]
pub fn is_uuid(text: &str) -> bool {
    let parts: Vec<&str> = text.split('-').collect();
    parts.iter().map(|p| p.len()).eq([8, 4, 4, 4, 12])
        && parts
            .iter()
            .all(|p| p.chars().all(|c| c.is_ascii_hexdigit()))
}

/// What the event's per-tenant choices mean for tier `tier_name`: `useEc2` becomes a
/// silo tenant's `compute` where the tier runs elsewhere and lets a tenant choose
/// (`overrides.compute`), is refused where it does not, and is a warning for pool and
/// bridge tiers, whose tenants share the tier's cluster; `useFederation:
/// "true"` is refused (tenantops gives every tenant a Cognito user pool and has no
/// federation); `useRProxy: "false"` is a warning (bridge and silo tenants are always
/// routed through their rproxy). Returns the compute override, and the problems.
pub(super) fn choices(
    req: &Request,
    tier_name: &str,
    tier: &Tier,
) -> (Option<Compute>, Vec<Diagnostic>) {
    let mut problems = Vec::new();
    let mut compute = None;
    if let Some(ec2) = req.use_ec2 {
        let wanted = if ec2 { Compute::Ec2 } else { Compute::Fargate };
        if wanted == tier.compute {
            // As the tier runs: nothing to record.
        } else if tier.isolation != Isolation::Silo {
            // The reference architecture's provisioning job honours `useEc2` for its
            // silo tier only (`provision-tenant.sh`: BASIC and ADVANCED take the tier's).
            problems.push(
                req.problem(
                    "ignored-choice",
                    "useEc2",
                    format!(
                        "`useEc2: {ec2}` is ignored: tenants of the `{}` tier `{tier_name}` share its cluster, which runs on {}",
                        tier.isolation.as_str(),
                        super::compute_word(tier.compute)
                    ),
                )
                .warning(),
            );
        } else if tier.overrides.compute {
            compute = Some(wanted);
        } else {
            problems.push(
                req.problem(
                    "unsupported-choice",
                    "useEc2",
                    format!(
                        "the request asks for `useEc2: {ec2}`, but tier `{tier_name}` runs on {} and does not let tenants choose `compute`",
                        super::compute_word(tier.compute)
                    ),
                )
                .help("send `useEc2` as the tier runs, or set `overrides.compute: true` in the tier"),
            );
        }
    }
    if req.use_federation == Some(true) {
        problems.push(
            req.problem(
                "unsupported-choice",
                "useFederation",
                "the request asks for `useFederation: true`, and tenantops has no identity federation: every tenant gets its tier's Cognito user pool".to_owned(),
            )
            .help("send `useFederation: \"false\"`, or onboard this tenant by hand"),
        );
    }
    if req.use_rproxy == Some(false) && tier.isolation != Isolation::Pool {
        problems.push(
            req.problem(
                "ignored-choice",
                "useRProxy",
                "`useRProxy: false` is ignored: bridge and silo tenants are always routed through their rproxy (nginx)".to_owned(),
            )
            .warning(),
        );
    }
    (compute, problems)
}

#[cfg(test)]
mod tests {
    use super::{is_uuid, slug};

    #[test]
    fn slugs_are_dns_labels_made_from_the_name() {
        assert_eq!(slug("Initrode Global", 45), "initrode-global");
        assert_eq!(slug("  ACME, Inc.  ", 45), "acme-inc");
        assert_eq!(slug("Café Müller & Söhne", 45), "cafe-muller-sohne");
        assert_eq!(slug("3M", 45), "t-3m");
        assert_eq!(slug("日本", 45), "");
        assert_eq!(slug("---", 45), "");
        let long = slug("The Very Long Name Of A Company That Goes On And On", 20);
        assert!(long.len() <= 20 && !long.ends_with('-'), "{long}");
        assert_eq!(long, "the-very-long-name");
        for name in ["A b", "x--y", "Z9 9", "ü", "ÆØÅ"] {
            let s = slug(name, 45);
            assert!(
                s.is_empty() || crate::naming::is_label(&s, 45),
                "{name} -> {s}"
            );
        }
    }

    #[test]
    fn uuids_are_recognised() {
        assert!(is_uuid("9c1f5a7e-2d4b-4e8f-b6a1-3c2d1e0f9a8b"));
        assert!(is_uuid("3a9f5a7e-2d4b-4e8f-b6a1-3c2d1e0f9a8b"));
        assert!(!is_uuid("initrode"));
        assert!(!is_uuid("9c1f5a7e-2d4b-4e8f-b6a1"));
    }
}
