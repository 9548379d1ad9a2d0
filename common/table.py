"""Plain-text and Markdown tables for reports a person reads in a terminal or a file."""


def format_table(headers, rows, markdown=False, align=None):
    """Columns padded to their widest cell; numbers right-aligned unless ``align`` says otherwise.

    ``align`` is a string of ``l``/``r`` per column. With ``markdown`` the result is a GitHub
    table.
    """
    cells = [[str(h) for h in headers]] + [["" if v is None else str(v) for v in r] for r in rows]
    if align is None:
        align = "".join("r" if rows and all(isinstance(r[i], (int, float)) for r in rows) else "l"
                        for i in range(len(headers)))
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def line(row):
        parts = [c.rjust(w) if a == "r" else c.ljust(w) for c, w, a in zip(row, widths, align)]
        return ("| " + " | ".join(parts) + " |") if markdown else "  ".join(parts).rstrip()

    rule = (["|" + "|".join(("-" * (w + 1) + ":") if a == "r" else ("-" * (w + 2))
                            for w, a in zip(widths, align)) + "|"] if markdown
            else ["  ".join("-" * w for w in widths)])
    return "\n".join([line(cells[0])] + rule + [line(r) for r in cells[1:]])
