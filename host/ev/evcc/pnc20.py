"""The car's side of ISO 15118-20 Plug & Charge Authorization: its contract chain and key
(ECDSA secp521r1 or Ed448), and the signed PnC_AReqAuthorizationMode it answers the SECC's
GenChallenge with. ``Iso20Evcc`` uses it when ``Iso20Config.pnc`` is set and the SECC offers
PnC."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.serialization import Encoding

from host.exi.schemas import iso20_common_messages as m
from host.pki import files
from host.pki.profiles import PrivateKey
from host.secc import certs, sig20

SIGNED_ID = "id1"  # the Id of our PnC_AReqAuthorizationMode


@dataclass
class EvPnc20:
    contract: certs.ContractChain
    key: PrivateKey

    def __post_init__(self) -> None:
        sig20.method_of(self.key)  # ValueError now rather than at the first signature

    def chain(self) -> m.ContractCertificateChainType:
        return m.ContractCertificateChainType(
            Certificate=self.contract.leaf.public_bytes(Encoding.DER),
            SubCertificates=m.SubCertificatesType(
                Certificate=[c.public_bytes(Encoding.DER) for c in self.contract.subs]))

    def authorization(self, challenge: bytes) -> tuple[m.PnC_AReqAuthorizationModeType, Any]:
        """PnC_AReqAuthorizationMode for ``challenge`` and the header Signature over it."""
        mode = m.PnC_AReqAuthorizationModeType(Id=SIGNED_ID, GenChallenge=challenge,
                                               ContractCertificateChain=self.chain())
        return mode, sig20.sign([(SIGNED_ID, mode)], self.key)


def ev20_from_folder(folder: Path) -> EvPnc20:
    """The EV's -20 contract from a `v2gate pki init --profile iso20|iso20-ed448` folder
    (contract_chain.pem, contract.key). PkiError names a missing file or a -2 key."""
    leaf, *subs = files.read_certs(folder / "contract_chain.pem")
    key = files.read_key(folder / "contract.key")
    try:
        return EvPnc20(certs.ContractChain(leaf, tuple(subs)), key)
    except ValueError as exc:
        raise files.PkiError(f"{folder / 'contract.key'}: {exc} (an iso20 folder)") from None
