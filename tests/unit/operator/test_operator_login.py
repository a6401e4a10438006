"""The in-cluster API server address: KUBERNETES_SERVICE_HOST/PORT, as client-go reads them."""
from star_operator.kubelogin import in_cluster_server


def test_service_env_names_the_server() -> None:
    assert in_cluster_server({"KUBERNETES_SERVICE_HOST": "10.0.0.1",
                              "KUBERNETES_SERVICE_PORT": "443"}) == "https://10.0.0.1:443"
    assert in_cluster_server({"KUBERNETES_SERVICE_HOST": "127.0.0.1",
                              "KUBERNETES_SERVICE_PORT": "6443"}) == "https://127.0.0.1:6443"


def test_ipv6_host_is_bracketed_and_port_defaults() -> None:
    assert in_cluster_server({"KUBERNETES_SERVICE_HOST": "fd00::1"}) == "https://[fd00::1]:443"


def test_without_the_env_the_service_name() -> None:
    assert in_cluster_server({}) == "https://kubernetes.default.svc"
