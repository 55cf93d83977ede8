// Package deploy holds the deployment files of wxoidc, which are not Go: the
// Grafana dashboard (grafana/), the Prometheus alert rules and their unit
// tests (prometheus/), the systemd unit (systemd/) and the container image
// (Dockerfile). docs/deployment.md explains how to use them.
//
// Its tests check those files against the product: every metric a dashboard
// panel or an alert rule queries must be one that wxoidc exports, every
// metric wxoidc exports has a panel, and the systemd unit passes
// `systemd-analyze verify`.
package deploy
