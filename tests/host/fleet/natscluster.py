"""A NATS cluster (Debian's `nats-server`) with JetStream and its MQTT listener over TLS,
one node per network namespace, for the clustered fleet test.

The namespaces hang off one bridge in the test's own namespace, which holds the bridge's
address: the chargers and fog processes run there and reach every node by its address,
the nodes reach each other across the bridge. `kill(i)` is SIGKILL of one node's process.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from host.fleet.mqtt import Broker
from tests.host.fleet.broker import FogProcess
from tests.host.ocpp.pki import make_pki

MQTT_PORT = 8883


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)  # noqa: S607


def _server_cert(pki: dict[str, Path], folder: Path, addresses: list[str]) -> tuple[Path, Path]:
    """A server certificate from the test root for every node's address."""
    root_key = serialization.load_pem_private_key(pki["root_key"].read_bytes(), None)
    root = x509.load_pem_x509_certificate(pki["root"].read_bytes())
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    sans = [x509.IPAddress(ipaddress.ip_address(a)) for a in addresses]
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "nats")]))
            .issuer_name(root.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .sign(root_key, hashes.SHA256()))  # type: ignore[arg-type]  # fmt: skip
    cert_path, key_path = folder / "nats.pem", folder / "nats.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))  # fmt: skip
    key_path.chmod(0o600)
    return cert_path, key_path


class NatsCluster:
    def __init__(self, program: str, folder: Path, nodes: int = 3) -> None:
        self.program, self.folder, self.count = program, folder, nodes
        uniq = os.getpid() % 10000
        self.subnet = f"10.216.{os.getpid() % 250}"
        self.bridge = f"v2gbr{uniq}"
        self.ns = [f"v2g-nats-{uniq}-{i}" for i in range(nodes)]
        self.addr = [f"{self.subnet}.{i + 1}" for i in range(nodes)]
        self.procs: list[subprocess.Popen[bytes] | None] = [None] * nodes
        folder.mkdir(parents=True, exist_ok=True)
        self.pki = make_pki(folder)
        self.cert, self.key = _server_cert(self.pki, folder, self.addr)
        # JetStream's files in memory (tmpfs): they outlive a killed node like files on
        # disk do, without a loaded CI disk's fsync stalls timing out RAFT requests
        shm = Path("/dev/shm")
        self.store = (shm if shm.is_dir() else folder) / f"v2g-nats-{uniq}-{id(self)}"

    # --- the network ---------------------------------------------------------------
    def create(self) -> None:
        self._up = True
        _ip("link", "add", self.bridge, "type", "bridge")
        _ip("addr", "add", f"{self.subnet}.254/24", "dev", self.bridge)
        _ip("link", "set", self.bridge, "up")
        for i, ns in enumerate(self.ns):
            host_end, ns_end = f"{self.bridge}h{i}", f"{self.bridge}n{i}"
            _ip("netns", "add", ns)
            _ip("link", "add", host_end, "type", "veth", "peer", "name", ns_end, "netns", ns)
            _ip("link", "set", host_end, "master", self.bridge, "up")
            _ip("-n", ns, "addr", "add", f"{self.addr[i]}/24", "dev", ns_end)
            _ip("-n", ns, "link", "set", ns_end, "up")
            _ip("-n", ns, "link", "set", "lo", "up")

    def destroy(self) -> None:
        for i in range(self.count):
            self.kill(i)
        for ns in self.ns:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)  # noqa: S607
        subprocess.run(["ip", "link", "del", self.bridge], capture_output=True)  # noqa: S607
        shutil.rmtree(self.store, ignore_errors=True)

    # --- the nodes -----------------------------------------------------------------
    def conf(self, i: int) -> Path:
        routes = ", ".join(f"nats-route://{a}:6222" for j, a in enumerate(self.addr) if j != i)
        store = self.store / f"n{i}"
        store.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"n{i}.conf"
        path.write_text(
            f"server_name: n{i}\nlisten: {self.addr[i]}:4222\n"
            f"jetstream {{ store_dir: \"{store}\" }}\n"
            f"cluster {{ name: v2g, listen: \"{self.addr[i]}:6222\", routes: [{routes}] }}\n"
            f"mqtt {{\n  listen: \"{self.addr[i]}:{MQTT_PORT}\"\n"
            f"  tls {{ cert_file: \"{self.cert}\", key_file: \"{self.key}\" }}\n"
            # a QoS 1 message unacknowledged this long is sent again (the at-least-once
            # window seen from the fog); sessions and their messages replicated to every node
            "  ack_wait: \"5s\"\n  max_ack_pending: 1000\n"
            f"  stream_replicas: {min(self.count, 3)}\n  consumer_memory_storage: true\n"
            "}\n"
        )  # fmt: skip
        return path

    def start(self, i: int) -> None:
        log = open(self.folder / f"n{i}.log", "ab")  # noqa: SIM115 (the child holds it)
        self.procs[i] = subprocess.Popen(
            ["ip", "netns", "exec", self.ns[i], self.program, "-c", str(self.conf(i))],  # noqa: S607
            stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
        log.close()

    def start_all(self, timeout: float = 60.0) -> None:
        for i in range(self.count):
            self.start(i)
        for i in range(self.count):
            self.wait_listening(i, timeout)

    def wait_listening(self, i: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            proc = self.procs[i]
            if proc is None or proc.poll() is not None:
                raise RuntimeError(f"nats node {i} exited: {self.log(i)[-800:]}")
            try:
                socket.create_connection((self.addr[i], MQTT_PORT), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"nats node {i} did not listen: {self.log(i)[-800:]}")

    def log(self, i: int) -> str:
        path = self.folder / f"n{i}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def kill(self, i: int) -> None:
        proc = self.procs[i]
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
        self.procs[i] = None

    def broker(self, first: int = 0) -> Broker:
        """Every node, starting with `first`: the client rotates through them."""
        order = [self.addr[(first + k) % self.count] for k in range(self.count)]
        return Broker(order[0], MQTT_PORT, cafile=self.pki["root"],
                      endpoints=tuple((a, MQTT_PORT) for a in order[1:]))  # fmt: skip

    def broker_arg(self, first: int = 0) -> str:
        return ",".join(f"{self.addr[(first + k) % self.count]}:{MQTT_PORT}"
                        for k in range(self.count))  # fmt: skip


class ClusterFog(FogProcess):
    """`v2gate fog` against every node of the cluster, in hot standby (`--no-share`)."""

    def __init__(self, cluster: NatsCluster, fog_id: str, first: int = 0) -> None:
        super().__init__(None, fog_id, command=[
            "--broker", cluster.broker_arg(first), "--cafile", str(cluster.pki["root"]),
            "--fog-id", fog_id, "--group", "fog", "--no-share", "--report", "1", "--period", "1"])
