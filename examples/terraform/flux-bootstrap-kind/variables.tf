variable "kubeconfig_path" {
  description = "The kind cluster's kubeconfig: `sandbox kubeconfig` of a `sandbox up --cluster kind` sandbox."
  type        = string
}

variable "git_url" {
  description = "The Gitea repository as the cluster sees it: `sandbox repo url REPO --in-cluster` (it must exist: `sandbox repo create REPO`)."
  type        = string
}

variable "git_username" {
  description = "Gitea user that pushes the Flux manifests: the user name of `sandbox repo token`."
  type        = string
  default     = "sandbox"
}

variable "git_token" {
  description = "Gitea token: `sandbox repo token --show`."
  type        = string
  sensitive   = true
}

variable "branch" {
  description = "Branch Flux commits its manifests to and syncs from."
  type        = string
  default     = "main"
}

variable "path" {
  description = "Directory of the repository for this cluster's manifests (flux-system/ goes under it)."
  type        = string
  default     = "clusters/sandbox"
}
