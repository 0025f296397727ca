"""The pure logic of the Kustomization pipeline, in the order the controller runs it.

``workspace.prepare`` copies the source, resolves ``spec.path`` and writes the kustomization file (``generate``
lists the manifests of a path without one, ``build_settings`` adds the Kustomization's settings, ``references``
refuses paths that leave the source); ``build.build_manifests`` runs kustomize (``chunks`` for long plain lists,
``kustomize_errors`` explains its failures), ``substitute.substitute`` applies ``postBuild``,
``common_metadata.apply_common_metadata`` and ``inventory.set_owner_labels`` finish the objects,
``staging.stages`` orders them for server-side apply, ``changeset`` models the result, ``inventory`` decides what
to prune, and ``health`` reads kstatus. ``pipeline.render`` strings the first steps together.
"""
