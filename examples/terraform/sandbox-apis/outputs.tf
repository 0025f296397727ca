output "crds" {
  description = "The CustomResourceDefinitions applied."
  value       = sort([for id, doc in local.api_documents : doc.metadata.name if doc.kind == "CustomResourceDefinition"])
}

output "kustomization" {
  description = "NAMESPACE/NAME of the Kustomization (`sandbox get ks`)."
  value       = "${var.namespace}/${var.name}"
}
