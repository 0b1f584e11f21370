"""What infra/ publishes: only loopback ports (the TLS proxy is in front), no MinIO console,
no default credentials, the MinIO root user kept from the app and MLflow, no secrets in
images. (compose and docker do not run here: these read the files they would read.)"""

import re

import yaml

from tests.support.services import ROOT

INFRA = ROOT / "infra"
COMPOSE = yaml.safe_load((INFRA / "compose.yaml").read_text())
SERVICES = COMPOSE["services"]
APP = ("web", "worker-cpu", "worker-gpu", "worker-train", "mlflow")


def test_every_published_port_listens_on_loopback_only():
    published = {name: s.get("ports", []) for name, s in SERVICES.items() if s.get("ports")}
    assert set(published) == {"web", "minio"}
    for ports in published.values():
        for port in ports:
            assert str(port).startswith("127.0.0.1:"), port
    assert all(not str(p).endswith(":9001") for p in published["minio"])  # the console


def test_no_service_runs_on_default_credentials():
    text = (INFRA / "compose.yaml").read_text()
    for name in ("POSTGRES_PASSWORD", "MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD"):
        uses = re.findall(r"\$\{" + name + r"(:?[-?=+])?[^}]*\}", text)
        assert uses, name
        assert set(uses) == {":?"}, f"{name} must be required (${{{name}:?...}}), not defaulted"


def test_the_minio_root_user_reaches_only_the_setup_job():
    assert SERVICES["minio-setup"]["env_file"] == ".env"
    for name in APP:
        env = SERVICES[name].get("environment", {})
        assert env.get("MINIO_ROOT_USER") == "" and env.get("MINIO_ROOT_PASSWORD") == "", name


def test_secrets_stay_out_of_images():
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".env", ".env.*", "**/.env", "**/.env.*", "*.key", "*.pem", "var"} <= set(ignored)
    dockerfile = (INFRA / "Dockerfile").read_text()
    assert not re.search(r"^\s*(ARG|ENV)\s+\S*(SECRET|PASSWORD|KEY)", dockerfile, re.I | re.M)
