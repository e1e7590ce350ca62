"""Controllers inside the apiserver process: they watch the store and write through the
registry, like kube-controller-manager and kube-scheduler do through the API."""
