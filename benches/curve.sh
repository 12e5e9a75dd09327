#!/usr/bin/env bash
# The scaling curve: `validate`, `lock`, `render` (to tmpfs), `render --tenant` and
# `plan --base` of a one-tenant edit on synthetic fleets of each size given (default
# 1000 10000 30000 100000), with the release build; the median wall time, CPU time
# (user + system) and peak RSS of RUNS runs (default 5) each. With BASELINE naming
# another tenantops binary, each run of it alternates with a run of this build.
#
#   cargo build --release --bin tenantops --example synth
#   benches/curve.sh [SIZE ...]
#
# Needs GNU time (/usr/bin/time) and git. Fleets are written under $TMPDIR.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${BIN:-$PWD/target/release/tenantops}
synth=${SYNTH:-$PWD/target/release/examples/synth}
runs=${RUNS:-5}
out_root=${OUT_ROOT:-/dev/shm}
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(1000 10000 30000 100000)
work=$(mktemp -d)
trap 'rm -rf "$work" "$out_root"/tenantops-curve-$$' EXIT

# median of the numbers on stdin
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# measure LABEL BINARY DIR ARGS...: prints one line of medians.
measure() {
    local label=$1 b=$2 dir=$3
    shift 3
    local walls=() cpus=() rss=()
    for _ in $(seq "$runs"); do
        rm -rf "$out_root/tenantops-curve-$$"
        local line
        # A fleet larger than one account's quotas (10,000 API keys a region, 5,000
        # roles) is refused for those alone, after all of validate's work.
        /usr/bin/time -o "$work/time" -f '%e %U %S %M' "$b" -C "$dir" "$@" >/dev/null 2>"$work/stderr" \
            || { [ $? = 1 ] && grep -q '^error\[quota\]' "$work/stderr" && ! grep '^error\[' "$work/stderr" | grep -qv '^error\[quota\]'; } \
            || { echo "  $label failed:" >&2; cat "$work/stderr" >&2; exit 1; }
        line=$(tail -1 "$work/time")
        read -r wall user sys kb <<<"$line"
        walls+=("$wall")
        cpus+=("$(echo "$user + $sys" | bc)")
        rss+=("$kb")
    done
    printf '  %-34s wall %6.3f s  CPU %6.3f s  peak RSS %7.1f MB\n' "$label" \
        "$(printf '%s\n' "${walls[@]}" | median)" \
        "$(printf '%s\n' "${cpus[@]}" | median)" \
        "$(echo "$(printf '%s\n' "${rss[@]}" | median) / 1024" | bc -l)"
}

for n in "${sizes[@]}"; do
    fleet=$work/fleet-$n
    "$synth" "$fleet" "$n" >/dev/null
    git -C "$fleet" init -q
    git -C "$fleet" add -A
    git -C "$fleet" -c user.name=bench -c user.email=bench@example.com commit -qm fleet
    # A one-tenant edit: the first advanced tenant (every synthetic fleet has one at 1).
    edited=
    for f in $(ls "$fleet/tenants" | head -50); do
        if grep -q '^tier: advanced' "$fleet/tenants/$f"; then edited=$fleet/tenants/$f; break; fi
    done
    one=$(basename "$edited" .yaml)
    echo "$n tenants ($(ls "$fleet/tenants" | wc -l) files)"
    for b in "$bin" ${BASELINE:+"$BASELINE"}; do
        [ "$b" = "$bin" ] || echo "  baseline $b"
        measure "validate" "$b" "$fleet" validate
        measure "lock" "$b" "$fleet" lock
        measure "render (tmpfs, fresh)" "$b" "$fleet" render --out "$out_root/tenantops-curve-$$"
        measure "render --tenant $one" "$b" "$fleet" render --tenant "$one" --out "$out_root/tenantops-curve-$$"
        printf 'overrides:\n  desired_count: 2\n' >> "$edited"
        measure "plan --base HEAD (one tenant)" "$b" "$fleet" plan --base HEAD
        git -C "$fleet" checkout -q -- "$edited"
    done
    rm -rf "$fleet"
done
