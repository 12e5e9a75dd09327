#!/usr/bin/env bash
# Per-stack cost of `tenantops render` against `sceptre generate` at N stacks (default
# 1000): Sceptre 4.7 from PyPI in a venv of its own ($TMPDIR), over a project of N
# one-stack configs that share one Jinja template (a table and a queue per tenant);
# tenantops over a synthetic fleet of N tenants. Prints each tool's median wall time
# of RUNS runs (default 5), per stack, and the ratio.
#
#   cargo build --release --bin tenantops --example synth
#   benches/sceptre.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000}
runs=${RUNS:-5}
bin=${BIN:-$PWD/target/release/tenantops}
synth=${SYNTH:-$PWD/target/release/examples/synth}
venv=${SCEPTRE_VENV:-${TMPDIR:-/tmp}/tenantops-sceptre-venv}
[ -x "$venv/bin/sceptre" ] || { python3 -m venv "$venv" && "$venv/bin/pip" install -q "sceptre>=4.7,<4.8"; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

project=$work/sceptre
mkdir -p "$project/config/fleet" "$project/templates"
printf 'project_code: saas\nregion: us-east-1\n' > "$project/config/config.yaml"
cat > "$project/templates/tenant.yaml.j2" <<'T'
AWSTemplateFormatVersion: "2010-09-09"
Description: tenant {{ sceptre_user_data.id }}
Resources:
  Table:
    Type: AWS::DynamoDB::Table
    Properties:
      TableName: orders-{{ sceptre_user_data.id }}
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions:
        - AttributeName: tenantId
          AttributeType: S
      KeySchema:
        - AttributeName: tenantId
          KeyType: HASH
  Queue:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: q-{{ sceptre_user_data.id }}
Outputs:
  TableName:
    Value: !Ref Table
T
for i in $(seq 1 "$n"); do
    printf 'template:\n  path: tenant.yaml.j2\nsceptre_user_data:\n  id: t%s\n' "$i" > "$project/config/fleet/t$i.yaml"
done
fleet=$work/fleet
"$synth" "$fleet" "$n" >/dev/null

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
time_of() {
    local walls=()
    for _ in $(seq "$runs"); do
        rm -rf "$work/out"
        local start end
        start=$(date +%s.%N)
        "$@" >/dev/null 2>&1
        end=$(date +%s.%N)
        walls+=("$(echo "$end - $start" | bc)")
    done
    printf '%s\n' "${walls[@]}" | median
}
sceptre=$(time_of "$venv/bin/sceptre" --dir "$project" generate fleet)
tenantops=$(time_of "$bin" -C "$fleet" render --out "$work/out")
"$bin" -C "$fleet" render --out "$work/out" >/dev/null 2>&1
stacks=$(ls "$work/out/stacks" | grep -vc params)
echo "sceptre generate: $n stacks in $sceptre s ($(echo "$sceptre * 1000 / $n" | bc -l | cut -c1-6) ms per stack)"
echo "tenantops render: $stacks stacks in $tenantops s ($(echo "$tenantops * 1000 / $stacks" | bc -l | cut -c1-6) ms per stack)"
echo "ratio per stack: $(echo "($sceptre / $n) / ($tenantops / $stacks)" | bc -l | cut -c1-6)x"
