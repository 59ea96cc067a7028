"""An app built in Python with firefly.Firefly, served as ``gunicorn app_module:app``."""

from firefly import Firefly

app = Firefly(auth_token="abcd1234")


@app.function
def square(n):
    """Return the square of a number."""
    return n**2


@app.function(name="triple", path="/math/triple")
def times_three(n):
    return 3 * n


def cube(n):
    return n**3


app.add_route("/cube", cube, "cube")


@app.get("/hello")
def hello():
    return {"hello": "world"}


@app.function
def fail(n):
    """Raise, so that the traceback shows in the server's log."""
    raise ValueError(f"cannot take {n}")
