# Installs the reconciler's APIs and RBAC (the output of `sandbox install --export`) into a sandbox cluster, then
# makes it follow a repository of the sandbox's git server: a GitRepository with its auth Secret and a
# Kustomization. The sandbox's own reconciler reconciles them (`sandbox get ks`).

provider "kubectl" {
  config_path      = var.kubeconfig_path
  load_config_file = true
}

data "kubectl_file_documents" "apis" {
  content = file(var.apis_manifest_path)
}

locals {
  # CRDs and the namespace first: the ServiceAccount and bindings live in (and refer to) them.
  api_documents = { for id, body in data.kubectl_file_documents.apis.manifests : id => yamldecode(body) }
  foundations = { for id, body in data.kubectl_file_documents.apis.manifests : id => body
  if contains(["CustomResourceDefinition", "Namespace"], local.api_documents[id].kind) }
  rbac = { for id, body in data.kubectl_file_documents.apis.manifests : id => body
  if !contains(["CustomResourceDefinition", "Namespace"], local.api_documents[id].kind) }
}

resource "kubectl_manifest" "foundations" {
  for_each          = local.foundations
  yaml_body         = each.value
  server_side_apply = true
  force_conflicts   = true # the sandbox applied the same objects at start (field manager sandbox-install)
  apply_only        = var.keep_apis_on_destroy
}

resource "kubectl_manifest" "rbac" {
  for_each          = local.rbac
  yaml_body         = each.value
  server_side_apply = true
  force_conflicts   = true
  apply_only        = var.keep_apis_on_destroy
  depends_on        = [kubectl_manifest.foundations]
}

resource "kubectl_manifest" "git_auth" {
  yaml_body = yamlencode({
    apiVersion = "v1"
    kind       = "Secret"
    metadata   = { name = "${var.name}-git-auth", namespace = var.namespace }
    type       = "Opaque"
    data       = { username = base64encode(var.git_username), password = base64encode(var.git_token) }
  })
  sensitive_fields = ["data"]
  depends_on       = [kubectl_manifest.foundations]
}

resource "kubectl_manifest" "git_repository" {
  yaml_body = yamlencode({
    apiVersion = "source.toolkit.fluxcd.io/v1"
    kind       = "GitRepository"
    metadata   = { name = var.name, namespace = var.namespace }
    spec = {
      url       = var.git_url
      ref       = { branch = var.branch }
      interval  = var.interval
      secretRef = { name = "${var.name}-git-auth" }
    }
  })
  depends_on = [kubectl_manifest.foundations, kubectl_manifest.git_auth]
}

resource "kubectl_manifest" "kustomization" {
  yaml_body = yamlencode({
    apiVersion = "kustomize.toolkit.fluxcd.io/v1"
    kind       = "Kustomization"
    metadata   = { name = var.name, namespace = var.namespace }
    spec = {
      interval  = var.interval
      path      = var.path
      prune     = true
      sourceRef = { kind = "GitRepository", name = var.name }
    }
  })
  # On destroy, wait until the reconciler has pruned what the Kustomization applied and removed its finalizer,
  # before the source and the APIs go.
  wait       = true
  depends_on = [kubectl_manifest.git_repository, kubectl_manifest.rbac]
}
