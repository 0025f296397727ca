terraform {
  required_version = ">= 1.6.0"

  required_providers {
    # Built from its Go module by `sandbox setup --terraform` (a filesystem mirror), or from the registry online.
    kubectl = {
      source  = "gavinbunney/kubectl"
      version = "= 1.19.0"
    }
  }
}
