"""``petition bureau ui``: the bureau reviewer's local web desk (issue 21, docs/bureau-ui.md).

An edge like webui/ itself: imported by nobody, it may import webui.security and webui.i18n
(the petitioner UI's generic defences and languages), client/, crypto/ and cli_support/.
"""
