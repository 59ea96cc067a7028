"""A Firefly app with a feature that notes its start and stop hooks in a file (FEATURE_NOTES)."""

import os

from firefly import Firefly
from firefly.features import Feature, Service


class Notes(Feature):
    """Appends ``start <pid>`` and ``stop <pid>`` to the file FEATURE_NOTES names."""

    def note(self, event: str) -> None:
        with open(os.environ["FEATURE_NOTES"], "a") as notes:
            notes.write(f"{event} {os.getpid()}\n")

    def start(self, service: Service) -> None:
        self.note("start")

    def stop(self) -> None:
        self.note("stop")


app = Firefly()
app.add_feature(Notes())


@app.function
def square(n):
    return n**2
