#!/bin/sh
# The rproxy image's entrypoint: writes the router config tenantops rendered for this
# tenant (or pool tier) — carried in the task definition as TENANTOPS_NGINX_CONF — to
# nginx's config file and runs nginx in the foreground. A config change is a new task
# definition revision, deployed and rolled back by ECS; the file nginx runs is the one
# `nginx -t` checked in CI (tests/nginx.rs runs this script with real nginx).
#
# nginx resolves each service's Service Connect name once, at start, from the
# /etc/hosts ECS wrote into the task, so a name that is not there yet stops it with
# "host not found in upstream": the task fails and ECS starts another, instead of a
# router that answers 502.
set -eu
if [ -z "${TENANTOPS_NGINX_CONF:-}" ]; then
    echo "rproxy: TENANTOPS_NGINX_CONF is empty: this image runs the router config tenantops renders into its task definition" >&2
    exit 1
fi
printf '%s\n' "$TENANTOPS_NGINX_CONF" > /etc/nginx/nginx.conf
exec nginx -g 'daemon off;' "$@"
