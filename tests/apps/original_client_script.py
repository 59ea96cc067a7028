"""Drive a firefly server with the ORIGINAL client, firefly-python 0.1.15.

Run by tests/e2e/test_original_client.py with the python of a venv that holds
firefly-python 0.1.15 from PyPI (and not this project's firefly):

    python -I original_client_script.py URL TOKEN SCRATCH_DIR

It prints one JSON object to stdout: for each call, ``{"value": ...}`` or
``{"raised": "module.Class", "message": ...}``.
"""

import json
import os
import sys

import requests

import firefly
from firefly.client import Client


def outcome(call):
    try:
        value = call()
    except Exception as error:
        kind = type(error)
        return {"raised": f"{kind.__module__}.{kind.__qualname__}", "message": str(error)}
    return {"value": value}


def main(url, token, scratch):
    client = Client(url, auth_token=token)
    square_path = client._get_metadata()["functions"]["square"]["path"]

    upload = os.path.join(scratch, "words.txt")
    with open(upload, "w") as file:
        file.write("the quick brown fox jumps\nover the lazy dog\n")

    def word_count():
        with open(upload, "rb") as file:
            return client.word_count(file=file)

    def download():
        raw = client.repeat(text="ab", times=3)
        return {"type": type(raw).__name__, "data": raw.read().decode()}

    def malformed_body():
        # The old client always sends valid JSON or multipart, so it cannot make a 400
        # by itself: send a malformed body and let its handle_response read the answer.
        response = requests.post(
            url.rstrip("/") + square_path,
            data="{not json",
            headers=client.prepare_headers(),
            timeout=10,
        )
        return client.handle_response(response)

    wrong_token = Client(url, auth_token="wrong")
    no_token = Client(url)
    results = {
        "firefly": {"version": firefly.__version__, "file": firefly.__file__},
        "square_path": square_path,
        "square": outcome(lambda: client.square(n=4)),
        "cube": outcome(lambda: client.cube(n=4)),
        "square_doc": outcome(lambda: client.square.__doc__),
        "word_count": outcome(word_count),
        "download": outcome(download),
        "bad_request": outcome(malformed_body),
        "wrong_token": outcome(lambda: wrong_token.square(n=4)),
        "wrong_token_request": outcome(lambda: wrong_token.request(square_path, n=4)),
        "no_token": outcome(lambda: no_token.square(n=4)),
        "no_token_request": outcome(lambda: no_token.request(square_path, n=4)),
        "not_found": outcome(lambda: client.nosuch(x=1)),
        "missing_argument": outcome(lambda: client.square()),
        "unexpected_argument": outcome(lambda: client.square(n=4, m=5)),
        "remote_error": outcome(lambda: client.fail()),
    }
    json.dump(results, sys.stdout, indent=1)


if __name__ == "__main__":
    main(*sys.argv[1:4])
