"""TeX formulas in markdown, rendered to embedded SVG with matplotlib's mathtext.

Jupyter renders ``$...$`` with MathJax from a CDN; a report must work offline and print with
WeasyPrint, which runs no JavaScript. matplotlib (already a dependency, and what analysts plot
with) typesets the common TeX subset: fractions, sums, roots, Greek, sub- and superscripts,
accents. Display formulas get display-size fractions (``\\frac`` as ``\\dfrac``), as TeX's
display style does; mathtext would otherwise set them at text size. The SVG goes into an
``<img>`` as a data URI, sized in ``em`` so it follows the text around it on screen and in print.
What mathtext cannot typeset (``align`` environments, macros) stays readable as its TeX
source in a ``<code>`` element instead of breaking the report.
"""

from __future__ import annotations

import base64
import functools
import html
import io
import re

_RENDER_SIZE = 20.0  # points; the image is scaled back to the surrounding text with em units
_INK = "#1d2530"
_LINE_BREAK = re.compile(r"\\\\")
_TEXT_FRAC = re.compile(r"\\frac(?![A-Za-z])")  # \frac, not \fracfoo; \dfrac and \tfrac stay


def _typeset(tex: str) -> tuple[str, float, float, float] | None:
    """SVG text, width, height and depth (points at ``_RENDER_SIZE``) of ``$tex$``, or None."""
    import matplotlib
    from matplotlib.backends.backend_svg import FigureCanvasSVG
    from matplotlib.figure import Figure
    from matplotlib.font_manager import FontProperties
    from matplotlib.mathtext import MathTextParser

    source = f"${tex}$"
    prop = FontProperties(size=_RENDER_SIZE)
    with matplotlib.rc_context({"mathtext.fontset": "cm", "svg.hashsalt": "autoflow-watch"}):
        try:
            width, height, depth, _, _ = MathTextParser("path").parse(source, dpi=72, prop=prop)
        except (ValueError, RuntimeError):
            return None
        figure = Figure(figsize=(width / 72.0, height / 72.0))
        FigureCanvasSVG(figure)
        figure.text(0, depth / height, source, fontproperties=prop, color=_INK)
        buffer = io.BytesIO()
        figure.savefig(buffer, format="svg", dpi=72, transparent=True, metadata={"Date": None})
    return buffer.getvalue().decode("utf-8"), width, height, depth


@functools.lru_cache(maxsize=512)
def math_html(tex: str, display: bool) -> str:
    """HTML for one formula: an embedded SVG image, or its readable TeX source."""
    tex = tex.strip()
    lines = [line.replace("&", " ").strip() for line in _LINE_BREAK.split(tex)] if display else [tex]
    images = []
    for line in lines:
        if not line:
            continue
        typeset = _typeset(_TEXT_FRAC.sub(r"\\dfrac", line) if display else line)
        if typeset is None:
            return _readable(tex, display)
        images.append(_image(line, *typeset, display=display))
    if not display:
        return "".join(images)
    return '<div class="math math-display">' + "<br>".join(images) + "</div>"


def _image(tex: str, svg: str, width: float, height: float, depth: float, *, display: bool) -> str:
    data = base64.b64encode(svg.encode("utf-8")).decode("ascii")
    style = f"width:{width / _RENDER_SIZE:.3f}em;height:{height / _RENDER_SIZE:.3f}em"
    if not display:
        style += f";vertical-align:-{depth / _RENDER_SIZE:.3f}em"
    kind = "math-display-line" if display else "math math-inline"
    return f'<img class="{kind}" alt="{html.escape(tex)}" style="{style}" src="data:image/svg+xml;base64,{data}">'


def _readable(tex: str, display: bool) -> str:
    if display:
        return f'<pre class="math math-tex">{html.escape(tex)}</pre>'
    return f'<code class="math math-tex">{html.escape(tex)}</code>'


_ENVIRONMENT = re.compile(r"\\begin\{(?P<name>[a-z]*\*?)\}(?P<body>.*?)\\end\{(?P=name)\}", re.DOTALL)
_DELIMITED = re.compile(r"^\s*(\$\$?)(?P<body>.*?)\1\s*$", re.DOTALL)


def latex_output_html(latex: str) -> str:
    """A ``text/latex`` output (``IPython.display.Math``, sympy): typeset like display math."""
    match = _DELIMITED.match(latex)
    if match:
        body = match.group("body").replace(r"\displaystyle", "")
        return math_html(body, display=True)
    environment = _ENVIRONMENT.search(latex)
    if environment:
        return math_html(environment.group("body"), display=True)
    return _readable(latex, display=True)
