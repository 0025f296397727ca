"""A kind node image assembled on this machine from parts it can get without pulling images: a Debian root
filesystem (debootstrap), kind's own base-image files, kubelet/kubeadm/kubectl and the control-plane images built from
Go modules, pre-imported into the node's containerd (``sandbox setup --kind-node-image``; docs/kind-node-image.md)."""
