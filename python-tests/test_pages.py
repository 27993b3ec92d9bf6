"""The node's pages for people, loaded by a real browser: headless Chromium
(Debian's package; `make test` installs it) loads each page from a node
served in this process on loopback; the test reads the DOM the browser
built, and writes screenshots under target/pages/."""
import os
import pathlib
import shutil
import subprocess
from html.parser import HTMLParser

import pytest

import cryptoemr
import cryptoemr.node as node

ROOT = pathlib.Path(__file__).resolve().parent.parent
SHOTS = ROOT / "target" / "pages"
MINER = "emrm1r3qty3tw2dq3ju5je8fp56vchpq7n99eyksm3p"
HOSTILE = '<script>document.title="owned"</script> & "Ibuprofen" \'200mg\''


def chromium():
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    assert found, "chromium is missing: `make test-python` installs Debian's chromium package"
    return found


def browser(*args, timeout=90):
    # --no-sandbox: CI runs as root, where Chromium's sandbox cannot start.
    command = [chromium(), "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
               "--disable-dev-shm-usage", *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def dom(url):
    return browser("--dump-dom", url)


def screenshot(url, name, size="1200,900"):
    SHOTS.mkdir(parents=True, exist_ok=True)
    target = SHOTS / f"{name}.png"
    browser(f"--screenshot={target}", f"--window-size={size}", "--hide-scrollbars", url)
    assert target.stat().st_size > 1000
    return target


class Dom(HTMLParser):
    """The elements' tags, the text under each id, and all the text."""

    def __init__(self, html):
        super().__init__()
        self.tags, self.by_id, self.text, self.roles = [], {}, [], []
        self._open = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append(tag)
        if "role" in attrs:
            self.roles.append(attrs["role"])
        if tag in ("meta", "input", "br", "link", "img"):
            return
        self._open.append(attrs.get("id"))

    def handle_endtag(self, tag):
        if self._open:
            self._open.pop()

    def handle_data(self, data):
        self.text.append(data)
        for element_id in self._open:
            if element_id:
                self.by_id[element_id] = self.by_id.get(element_id, "") + data

    @property
    def all_text(self):
        return "".join(self.text)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    path = tmp_path_factory.mktemp("pages") / "chain.db"
    doctor = cryptoemr.SigningKey.generate()
    patient_key = cryptoemr.SigningKey.generate("P-256")
    patient = cryptoemr.encode_address("patient", patient_key.public_key_hash)
    with cryptoemr.Chain(str(path), initial_difficulty=1) as chain:
        chain.pool.submit(cryptoemr.create_signed_record(doctor, patient, HOSTILE, 1))
        chain.mine_next(MINER)
        chain.pool.submit(cryptoemr.create_signed_record(doctor, patient, "Sertraline 50mg", 2, seal_to=[patient_key]))
        chain.mine_next(MINER)
        txids = [emr.txid.hex() for _, _, emr in chain.patient_history(patient)]
    with node.serve(str(path)) as served:
        yield served.url, patient, doctor.address, txids


def test_the_overview_shows_the_chains_state_and_latest_blocks(site):
    url, _, _, _ = site
    page = Dom(dom(url + "/"))
    assert page.by_id["height"].strip() == "2"
    assert len(page.by_id["tip"].strip()) == 64
    assert "0 records, 0 entries" in page.by_id["pending"]
    assert page.by_id["conflicts"].strip() == "0"
    assert "search" in page.roles
    assert "script" not in page.tags
    screenshot(url + "/", "overview")
    screenshot(url + "/", "overview-phone", size="390,844")


def test_a_patients_history_shows_texts_as_data_and_sealed_ones_as_sealed(site):
    url, patient, _, _ = site
    html = dom(f"{url}/patient?address={patient}")
    page = Dom(html)
    assert HOSTILE in page.all_text
    assert "script" not in page.tags, "a prescription became markup"
    assert "owned" not in html.split("<title>")[1].split("</title>")[0]
    assert "sealed: readable only by its recipients" in page.all_text
    assert "sealed1:" not in html
    screenshot(f"{url}/patient?address={patient}", "patient")


def test_a_mistyped_address_is_shown_with_where(site):
    url, patient, _, _ = site
    typo = patient[:20] + ("q" if patient[20] != "q" else "p") + patient[21:]
    page = Dom(dom(f"{url}/patient?address={typo}"))
    assert "alert" in page.roles
    assert "invalid_checksum" in page.by_id["address-error"] or "typo" in page.by_id["address-error"]
    assert "^" in page.all_text


def test_one_record_is_verified_and_placed_and_a_doctor_has_his_history(site):
    url, _, doctor, txids = site
    page = Dom(dom(f"{url}/record/{txids[0]}"))
    assert page.by_id["verified"] == "verified"
    assert HOSTILE in page.by_id["prescription"]
    sealed = Dom(dom(f"{url}/record/{txids[1]}"))
    assert "sealed" in sealed.by_id["prescription"]
    block = Dom(dom(f"{url}/block/1"))
    assert "Block 1" in block.all_text and txids[1][:16] in block.all_text
    doctor_page = Dom(dom(f"{url}/doctor?address={doctor}"))
    assert "2 records" in doctor_page.all_text
    missing = Dom(dom(f"{url}/record/{'0' * 64}"))
    assert "alert" in missing.roles
