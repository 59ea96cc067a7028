"""Log lines carry the id of the request they were written for."""

import logging

from firefly import Firefly
from firefly.logs import RequestIdFilter, current_request_id


def test_log_lines_written_during_a_request_carry_its_id(caplog):
    app = Firefly(access_log=None, metrics=False)
    logger = logging.getLogger("tests.model")

    @app.function
    def predict(x):
        logger.warning("predicting %s", x)
        return x

    @app.function
    def fail():
        raise ValueError("bad")

    caplog.handler.addFilter(RequestIdFilter())
    client = app.test_client()
    client.post("/predict", json={"x": 1}, headers={"X-Request-ID": "req-1"})
    client.post("/fail", headers={"X-Request-ID": "req-2"})
    logger.warning("outside")
    by_message = {record.getMessage(): record.request_id for record in caplog.records}
    assert by_message["predicting 1"] == "req-1"
    assert by_message["function 'fail' failed (request id req-2)"] == "req-2"
    assert by_message["outside"] == "-"
    assert current_request_id.get() == "-"
