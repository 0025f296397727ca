terraform {
  required_version = ">= 1.6.0"

  required_providers {
    # Needs the registry (internet): this provider is not published as a Go module the sandbox could build.
    flux = {
      source  = "fluxcd/flux"
      version = "~> 1.8"
    }
  }
}
