output "repository_files" {
  description = "The files the provider committed to the repository (and removes on destroy)."
  value       = sort(keys(flux_bootstrap_git.this.repository_files))
}
