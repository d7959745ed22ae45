"""The service's memory stays bounded whatever the clients send (issue 19): metrics are
labelled by path template and a known method, never by what a client made up, and large
jobs give their memory back once answered."""

import io

from api import observability
from geo.store import memory


def _label_sets() -> set[tuple]:
    return {tuple(sorted(s.labels.items()))
            for metric in observability.REQUESTS.collect() for s in metric.samples}


def test_metrics_labels_do_not_grow_with_made_up_methods_or_paths(client):
    client.get("/api/health")
    client.open("/api/health", method="BREW")
    before = _label_sets()
    for i in range(30):
        client.open(f"/api/no/such/path/{i}", method=f"X{i}BREW")
        client.get(f"/api/children/{i}?q=张{i}")
        client.open(f"/api/health/{i}", method=f"PROPFIND{i}")
    labels = _label_sets() - before
    assert len(labels) <= 3, sorted(labels)
    values = {v for labels_ in _label_sets() for _, v in labels_}
    assert not any("BREW" in v or "PROPFIND" in v or "/no/such" in v for v in values)
    assert ("endpoint", "/api/children/<int:child_id>") in {
        x for labels_ in _label_sets() for x in labels_}


def test_import_and_export_give_memory_back_after_answering(as_role, monkeypatch):
    monkeypatch.setattr(memory, "_state", {**memory._state, "trim": True})
    before = memory._state["releases"]
    csv = "台账编号,地址,经度,纬度\nMEM-1,仁和镇测试地址1号,,\n".encode("utf-8-sig")
    resp = as_role("admin", "POST", "/api/imports", content_type="multipart/form-data",
                   data={"kind": "households", "dry_run": "true",
                         "file": (io.BytesIO(csv), "mem.csv")})
    assert resp.status_code == 200, resp.get_json()
    resp.close()
    assert memory._state["releases"] == before + 1
    resp = as_role("admin", "GET", "/api/exports/ledger?kind=facilities")
    assert resp.status_code == 200
    resp.close()
    assert memory._state["releases"] == before + 2
    resp = as_role("admin", "GET", "/api/health")
    resp.close()
    assert memory._state["releases"] == before + 2       # small requests do not trim
