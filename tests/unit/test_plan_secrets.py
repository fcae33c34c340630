"""The secret detector: finds credentials by kind, never returns them, spares ordinary names."""

from __future__ import annotations

import pytest

from foundry_dr.redact import redact_text
from foundry_dr.secrets_scan import find_secrets, scan_tree

ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
JWT = "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJhdWQiOiJodHRwczovL21hbmFnZW1lbnQuYXp1cmUuY29tIn0.c2lnbmF0dXJl"


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        (ACCOUNT_KEY, "account key"),
        (f"key: {ACCOUNT_KEY}", "account key"),
        (
            f"DefaultEndpointsProtocol=https;AccountName=st;AccountKey={ACCOUNT_KEY}",
            "connection string with AccountKey",
        ),
        ("https://st.blob.core.windows.net/c/b?sv=2024-08-04&sr=b&sp=r&sig=AbCdEf0123456789%3D", "SAS token"),
        ("?sig=AbCdEf0123456789xyz", "SAS token"),
        ("Endpoint=sb://ns/;SharedAccessSignature=sr=abc", "shared access signature"),
        (JWT, "bearer token (JWT)"),
        ("Authorization: Bearer abcdefghijklmnopqrstuvwxyz0123456789", "bearer token"),
        ("client_secret=hunter2hunter2", "secret assignment"),
        ("abc8Q~abcdefghijklmnopqrstuvwxyz0123456", "client secret"),
        ("-----BEGIN RSA " + "PRIVATE KEY-----", "private key"),  # fake, built so repo scans stay quiet
        ("https://admin:pa55word@example.com/", "credentials in URL"),
    ],
)
def test_finds_each_kind(text: str, kind: str) -> None:
    kinds = find_secrets(text)
    assert kind in kinds
    assert all(text not in k for k in kinds)  # kinds only, never the value


@pytest.mark.parametrize(
    "text",
    [
        "hub-contoso-eastus",
        "00000000-0000-4000-8000-000000000001",
        "design=hot-warm",
        "https://stfdreastus.blob.core.windows.net/container/path/model.pkl",
        "stfdreastusdata",
        "foundry-dr-active-hub",
        "A" * 60,
        "the secret never goes in a plan",
    ],
)
def test_ordinary_text_is_not_a_secret(text: str) -> None:
    assert find_secrets(text) == []


def test_redact_masks_the_values() -> None:
    text = f"copy failed: AccountKey={ACCOUNT_KEY} token {JWT}"
    clean = redact_text(text)
    assert ACCOUNT_KEY not in clean and JWT not in clean and "copy failed" in clean
    assert "REDACTED" in clean and "***" not in clean  # one redactor, one mask


def test_scan_tree_reports_paths_and_keys() -> None:
    tree = {"a": [{"b": "ok"}, {"c": JWT}], "password": "x1y2z3w4", "token": None}
    found = scan_tree(tree)
    assert set(found) == {"a[1].c", "password"}
    assert found["password"] == ["credential field 'password'"]
