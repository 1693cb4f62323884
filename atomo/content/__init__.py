"""Rich content: Blocks fields (validation, normalisation) and their Markdown/HTML renderers."""

from atomo.content.render import (
    BlockRenderers,
    register_block_renderer,
    render_html,
    render_markdown,
)

__all__ = ["BlockRenderers", "register_block_renderer", "render_html", "render_markdown"]
