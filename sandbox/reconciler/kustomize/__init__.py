"""The pure logic of the Kustomization pipeline, in the order the controller runs it.

``build.prepare`` copies the source and writes the kustomization file, ``build.build_manifests`` runs
kustomize, ``substitute.substitute`` applies ``postBuild``, ``common_metadata.apply_common_metadata`` and
``inventory.set_owner_labels`` finish the objects, ``staging.stages`` orders them for server-side apply,
``changeset`` models the result, ``inventory`` decides what to prune, and ``health`` reads kstatus.
``pipeline.render`` strings the first steps together.
"""
