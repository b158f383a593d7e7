"""Max |loaded model - numpy reference| per generation x layer x variant,
recorded by the loaded-model tests and printed as a table at the end of a run."""

RECORDED: dict[str, float] = {}


def record(label: str, err: float) -> None:
    """Keep the largest error seen under ``label`` ('generation | layer | variant')."""
    RECORDED[label] = max(err, RECORDED.get(label, 0.0))


def table(errors: dict[str, float] | None = None) -> list[str]:
    """``errors`` (the recorded ones by default) as aligned text lines, sorted by label."""
    errors = RECORDED if errors is None else errors
    rows = [label.split(" | ") + [f"{err:.2e}"] for label, err in sorted(errors.items())]
    head = ["generation", "layer", "variant", "max |model - reference|"]
    widths = [max(len(r[k]) for r in [head, *rows]) for k in range(4)]
    fmt = lambda r: "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip()  # noqa: E731
    return [fmt(head), fmt(["-" * w for w in widths]), *map(fmt, rows)]
