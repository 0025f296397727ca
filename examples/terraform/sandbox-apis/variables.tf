variable "kubeconfig_path" {
  description = "The sandbox's kubeconfig: `sandbox kubeconfig`."
  type        = string
}

variable "apis_manifest_path" {
  description = "The reconciler's CRDs, namespace and RBAC: `sandbox install --export > flux-apis.yaml`."
  type        = string
}

variable "git_url" {
  description = "The repository's clone URL as the cluster sees it: `sandbox repo url REPO --in-cluster`."
  type        = string
}

variable "git_username" {
  description = "User name for git over HTTP (the sandbox's git server accepts any)."
  type        = string
  default     = "sandbox"
}

variable "git_token" {
  description = "The git token: `sandbox repo token --show` (kept in a Secret, never printed)."
  type        = string
  sensitive   = true
}

variable "name" {
  description = "Name of the GitRepository, its auth Secret (NAME-git-auth) and the Kustomization."
  type        = string
  default     = "app"
}

variable "namespace" {
  description = "Namespace of the GitRepository and the Kustomization."
  type        = string
  default     = "flux-system"
}

variable "branch" {
  description = "Branch the GitRepository follows."
  type        = string
  default     = "main"
}

variable "path" {
  description = "Path in the repository the Kustomization applies."
  type        = string
  default     = "./"
}

variable "interval" {
  description = "How often the source is fetched and the Kustomization reconciled."
  type        = string
  default     = "1m"
}

variable "keep_apis_on_destroy" {
  description = "When true, `destroy` leaves the CRDs, namespace and RBAC in the cluster (it removes only the GitRepository, Secret and Kustomization)."
  type        = bool
  default     = false
}
