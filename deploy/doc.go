// Package deploy holds no code: its tests check, offline, the deployment files
// of the distributed mode — docker-compose.yml at the repository root,
// deploy/docker/Dockerfile, the Kubernetes manifests under deploy/k8s and the
// example tenants file — against each other and against the flags the
// service binaries actually define; and that the service modules stay apart
// (modules_test.go: no service module imports another's).
package deploy
