"""Recordings on an S3-compatible store (django-storages + boto3), against moto's S3 server on 127.0.0.1:
chunks shipped, the replay joined and encoded, served by redirect to a presigned URL that answers Range,
and deleted from the bucket when the host deletes the recording."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest
import requests
from django.test import Client

from recordings.models import Recording
from tests.recordings.audio_checks import decode, tone_amplitude
from tests.recordings.factory import recorded_space, recording_of
from tests.servers import free_port

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
BUCKET = "spaces-recordings"
KEYS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "region_name": "us-east-1"}


@pytest.fixture
def s3_server(tmp_path):
    executable = shutil.which("moto_server", path=str(Path(sys.executable).parent)) or shutil.which("moto_server")
    if executable is None:
        pytest.skip("moto_server is not installed (pip install 'moto[server]')")
    port = free_port()
    log = open(tmp_path / "moto.log", "wb")  # noqa: SIM115
    process = subprocess.Popen([executable, "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=subprocess.STDOUT)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                requests.get(endpoint, timeout=0.5)
                break
            except requests.ConnectionError:
                assert process.poll() is None and time.monotonic() < deadline, (tmp_path / "moto.log").read_text()
                time.sleep(0.2)
        yield endpoint
    finally:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
        log.close()


@pytest.fixture
def s3_storage(settings, s3_server):
    boto3.client("s3", endpoint_url=s3_server, **KEYS).create_bucket(Bucket=BUCKET)
    settings.STORAGES = {
        **settings.STORAGES,
        "recordings": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": BUCKET,
                "endpoint_url": s3_server,
                "access_key": "testing",
                "secret_key": "testing",
                "region_name": "us-east-1",
                "default_acl": None,
                "querystring_auth": True,
                "querystring_expire": 600,
                "file_overwrite": True,
            },  # fmt: skip
        },
    }
    return boto3.client("s3", endpoint_url=s3_server, **KEYS)


def keys(s3) -> set[str]:
    return {item["Key"] for item in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])}


def test_a_recording_lives_in_the_bucket_and_is_served_from_it(s3_storage, alice, tmp_path):
    recording = recording_of(recorded_space(alice, tmp_path / "spool", seconds=3.0))
    assert recording.state == Recording.State.READY
    assert keys(s3_storage) == {recording.audio, recording.m4a}  # the segment's chunks were joined, then deleted

    redirect = Client().get(f"/spaces/{recording.space_id}/replay/audio.ogg")
    assert redirect.status_code == 302
    presigned = redirect["Location"]
    assert presigned.startswith(s3_storage.meta.endpoint_url) and "Signature" in presigned
    part = requests.get(presigned, headers={"Range": "bytes=0-99"}, timeout=5)
    assert part.status_code == 206 and len(part.content) == 100 and part.content.startswith(b"OggS")
    whole = requests.get(presigned, timeout=5)
    pcm, _ = decode(whole.content)
    assert abs(len(pcm) / 48000 - recording.duration) < 0.05
    assert tone_amplitude(pcm[24000:96000], 440.0) > 3000

    host = Client()
    host.force_login(alice)
    host.post(f"/spaces/{recording.space_id}/replay/delete/")
    assert keys(s3_storage) == set()
