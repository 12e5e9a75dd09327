//! Every class of bad input gets a located, readable error and the invalid-input exit code, never a panic or a partial result.

mod common;

use std::fmt::Write as _;

use common::{Fixture, assert_contains, assert_invalid, tenant};

#[test]
fn yaml_syntax_error() {
    let f = Fixture::example();
    f.write("tenants/acme.yaml", "id: acme\nname: [Acme\ntier: basic\n");
    let run = f.run(&["validate"]);
    assert_invalid(&run, "tenants/acme.yaml:3:5", "YAML syntax error");
}

#[test]
fn wrong_type() {
    let f = Fixture::example();
    f.write(
        "tenants/acme.yaml",
        tenant("acme", "basic") + "labels: [a, b]\n",
    );
    assert_invalid(
        &f.run(&["validate"]),
        "tenants/acme.yaml:6:9",
        "`labels` must be a mapping, found a sequence",
    );
}

#[test]
fn quoted_number_gets_a_hint() {
    let f = Fixture::example();
    f.write(
        "tenants/globex.yaml",
        tenant("globex", "advanced") + "overrides:\n  desired_count: \"2\"\n",
    );
    let run = f.run(&["validate"]);
    assert_invalid(
        &run,
        "tenants/globex.yaml:7:18",
        "`overrides.desired_count` must be an integer, found a string `2`",
    );
    assert_contains(&run.stderr, "remove the quotes: `2`");
}

#[test]
fn unknown_key_suggests_the_right_one() {
    let f = Fixture::example();
    f.write(
        "tenants/acme.yaml",
        tenant("acme", "basic") + "admin_emial: x@y.com\n",
    );
    let run = f.run(&["validate"]);
    assert_invalid(
        &run,
        "tenants/acme.yaml:6:1",
        "unknown key `admin_emial` in the tenant file",
    );
    assert_contains(&run.stderr, "did you mean `admin_email`?");
}

#[test]
fn duplicate_key() {
    let f = Fixture::example();
    f.write(
        "tenants/acme.yaml",
        tenant("acme", "basic") + "tier: premium\n",
    );
    assert_invalid(
        &f.run(&["validate"]),
        "tenants/acme.yaml:6:1",
        "duplicate key `tier` (first written at line 4)",
    );
}

#[test]
fn alias_expansion_bomb() {
    let mut text = String::from(
        "id: acme\nname: Acme\ntier: basic\nadmin_email: a@acme.example.com\nlabels:\n  a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n",
    );
    for i in 1..9 {
        let p = i - 1;
        let _ = writeln!(
            text,
            "  a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]"
        );
    }
    let f = Fixture::example();
    f.write("tenants/acme.yaml", text);
    let run = f.run(&["validate"]);
    assert_invalid(
        &run,
        "tenants/acme.yaml:10:47",
        "aliases expand to more than 100000 values",
    );
}

#[test]
fn file_over_one_mebibyte() {
    let f = Fixture::example();
    let mut text = tenant("acme", "basic");
    let _ = writeln!(text, "# {}", "x".repeat(1024 * 1024));
    f.write("tenants/acme.yaml", text);
    let run = f.run(&["validate"]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert_contains(
        &run.stderr,
        format!("--> {}/tenants/acme.yaml:1:1\n", run.root),
    );
    assert_contains(&run.stderr, "manifests are at most 1048576 bytes (1 MiB)");
}

#[test]
fn non_utf8_bytes() {
    let f = Fixture::example();
    f.write(
        "tenants/acme.yaml",
        b"id: acme\nname: Acme \xe9t\xe9\n".as_slice(),
    );
    assert_invalid(
        &f.run(&["validate"]),
        "tenants/acme.yaml:2:12",
        "is not valid UTF-8 (byte 0xe9 at line 2, column 12)",
    );
}

#[test]
fn empty_file() {
    let f = Fixture::example();
    f.write("tenants/acme.yaml", "");
    assert_invalid(
        &f.run(&["validate"]),
        "tenants/acme.yaml:1:1",
        "`tenants/acme.yaml` is empty",
    );
    f.write("tenants/acme.yaml", "# only a comment\n\n");
    assert_invalid(
        &f.run(&["validate"]),
        "tenants/acme.yaml:1:1",
        "`tenants/acme.yaml` is empty",
    );
}

#[test]
fn manifest_that_is_a_list() {
    let f = Fixture::example();
    f.write("tenants/acme.yaml", "- id: acme\n- tier: basic\n");
    assert_invalid(
        &f.run(&["validate"]),
        "tenants/acme.yaml:1:1",
        "the tenant file must be a mapping, found a sequence",
    );
}

#[test]
fn manifest_that_is_a_scalar() {
    let f = Fixture::example();
    f.write("tiers/basic.yaml", "just words\n");
    assert_invalid(
        &f.run(&["validate"]),
        "tiers/basic.yaml:1:1",
        "the tier file must be a mapping, found a string",
    );
}

#[cfg(unix)]
#[test]
fn symlink_pointing_outside_the_repository() {
    let f = Fixture::example();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("x.yaml"), tenant("x", "basic")).unwrap();
    std::os::unix::fs::symlink(
        outside.path().join("x.yaml"),
        f.path().join("tenants/x.yaml"),
    )
    .unwrap();
    std::os::unix::fs::symlink("../../../../etc/passwd", f.path().join("tenants/y.yaml")).unwrap();
    let run = f.run(&["validate"]);
    assert_eq!(run.code, 1, "{}", run.all());
    for name in ["x", "y"] {
        assert_contains(
            &run.stderr,
            format!("--> {}/tenants/{name}.yaml:1:1\n", run.root),
        );
    }
    assert_contains(&run.stderr, "outside the repository");
}

#[cfg(unix)]
#[test]
fn symlink_inside_the_repository_is_followed() {
    let f = Fixture::example();
    f.write("shared/initech.yaml", f.read("tenants/initech.yaml"));
    f.remove("tenants/initech.yaml");
    std::os::unix::fs::symlink(
        "../shared/initech.yaml",
        f.path().join("tenants/initech.yaml"),
    )
    .unwrap();
    let run = f.run(&["validate"]);
    assert_eq!(run.code, 0, "{}", run.all());
}

/// A symlink to nothing is an error, not an absent tenant: taken for one, the tenant
/// dropped out of the fleet, `lock` released its allocation and the plan deleted its
/// stack.
#[cfg(unix)]
#[test]
fn a_dangling_symlink_is_an_error_not_a_missing_tenant() {
    let f = Fixture::example();
    let lock = f.read("tenants.lock");
    f.remove("tenants/initech.yaml");
    std::os::unix::fs::symlink(
        "../shared/initech.yaml",
        f.path().join("tenants/initech.yaml"),
    )
    .unwrap();
    for args in [&["validate"][..], &["lock"]] {
        let run = f.run(args);
        assert_invalid(
            &run,
            "tenants/initech.yaml:1:1",
            "is a symlink to `../shared/initech.yaml`, which does not exist",
        );
    }
    assert_eq!(f.read("tenants.lock"), lock, "lock changed the lock");
}

/// YAML allows no NUL (nor other control characters) in a stream, and the parser ended
/// the document at one without a word: everything after it was ignored and `validate`
/// said ok for a manifest it had read half of.
#[test]
fn a_nul_byte_is_located_not_read_past() {
    let f = Fixture::example();
    let text = f.read("tenants/wayne.yaml");
    let line = text.lines().position(|l| l.starts_with("tier:")).unwrap() + 1;
    f.write("tenants/wayne.yaml", text.replacen("tier:", "\0tier:", 1));
    let run = f.run(&["validate"]);
    assert_invalid(
        &run,
        &format!("tenants/wayne.yaml:{line}:1"),
        "the file holds a NUL character (U+0000), which YAML does not allow",
    );
}

/// Display names are for people and unique: one that does not show as written is
/// refused, and a twin that differs only by Unicode form, case or spacing is a
/// duplicate. Before, every one of these passed (an ASCII twin was refused).
#[test]
fn display_names_that_hide_characters_or_twin_another_are_refused() {
    for (name, message) in [
        (
            r#""Acme\u200b Corp""#,
            "holds U+200B, an invisible control or format character",
        ),
        (r#""Acme \u202eproC""#, "holds U+202E"),
        (r#""Acme\x07 Corp""#, "holds U+0007"),
        (r#""Acme\u2028Corp""#, "holds U+2028"),
        (r#""   ""#, "the display name is only white space"),
        (r#""\u3000""#, "the display name is only white space"),
    ] {
        let f = Fixture::example();
        f.write(
            "tenants/acme.yaml",
            format!("id: acme\nname: {name}\ntier: basic\nadmin_email: admin@acme.example.com\n"),
        );
        let run = f.run(&["validate"]);
        assert_invalid(&run, "tenants/acme.yaml:2:7", message);
    }
    let wayne = "Wayne Enterprises";
    assert!(
        Fixture::example()
            .read("tenants/wayne.yaml")
            .contains(&format!("name: {wayne}"))
    );
    for twin in [
        "Ｗａｙｎｅ Enterprises",  // fullwidth
        "WAYNE   enterprises",     // case and spacing, as before
        "Wayne\u{a0}Enterprises",  // a no-break space
        "Wayne Enterpri\u{17f}es", // long s, NFKC `s`
    ] {
        let f = Fixture::example();
        f.write(
            "tenants/zwayne.yaml",
            format!(
                "id: zwayne\nname: {twin}\ntier: basic\nadmin_email: admin@zwayne.example.com\n"
            ),
        );
        let run = f.run(&["validate"]);
        assert_invalid(
            &run,
            "tenants/zwayne.yaml:2:7",
            "is already used by `tenants/wayne.yaml`",
        );
    }
    // A name in decomposed form is the composed one.
    let f = Fixture::example();
    f.write(
        "tenants/cafe.yaml",
        "id: cafe\nname: Caf\u{e9}\ntier: basic\nadmin_email: admin@cafe.example.com\n",
    );
    f.write(
        "tenants/cafe2.yaml",
        "id: cafe2\nname: Cafe\u{301}\ntier: basic\nadmin_email: admin@cafe2.example.com\n",
    );
    let run = f.run(&["validate"]);
    assert_invalid(
        &run,
        "tenants/cafe2.yaml:2:7",
        "is already used by `tenants/cafe.yaml`",
    );
}

/// A pull request that adds a tenant named like an existing one gets the error on its
/// own file: with `--base`, files that exist at the base are taken first. Before, the
/// existing tenant's file (first by name) was blamed, and the annotation landed outside
/// the pull request's diff.
#[test]
fn a_duplicate_name_is_blamed_on_the_file_the_change_adds() {
    let f = Fixture::example();
    f.commit("base");
    f.write(
        "tenants/aaa-wayne.yaml",
        "id: aaa-wayne\nname: Wayne Enterprises\ntier: basic\nadmin_email: admin@aaa.example.com\n",
    );
    let run = f.run(&["validate", "--base", "HEAD"]);
    assert_invalid(
        &run,
        "tenants/aaa-wayne.yaml:2:7",
        "display name `Wayne Enterprises` is already used by `tenants/wayne.yaml`",
    );
    assert!(
        !run.stderr.contains("--> tenants/wayne.yaml")
            && !run.stderr.contains("/tenants/wayne.yaml:"),
        "{}",
        run.stderr
    );
}

/// `tenantops:` in `tenantops.yaml` pins the versions the repository is written for:
/// outside it, every command that reads the repository refuses, located at the pin,
/// naming the installed version, and writes nothing.
#[test]
fn a_version_pin_refuses_another_tenantops() {
    let f = Fixture::example();
    let platform = f.read("tenantops.yaml");
    let lock = f.read("tenants.lock");
    let installed = env!("CARGO_PKG_VERSION");
    f.write(
        "tenantops.yaml",
        format!("tenantops: \">=99.0\"\n{platform}"),
    );
    for args in [
        &["validate"][..],
        &["render", "--out", "out"],
        &["lock"],
        &["plan", "--base", "HEAD"],
    ] {
        let run = f.run(args);
        assert_invalid(
            &run,
            "tenantops.yaml:1:12",
            &format!(
                "this repository is written for tenantops `>=99.0`, and this is tenantops {installed}"
            ),
        );
    }
    assert!(!f.path().join("out").exists(), "render wrote");
    assert_eq!(f.read("tenants.lock"), lock);
    f.write(
        "tenantops.yaml",
        format!("tenantops: \"newest\"\n{platform}"),
    );
    assert_invalid(
        &f.run(&["validate"]),
        "tenantops.yaml:1:12",
        "`newest` is not a version requirement",
    );
    let major_minor: Vec<&str> = installed.split('.').collect();
    f.write(
        "tenantops.yaml",
        format!(
            "tenantops: \">={installed}, <{}.{}\"\n{platform}",
            major_minor[0],
            major_minor[1].parse::<u32>().unwrap() + 1
        ),
    );
    let run = f.run(&["validate"]);
    assert_eq!(run.code, 0, "{}", run.all());
}

/// What a write killed between its temporary file and the rename leaves behind (a
/// dotfile, skipped by the loader) does not break the next `validate`.
#[test]
fn a_temporary_file_left_by_a_killed_write_is_skipped() {
    let f = Fixture::example();
    f.write("tenants/.acme.yaml.tmp-tenantops", "id: acme\nname: half");
    f.write(".tenants.lock.tmp-tenantops", "version: 1\n");
    let run = f.run(&["validate"]);
    assert_eq!(run.code, 0, "{}", run.all());
}

#[cfg(unix)]
#[test]
fn fifo_is_not_read() {
    let f = Fixture::example();
    let status = std::process::Command::new("mkfifo")
        .arg(f.path().join("tenants/pipe.yaml"))
        .status()
        .unwrap();
    assert!(status.success());
    let run = f.run(&["validate"]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert_contains(&run.stderr, "is not a regular file");
}

#[test]
fn file_not_ending_in_yaml() {
    let f = Fixture::example();
    f.write("tenants/newco.yml", tenant("newco", "basic"));
    f.write("tenants/README.md", "# tenants\n");
    let run = f.run(&["validate"]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert_contains(
        &run.stderr,
        format!("--> {}/tenants/newco.yml:1:1\n", run.root),
    );
    assert_contains(&run.stderr, "rename it to `tenants/newco.yaml`");
    assert_contains(&run.stderr, "`tenants/README.md` is not a manifest");
}

#[test]
fn dotfiles_are_skipped() {
    let f = Fixture::example();
    f.write("tenants/.gitkeep", "");
    assert_eq!(f.run(&["validate"]).code, 0);
}

#[test]
fn directory_inside_tenants() {
    let f = Fixture::example();
    f.write("tenants/emea/acme.yaml", tenant("acme", "basic"));
    let run = f.run(&["validate"]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert_contains(&run.stderr, "`tenants/emea` is a directory");
}

#[test]
fn injection_and_traversal_ids() {
    for (id, file) in [
        ("acme;}", "evil1"),
        ("../x", "evil2"),
        ("a b", "evil3"),
        ("ACME", "evil4"),
        ("acme-", "evil5"),
        ("a--b", "evil6"),
        ("$(rm)", "evil7"),
    ] {
        let f = Fixture::example();
        f.write(
            &format!("tenants/{file}.yaml"),
            format!(
                "id: {}\nname: Evil\ntier: basic\nadmin_email: a@b.example.com\n",
                serde_json::to_string(id).unwrap()
            ),
        );
        let run = f.run(&["validate"]);
        assert_invalid(
            &run,
            &format!("tenants/{file}.yaml:1:5"),
            "`id` has an invalid value",
        );
        assert!(
            run.stderr.contains("lowercase DNS labels"),
            "{id}: {}",
            run.stderr
        );
    }
}

#[test]
fn unicode_look_alike_ids() {
    let f = Fixture::example();
    // Cyrillic `а` (U+0430) in place of Latin `a`.
    f.write(
        "tenants/acme2.yaml",
        "id: \"\u{430}cme2\"\nname: Look-alike\ntier: basic\nadmin_email: a@b.example.com\n",
    );
    let run = f.run(&["validate"]);
    assert_invalid(&run, "tenants/acme2.yaml:1:5", "`id` has an invalid value");
    assert_contains(&run.stderr, "non-ASCII character `\u{430}` (U+0430)");
}

#[test]
fn terminal_escapes_in_values_are_not_echoed() {
    let f = Fixture::example();
    f.write(
        "tenants/acme.yaml",
        "id: acme\nname: Acme\ntier: \"\\e[2Jbasic\"\nadmin_email: a@acme.example.com\n",
    );
    let run = f.run(&["validate"]);
    assert_eq!(run.code, 1);
    assert!(!run.stderr.contains('\u{1b}'), "{:?}", run.stderr);
}

#[test]
fn several_documents_in_one_file() {
    let f = Fixture::example();
    f.write(
        "tenants/acme.yaml",
        tenant("acme", "basic") + "---\n" + &tenant("acme", "basic"),
    );
    assert_invalid(
        &f.run(&["validate"]),
        "tenants/acme.yaml:6:1",
        "this is a second one",
    );
}

#[test]
fn every_problem_is_reported_in_one_run() {
    let f = Fixture::example();
    f.write(
        "tenants/acme.yaml",
        "id: acme\nname: Acme Corporation\ntier: premuim\nadmin_email: ops@@acme\nstate: paused\n",
    );
    f.write("tenants/hooli.yaml", "id: hooli\nname: 7\n");
    f.write(
        "tiers/basic.yaml",
        f.read("tiers/basic.yaml")
            .replace("compute: fargate", "compute: lambda"),
    );
    let run = f.run(&["validate"]);
    assert_eq!(run.code, 1);
    insta::assert_snapshot!(run.stderr.replace(&run.root, "<repo>"));
}

#[test]
fn missing_platform_file() {
    let f = Fixture::example();
    f.remove("tenantops.yaml");
    let run = f.run(&["validate"]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert_contains(
        &run.stderr,
        "`tenantops.yaml` is missing: this is not a tenantops repository",
    );
}

#[test]
fn not_a_directory() {
    let f = Fixture::example();
    let run = common::run_in(&f.path().join("tenantops.yaml"), &["validate"]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert_contains(&run.stderr, "is not a directory");
}

#[test]
fn usage_errors_exit_2() {
    let f = Fixture::example();
    assert_eq!(f.run(&["validate", "--bogus"]).code, 2);
    assert_eq!(f.run(&["frobnicate"]).code, 2);
    assert_eq!(f.run(&["schema"]).code, 2);
    assert_eq!(f.run(&["lock", "--rev", "HEAD"]).code, 2);
}
