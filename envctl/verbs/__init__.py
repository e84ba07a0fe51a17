"""The verbs: one function per command, shared by the CLI and the MCP server.

A verb takes options (plain values or a small frozen dataclass) and returns a value (a view
model or a result); its option rules live here, once. Faces (``envctl/cli.py``, ``envctl/ui/``)
only translate arguments in and print or answer out, and reach the engine only through a verb.
"""
