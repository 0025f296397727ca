"""ImageUpdateAutomation (image.toolkit.fluxcd.io/v1): write the images ImagePolicies chose into a Git repository
through setter markers, commit and push — as image-automation-controller does."""
