"""Functions with a few features, for the prediction log dashboard's tests."""


def approve(income: float, age: int, region: str) -> str:
    """Approve a loan: "yes" for an income of 50 or more, else "no"."""
    return "yes" if income >= 50 else "no"


def estimate(area: float, rooms: int) -> float:
    """Estimate a price from the area and the number of rooms."""
    return round(2.5 * area + 10.0 * rooms, 2)
