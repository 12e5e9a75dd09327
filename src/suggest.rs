//! "Did you mean" suggestions: the closest known name to a misspelt one.

/// The candidate closest to `input`, if any is close enough to be a plausible typo.
pub fn did_you_mean<'a>(
    input: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let input_lower = input.to_lowercase();
    candidates
        .into_iter()
        .map(|c| {
            let distance = strsim::damerau_levenshtein(&input_lower, &c.to_lowercase());
            (distance, c)
        })
        .filter(|&(distance, c)| {
            let longest = input.chars().count().max(c.chars().count());
            c != input && distance <= 2.max(longest / 3) && distance < longest
        })
        .min()
        .map(|(_, c)| c)
}

/// `"; did you mean `x`?"` for the closest candidate, or nothing: the tail of an
/// error message about an unknown name.
pub fn hint<'a>(input: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    did_you_mean(input, candidates)
        .map(|s| format!("; did you mean `{s}`?"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::{did_you_mean, hint};

    #[test]
    fn suggests_close_names_only() {
        let tiers = ["basic", "advanced", "premium"];
        assert_eq!(did_you_mean("premuim", tiers), Some("premium"));
        assert_eq!(did_you_mean("Basic", tiers), Some("basic"));
        assert_eq!(did_you_mean("enterprise", tiers), None);
        assert_eq!(hint("premuim", tiers), "; did you mean `premium`?");
        assert_eq!(hint("enterprise", tiers), "");
        assert_eq!(
            did_you_mean("desired_cout", ["desired_count", "tier"]),
            Some("desired_count")
        );
    }
}
