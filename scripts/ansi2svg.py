#!/usr/bin/env python3
"""Turns a terminal capture with colours (`tmux capture-pane -e -p`) into an
SVG: one cell per character on a fixed grid, SGR colours and attributes
(256-colour, truecolor, bold, dim, reverse) kept. Used by
scripts/screenshots; reads the capture on stdin, writes the SVG to stdout.

    ansi2svg.py COLS ROWS [TITLE] < capture.ansi > shot.svg
"""

import html
import re
import sys

CELL_W, CELL_H, FONT = 8.4, 17.0, 14
PAD = 12
BAR = 26  # the window bar above the terminal
# xterm's 16 colours, then the 6x6x6 cube and the grey ramp.
BASE16 = [
    "#000000", "#cd3131", "#0dbc79", "#e5e510", "#2472c8", "#bc3fbc", "#11a8cd", "#e5e5e5",
    "#666666", "#f14c4c", "#23d18b", "#f5f543", "#3b8eea", "#d670d6", "#29b8db", "#ffffff",
]
# The terminal's own colours: the default theme paints the background with
# colour 0, so the default background is drawn the same.
DEFAULT_FG, DEFAULT_BG = "#e5e5e5", "#000000"


def xterm256(n):
    if n < 16:
        return BASE16[n]
    if n < 232:
        n -= 16
        steps = [0, 95, 135, 175, 215, 255]
        return "#%02x%02x%02x" % (steps[n // 36], steps[(n // 6) % 6], steps[n % 6])
    v = 8 + (n - 232) * 10
    return "#%02x%02x%02x" % (v, v, v)


class Pen:
    def __init__(self):
        self.reset()

    def reset(self):
        self.fg = None
        self.bg = None
        self.bold = self.dim = self.reverse = self.italic = self.underline = False

    def key(self):
        return (self.fg, self.bg, self.bold, self.dim, self.reverse, self.italic, self.underline)

    def sgr(self, params):
        ps = [int(p) if p else 0 for p in params.split(";")] if params else [0]
        i = 0
        while i < len(ps):
            p = ps[i]
            if p == 0:
                self.reset()
            elif p == 1:
                self.bold = True
            elif p == 2:
                self.dim = True
            elif p == 3:
                self.italic = True
            elif p == 4:
                self.underline = True
            elif p == 7:
                self.reverse = True
            elif p == 22:
                self.bold = self.dim = False
            elif p == 23:
                self.italic = False
            elif p == 24:
                self.underline = False
            elif p == 27:
                self.reverse = False
            elif 30 <= p <= 37:
                self.fg = BASE16[p - 30]
            elif 90 <= p <= 97:
                self.fg = BASE16[p - 90 + 8]
            elif 40 <= p <= 47:
                self.bg = BASE16[p - 40]
            elif 100 <= p <= 107:
                self.bg = BASE16[p - 100 + 8]
            elif p == 39:
                self.fg = None
            elif p == 49:
                self.bg = None
            elif p in (38, 48) and i + 1 < len(ps):
                if ps[i + 1] == 5 and i + 2 < len(ps):
                    colour = xterm256(ps[i + 2])
                    i += 2
                elif ps[i + 1] == 2 and i + 4 < len(ps):
                    colour = "#%02x%02x%02x" % tuple(ps[i + 2:i + 5])
                    i += 4
                else:
                    colour = None
                if p == 38:
                    self.fg = colour
                else:
                    self.bg = colour
            i += 1


CSI = re.compile(r"\x1b\[([0-9;]*)([A-Za-z])")


def cells(line):
    """(char, pen key) for each cell of one captured line."""
    pen, out, at = Pen(), [], 0
    for m in CSI.finditer(line):
        out.extend((ch, pen.key()) for ch in line[at:m.start()])
        if m.group(2) == "m":
            pen.sgr(m.group(1))
        at = m.end()
    out.extend((ch, pen.key()) for ch in line[at:])
    return out


def colours(key):
    fg, bg, bold, dim, reverse, _, _ = key
    fg, bg = fg or DEFAULT_FG, bg or DEFAULT_BG
    if reverse:
        fg, bg = bg, fg
    return fg, bg


def main():
    cols, rows = int(sys.argv[1]), int(sys.argv[2])
    title = sys.argv[3] if len(sys.argv) > 3 else "berth"
    lines = sys.stdin.read().split("\n")[:rows]
    width = cols * CELL_W + 2 * PAD
    height = rows * CELL_H + 2 * PAD + BAR
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}">',
        f'<rect width="100%" height="100%" rx="8" fill="{DEFAULT_BG}" stroke="#444" stroke-width="1"/>',
        f'<rect width="100%" height="{BAR}" rx="8" fill="#2d2d2d"/>',
        '<circle cx="18" cy="13" r="5" fill="#ff5f56"/><circle cx="34" cy="13" r="5" fill="#ffbd2e"/>'
        '<circle cx="50" cy="13" r="5" fill="#27c93f"/>',
        f'<text x="{width / 2:.0f}" y="17" fill="#9a9a9a" font-family="DejaVu Sans Mono, monospace" '
        f'font-size="12" text-anchor="middle">{html.escape(title)}</text>',
        f'<g font-family="DejaVu Sans Mono, monospace" font-size="{FONT}" xml:space="preserve">',
    ]
    for y, line in enumerate(lines):
        row = cells(line)
        top = BAR + PAD + y * CELL_H
        # Backgrounds first, in runs of one colour.
        x = 0
        while x < len(row):
            _, bg = colours(row[x][1])
            end = x
            while end < len(row) and colours(row[end][1])[1] == bg:
                end += 1
            if bg != DEFAULT_BG:
                out.append(
                    f'<rect x="{PAD + x * CELL_W:.1f}" y="{top:.1f}" width="{(end - x) * CELL_W + 0.5:.1f}" '
                    f'height="{CELL_H + 0.5:.1f}" fill="{bg}"/>'
                )
            x = end
        # Then text, in runs of one style; each run pinned to its cells.
        x = 0
        while x < len(row):
            key = row[x][1]
            end = x
            while end < len(row) and row[end][1] == key:
                end += 1
            text = "".join(ch for ch, _ in row[x:end])
            if text.strip():
                fg, _ = colours(key)
                attrs = ""
                if key[2]:
                    attrs += ' font-weight="bold"'
                if key[3]:
                    attrs += ' opacity="0.6"'
                if key[5]:
                    attrs += ' font-style="italic"'
                if key[6]:
                    attrs += ' text-decoration="underline"'
                out.append(
                    f'<text x="{PAD + x * CELL_W:.1f}" y="{top + CELL_H - 4:.1f}" fill="{fg}"{attrs} '
                    f'textLength="{(end - x) * CELL_W:.1f}" lengthAdjust="spacingAndGlyphs">'
                    f"{html.escape(text)}</text>"
                )
            x = end
    out.append("</g></svg>")
    print("\n".join(out))


if __name__ == "__main__":
    main()
