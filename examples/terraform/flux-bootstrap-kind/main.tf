# Bootstraps upstream Flux into a kind cluster against the sandbox's Gitea, as `flux bootstrap git` does: commits
# the Flux manifests under var.path, installs the controllers from their images and makes Flux sync itself.
# Needs what a kind sandbox on a machine with internet has: the controllers' images are pulled from their registry.

provider "flux" {
  kubernetes = {
    config_path = var.kubeconfig_path
  }
  git = {
    url    = var.git_url
    branch = var.branch
    http = {
      username            = var.git_username
      password            = var.git_token
      allow_insecure_http = true # the sandbox's Gitea serves plain HTTP on the kind network
    }
  }
}

resource "flux_bootstrap_git" "this" {
  path               = var.path
  embedded_manifests = true # the manifests of the Flux release built into the provider: no download of them
}
